# Rate limits in front of the API (per platform API key, per client address,
# failed authentications) end to end: a real sitrd and sitr-admin against a
# fresh database of the pg fixture.  The token buckets' unit tests are
# registered in cases.cmake (test_ratelimit).
if(TARGET sitrd AND TARGET sitr-admin)
  sitr_add_test(ratelimit_e2e LABELS e2e integration FIXTURES pg
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/e2e_util.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
      ${CMAKE_CURRENT_SOURCE_DIR}/e2e_world.c ${CMAKE_CURRENT_SOURCE_DIR}/e2e_api.c
    LIBS sitrcommon PkgConfig::PQ PkgConfig::JANSSON)
  target_include_directories(test_ratelimit_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  add_dependencies(test_ratelimit_e2e sitrd sitr-admin)
  set_tests_properties(ratelimit_e2e PROPERTIES TIMEOUT 300)
endif()
