# bench-match: the PDQ index benchmark (not a test; see docs/BENCHMARKS.md).
if(NOT TARGET sitrindex)
  add_library(sitrindex STATIC ${CMAKE_SOURCE_DIR}/service/index.c ${CMAKE_SOURCE_DIR}/service/digest_index.c)
  # Only the sitr/pdq.h and sitr/err.h headers are needed, not the sitrpdq code.
  target_include_directories(sitrindex PUBLIC ${CMAKE_SOURCE_DIR}/service ${CMAKE_SOURCE_DIR}/hasher/include)
  target_link_libraries(sitrindex PUBLIC PkgConfig::SODIUM Threads::Threads)
endif()
add_executable(bench-match ${CMAKE_CURRENT_SOURCE_DIR}/bench_match.c)
target_link_libraries(bench-match PRIVATE sitrindex)
