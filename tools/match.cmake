# bench-match: the PDQ index benchmark (not a test; see docs/BENCHMARKS.md).
add_executable(bench-match ${CMAKE_CURRENT_SOURCE_DIR}/bench_match.c
  ${CMAKE_CURRENT_SOURCE_DIR}/pdq_synth.c)
target_link_libraries(bench-match PRIVATE sitrsvc)
