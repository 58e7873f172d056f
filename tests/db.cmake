# Database: keys, the async pool, migrations and sitr-admin (integration
# tests use the `pg` fixture from pg.cmake).  The tests compile the modules
# they exercise directly so they do not depend on the rest of sitrsvc.
set(SITR_DB_TEST_LIBS sitrpdq PkgConfig::UV PkgConfig::PQ PkgConfig::SODIUM PkgConfig::JANSSON)

sitr_add_test(keys LABELS unit LIBS ${SITR_DB_TEST_LIBS}
  SOURCES ${CMAKE_SOURCE_DIR}/service/keys.c)
target_include_directories(test_keys PRIVATE ${CMAKE_SOURCE_DIR}/service)
