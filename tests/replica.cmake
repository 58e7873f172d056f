# The replica (index load + change-log follower) and the matcher against a
# real PostgreSQL (the `pg` fixture), and the two-sitrd end-to-end tests.
# test_replica compiles the modules it exercises directly so that it does
# not depend on the rest of sitrsvc.
set(SITR_REPLICA_TEST_SRC
  ${CMAKE_SOURCE_DIR}/service/replica.c ${CMAKE_SOURCE_DIR}/service/index.c
  ${CMAKE_SOURCE_DIR}/service/digest_index.c ${CMAKE_SOURCE_DIR}/service/db.c
  ${CMAKE_SOURCE_DIR}/service/log.c ${CMAKE_SOURCE_DIR}/service/metrics.c
 
  ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c)
set(SITR_REPLICA_TEST_LIBS sitrcommon PkgConfig::UV PkgConfig::PQ PkgConfig::SODIUM PkgConfig::JANSSON
  Threads::Threads m)

sitr_add_test(replica LABELS integration FIXTURES pg LIBS sitrcommon ${SITR_REPLICA_TEST_LIBS}
  SOURCES ${SITR_REPLICA_TEST_SRC})
target_include_directories(test_replica PRIVATE ${CMAKE_SOURCE_DIR}/service
  ${CMAKE_SOURCE_DIR}/hasher/include ${CMAKE_CURRENT_SOURCE_DIR})
add_dependencies(test_replica sitr-admin)
set_tests_properties(replica PROPERTIES TIMEOUT 300)

# Two sitrd processes on one database (end to end).
if(TARGET sitrd AND TARGET sitr-admin)
  sitr_add_test(replica_e2e LABELS e2e integration FIXTURES pg
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/e2e_util.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
    ${CMAKE_CURRENT_SOURCE_DIR}/e2e_world.c
    LIBS sitrcommon PkgConfig::PQ PkgConfig::JANSSON)
  target_include_directories(test_replica_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
    ${CMAKE_SOURCE_DIR}/hasher/include)
  add_dependencies(test_replica_e2e sitrd sitr-admin)
  set_tests_properties(replica_e2e PROPERTIES TIMEOUT 300)
endif()
