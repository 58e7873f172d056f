# The evidence report (GET /v1/cases/{case}/report): unit tests of the HTML
# escaping helper, and the end-to-end test against a running sitrd,
# sitr-admin and the pg fixture.
sitr_add_test(html LABELS unit
  SOURCES ${CMAKE_SOURCE_DIR}/service/html.c)
target_include_directories(test_html PRIVATE ${CMAKE_SOURCE_DIR}/service)

if(TARGET sitrd AND TARGET sitr-admin)
  sitr_add_test(report_e2e LABELS e2e integration FIXTURES pg
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/e2e_util.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
      ${CMAKE_CURRENT_SOURCE_DIR}/e2e_world.c ${CMAKE_CURRENT_SOURCE_DIR}/e2e_api.c ${CMAKE_CURRENT_SOURCE_DIR}/e2e_img.c
      ${CMAKE_CURRENT_SOURCE_DIR}/e2e_matches.c
     
    LIBS sitrcommon PkgConfig::PQ PkgConfig::JANSSON PkgConfig::SODIUM)
  target_include_directories(test_report_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
    ${CMAKE_SOURCE_DIR}/service ${CMAKE_SOURCE_DIR}/hasher/include)
  add_dependencies(test_report_e2e sitrd sitr-admin)
  set_tests_properties(report_e2e PROPERTIES TIMEOUT 300)
endif()
