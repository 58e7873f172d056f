# The victims' case API: tokens, image-list validation, rate limiting (unit)
# and the end-to-end test against a running sitrd and PostgreSQL.
# The unit tests compile the few modules they exercise directly, so they do
# not depend on the rest of sitrsvc.
set(SITR_SVC_DIR ${CMAKE_SOURCE_DIR}/service)
set(SITR_ERR_INCLUDE ${CMAKE_SOURCE_DIR}/hasher/include)

sitr_add_test(images_json LABELS unit
  SOURCES ${SITR_SVC_DIR}/images_json.c
  LIBS sitrcommon PkgConfig::JANSSON)
target_include_directories(test_images_json PRIVATE ${SITR_SVC_DIR} ${SITR_ERR_INCLUDE})

sitr_add_test(ratelimit LABELS unit
  SOURCES ${SITR_SVC_DIR}/ratelimit.c
  LIBS sitrcommon PkgConfig::SODIUM)
target_include_directories(test_ratelimit PRIVATE ${SITR_SVC_DIR} ${SITR_ERR_INCLUDE})

# End to end: a fresh database migrated with sitr-admin, sitrd over TCP.
if(TARGET sitrd AND TARGET sitr-admin)
  sitr_add_test(cases_e2e LABELS e2e integration FIXTURES pg
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/e2e_util.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
    ${CMAKE_CURRENT_SOURCE_DIR}/e2e_world.c ${CMAKE_CURRENT_SOURCE_DIR}/e2e_api.c
   
    LIBS sitrcommon PkgConfig::PQ PkgConfig::JANSSON PkgConfig::SODIUM)
  target_include_directories(test_cases_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${SITR_SVC_DIR}
    ${SITR_ERR_INCLUDE})
  add_dependencies(test_cases_e2e sitrd sitr-admin)
  set_tests_properties(cases_e2e PROPERTIES TIMEOUT 300)
endif()
