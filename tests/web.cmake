# The victims' web page (service/web): the JavaScript hashers' conformance
# with the C core (Node), the page served by sitrd (cmocka e2e), and the
# page driven by a real Chromium against a real sitrd (playwright-core).
find_program(SITR_NODE node)
if(SITR_NODE)
  add_test(NAME web_pdq COMMAND ${SITR_NODE} ${CMAKE_SOURCE_DIR}/tests/web/pdq_conformance.mjs
    ${SITR_SHARED_DIR})
  set_tests_properties(web_pdq PROPERTIES LABELS "unit;conformance" TIMEOUT 120)
endif()

# sitrd serving the page: bytes, types, headers, 304, no traversal, read once.
if(TARGET sitrd AND TARGET sitr-admin)
  sitr_add_test(web_e2e LABELS e2e integration FIXTURES pg
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/e2e_util.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
    ${CMAKE_CURRENT_SOURCE_DIR}/e2e_world.c
    LIBS sitrcommon PkgConfig::PQ)
  target_include_directories(test_web_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  add_dependencies(test_web_e2e sitrd sitr-admin)
  set_tests_properties(web_e2e PROPERTIES TIMEOUT 300)
endif()

# The page in Debian's Chromium against a real sitrd (playwright-core from
# tests/web/node_modules: `npm ci --prefix tests/web`; chromium from apt).
if(SITR_NODE AND TARGET sitrd AND TARGET sitr-admin AND TARGET sitr)
  add_test(NAME web_browser COMMAND ${SITR_NODE} ${CMAKE_SOURCE_DIR}/tests/web/browser_test.mjs
    ${CMAKE_BINARY_DIR} ${SITR_SHARED_DIR})
  set_tests_properties(web_browser PROPERTIES LABELS "browser;e2e" FIXTURES_REQUIRED pg
    TIMEOUT 300)
endif()

# The page's video pieces in Node: incremental digests, frame selection and
# time, the SSSE3 YUV->RGB formula, the MP4 reader on sample and hostile files.
if(SITR_NODE)
  add_test(NAME web_video_unit COMMAND ${SITR_NODE} ${CMAKE_SOURCE_DIR}/tests/web/video_units.mjs)
  set_tests_properties(web_video_unit PROPERTIES LABELS "unit;conformance" TIMEOUT 120)
endif()

# Videos hashed by the page in Chromium (WebCodecs in a Worker), compared
# with the reference (tests/data/vpdq, and the extended corpus in
# SITR_SHARED_DIR when present) and with `sitr hash`; no video bytes and
# no frame hash leave the page.  ffmpeg makes the picture and the long video.
find_program(SITR_FFMPEG ffmpeg)
if(SITR_NODE AND SITR_FFMPEG AND TARGET sitrd AND TARGET sitr-admin AND TARGET sitr)
  add_test(NAME web_video_browser COMMAND ${SITR_NODE}
    ${CMAKE_SOURCE_DIR}/tests/web/video_browser_test.mjs ${CMAKE_BINARY_DIR} ${SITR_SHARED_DIR})
  set_tests_properties(web_video_browser PROPERTIES LABELS "browser;e2e" FIXTURES_REQUIRED pg
    TIMEOUT 900)
endif()
