# The exact PDQ index and the digest tables (issue 4).  Built as a small
# private library so the tests and the benchmark do not depend on the rest
# of sitrsvc; the service library also compiles these files via its glob.
if(NOT TARGET sitrindex)
  add_library(sitrindex STATIC ${CMAKE_SOURCE_DIR}/service/index.c ${CMAKE_SOURCE_DIR}/service/digest_index.c)
  # Only the sitr/pdq.h and sitr/err.h headers are needed, not the sitrpdq code.
  target_include_directories(sitrindex PUBLIC ${CMAKE_SOURCE_DIR}/service ${CMAKE_SOURCE_DIR}/hasher/include)
  target_link_libraries(sitrindex PUBLIC PkgConfig::SODIUM Threads::Threads)
endif()
sitr_add_test(index LABELS unit LIBS sitrindex)
