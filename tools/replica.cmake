# bench-load: initial index load time of a replica (not a test; see
# docs/BENCHMARKS.md).  bench-fresh: time from POST /v1/cases on one sitrd
# to /v1/match matching it on another.
add_executable(bench-load ${CMAKE_CURRENT_SOURCE_DIR}/bench_load.c)
target_link_libraries(bench-load PRIVATE sitrsvc)
add_executable(bench-fresh ${CMAKE_CURRENT_SOURCE_DIR}/bench_fresh.c
  ${CMAKE_SOURCE_DIR}/tests/e2e_util.c)
target_include_directories(bench-fresh PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_compile_definitions(bench-fresh PRIVATE SITR_BINARY_DIR="${CMAKE_BINARY_DIR}")
