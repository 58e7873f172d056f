# Database: keys, the async pool, migrations and sitr-admin (integration
# tests use the `pg` fixture from pg.cmake).  The tests compile the modules
# they exercise (and the two small helpers err.c/hex.c) directly, so that
# they depend neither on the rest of sitrsvc nor on the PDQ library.
set(SITR_DB_TEST_LIBS sitrcommon PkgConfig::UV PkgConfig::PQ PkgConfig::SODIUM PkgConfig::JANSSON)
set(SITR_DB_TEST_BASE)
set(SITR_DB_TEST_INC ${CMAKE_SOURCE_DIR}/service ${CMAKE_SOURCE_DIR}/hasher/include
  ${CMAKE_CURRENT_SOURCE_DIR})

sitr_add_test(db LABELS integration FIXTURES pg LIBS sitrcommon ${SITR_DB_TEST_LIBS}
  SOURCES ${CMAKE_SOURCE_DIR}/service/db.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
  ${SITR_DB_TEST_BASE})
target_include_directories(test_db PRIVATE ${SITR_DB_TEST_INC})

sitr_add_test(migrate LABELS integration FIXTURES pg LIBS sitrcommon ${SITR_DB_TEST_LIBS}
  SOURCES ${CMAKE_SOURCE_DIR}/service/db.c ${CMAKE_SOURCE_DIR}/service/schema.c
  ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c ${SITR_DB_TEST_BASE})
target_include_directories(test_migrate PRIVATE ${SITR_DB_TEST_INC})
add_dependencies(test_migrate sitr-admin)

sitr_add_test(admin LABELS integration FIXTURES pg LIBS sitrcommon ${SITR_DB_TEST_LIBS}
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
  ${SITR_DB_TEST_BASE})
target_include_directories(test_admin PRIVATE ${SITR_DB_TEST_INC})
add_dependencies(test_admin sitr-admin)
