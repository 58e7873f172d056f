# bench-hash: end-to-end hashing speed beside a plain libvips decode of the
# same files (not a test; run it by hand, see docs/BENCHMARKS.md).
if(TARGET sitrhash)
  add_executable(bench-hash ${CMAKE_CURRENT_SOURCE_DIR}/bench_hash.c)
  target_link_libraries(bench-hash PRIVATE sitrhash PkgConfig::VIPS PkgConfig::GLIB
    Threads::Threads)
  target_compile_definitions(bench-hash PRIVATE SITR_SHARED_DIR="${SITR_SHARED_DIR}"
    SITR_VERSION="${PROJECT_VERSION}")
endif()
