# The `pg` CTest fixture: a private PostgreSQL 15 (tools/pg-local) for every
# test registered with FIXTURES pg.  Such tests read the libpq URL from
# ${CMAKE_BINARY_DIR}/pg/conninfo and create their own databases.  When the
# build directory is not reachable by the postgres system user (tests run
# as root), pg-local moves the cluster to a /tmp directory and records it.
# If PostgreSQL cannot start, pg_start fails and so do its dependents: they
# never skip.
add_test(NAME pg_start
  COMMAND ${CMAKE_SOURCE_DIR}/tools/pg-local start ${CMAKE_BINARY_DIR}/pg --tmp-fallback)
set_tests_properties(pg_start PROPERTIES FIXTURES_SETUP pg LABELS "integration" TIMEOUT 120)
add_test(NAME pg_stop COMMAND ${CMAKE_SOURCE_DIR}/tools/pg-local stop ${CMAKE_BINARY_DIR}/pg)
set_tests_properties(pg_stop PROPERTIES FIXTURES_CLEANUP pg LABELS "integration" TIMEOUT 120)
