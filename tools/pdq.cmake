# bench-pdq: PDQ core throughput on 512x512 luma, one thread (not a test).
add_executable(bench-pdq ${CMAKE_CURRENT_SOURCE_DIR}/bench_pdq.c)
target_include_directories(bench-pdq PRIVATE ${CMAKE_SOURCE_DIR}/hasher)
target_link_libraries(bench-pdq PRIVATE sitrpdq)
target_compile_definitions(bench-pdq PRIVATE SITR_SHARED_DIR="${SITR_SHARED_DIR}")
