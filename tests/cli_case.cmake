# `sitr case` end to end: the built `sitr` against a real sitrd on a fresh
# database migrated with sitr-admin (the pg fixture), plus a capturing
# listener in the test that proves only hashes leave the computer.
if(TARGET sitr AND TARGET sitrd AND TARGET sitr-admin)
  sitr_add_test(cli_case_e2e LABELS e2e integration FIXTURES pg
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/e2e_util.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
    ${CMAKE_CURRENT_SOURCE_DIR}/e2e_world.c
   
    LIBS sitrcommon PkgConfig::PQ PkgConfig::JANSSON PkgConfig::SODIUM Threads::Threads)
  target_include_directories(test_cli_case_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
    ${CMAKE_SOURCE_DIR}/service ${CMAKE_SOURCE_DIR}/hasher/include)
  add_dependencies(test_cli_case_e2e sitr sitrd sitr-admin)
  set_tests_properties(cli_case_e2e PROPERTIES TIMEOUT 300)
endif()
