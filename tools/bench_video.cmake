# bench-video: video hashing speed (libsitrvideo) beside a plain libavcodec
# decode of the same file, and the every-frame rate at 720p and 1080p (not
# a test; run it by hand, see docs/BENCHMARKS.md).
if(TARGET sitrvideo)
  pkg_check_modules(SITR_BENCH_FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil)
  add_executable(bench-video ${CMAKE_CURRENT_SOURCE_DIR}/bench_video.c)
  target_link_libraries(bench-video PRIVATE sitrvideo PkgConfig::SITR_BENCH_FFMPEG
    Threads::Threads)
  target_compile_definitions(bench-video PRIVATE SITR_SHARED_DIR="${SITR_SHARED_DIR}"
    SITR_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endif()
