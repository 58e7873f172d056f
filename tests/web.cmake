# The victims' web page (service/web): the JavaScript hashers' conformance
# with the C core (Node), the page served by sitrd (cmocka e2e), and the
# page driven by a real Chromium against a real sitrd (playwright-core).
find_program(SITR_NODE node)
if(SITR_NODE)
  add_test(NAME web_pdq COMMAND ${SITR_NODE} ${CMAKE_SOURCE_DIR}/tests/web/pdq_conformance.mjs
    ${SITR_SHARED_DIR})
  set_tests_properties(web_pdq PROPERTIES LABELS "unit;conformance" TIMEOUT 120)
endif()
