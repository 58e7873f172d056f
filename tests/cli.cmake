# Tests of the `sitr` command.
#  - cli_units: the folder walk and output formats, built from the CLI's own
#    sources (no image decoder needed);
#  - cli: end to end, runs the built `sitr` binary on the shared PDQ corpus.
sitr_add_test(cli_units LABELS unit
  LIBS sitrcommon sitrpdq PkgConfig::JANSSON
  SOURCES ${CMAKE_SOURCE_DIR}/hasher/cli/walk.c ${CMAKE_SOURCE_DIR}/hasher/cli/output.c)
target_include_directories(test_cli_units PRIVATE ${CMAKE_SOURCE_DIR}/hasher/cli)

if(TARGET sitr)
  sitr_add_test(cli LABELS unit e2e LIBS sitrcommon PkgConfig::JANSSON)
  target_compile_definitions(test_cli PRIVATE SITR_VERSION="${PROJECT_VERSION}")
  # The test runs the binary: build it first.
  add_dependencies(test_cli sitr)
endif()
