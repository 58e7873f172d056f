# The HTTP core of sitrd (router, requests, configuration, metrics) as unit
# tests compiled from the few modules they exercise, and the end-to-end test
# that runs the real sitrd binary over TCP (harness in e2e_util.c, reusable
# by other e2e tests: add tests/e2e_util.c to their SOURCES).
set(SITR_HTTP_UNIT_SRC
  ${CMAKE_SOURCE_DIR}/service/http.c ${CMAKE_SOURCE_DIR}/service/router.c
  ${CMAKE_SOURCE_DIR}/service/arena.c ${CMAKE_SOURCE_DIR}/service/config.c
  ${CMAKE_SOURCE_DIR}/service/log.c ${CMAKE_SOURCE_DIR}/service/metrics.c
 )
sitr_add_test(http_unit LABELS unit SOURCES ${SITR_HTTP_UNIT_SRC}
  LIBS sitrcommon PkgConfig::UV PkgConfig::JANSSON PkgConfig::SODIUM PkgConfig::PQ)
target_include_directories(test_http_unit PRIVATE ${CMAKE_SOURCE_DIR}/service
  ${CMAKE_SOURCE_DIR}/hasher/include)
target_compile_definitions(test_http_unit PRIVATE SITR_VERSION="${PROJECT_VERSION}")

if(TARGET sitrd)
  sitr_add_test(http_e2e LABELS e2e integration FIXTURES pg
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/e2e_util.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
    LIBS sitrcommon PkgConfig::PQ)
  target_include_directories(test_http_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  add_dependencies(test_http_e2e sitrd)
  if(TARGET sitr-admin)
    add_dependencies(test_http_e2e sitr-admin)
  endif()
  set_tests_properties(http_e2e PROPERTIES TIMEOUT 300)
endif()
