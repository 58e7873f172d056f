# Takedown webhooks: the sender's pure parts (signature, backoff, URL
# check) as a unit test, and the end-to-end test against a real sitrd,
# sitr-admin, the pg fixture and a tiny HTTP receiver inside the test.

sitr_add_test(webhook_unit LABELS unit
  LIBS sitrcommon sitrsvc PkgConfig::SODIUM)

if(TARGET sitrd)
  sitr_add_test(webhook_e2e LABELS e2e integration FIXTURES pg
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/e2e_util.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
      ${CMAKE_CURRENT_SOURCE_DIR}/e2e_world.c ${CMAKE_CURRENT_SOURCE_DIR}/e2e_api.c ${CMAKE_CURRENT_SOURCE_DIR}/e2e_img.c
      ${CMAKE_CURRENT_SOURCE_DIR}/e2e_matches.c
    LIBS sitrcommon PkgConfig::PQ PkgConfig::JANSSON PkgConfig::SODIUM Threads::Threads)
  target_include_directories(test_webhook_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  add_dependencies(test_webhook_e2e sitrd)
  if(TARGET sitr-admin)
    add_dependencies(test_webhook_e2e sitr-admin)
  endif()
  set_tests_properties(webhook_e2e PROPERTIES TIMEOUT 300)
endif()
