# Tests added by the security/robustness review: SQL functions under
# concurrent sessions (the `pg` fixture from pg.cmake).
sitr_add_test(db_races LABELS integration FIXTURES pg
  LIBS sitrcommon PkgConfig::PQ
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c)
target_include_directories(test_db_races PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
add_dependencies(test_db_races sitr-admin)

# HTTP request framing (smuggling) through conn.c's parsing path.
if(TARGET sitrsvc)
  sitr_add_test(http_smuggle LABELS unit LIBS sitrcommon sitrsvc)
endif()
