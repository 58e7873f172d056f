# The exact PDQ index and the digest tables, compared with brute force.
sitr_add_test(index LABELS unit LIBS sitrcommon sitrsvc
  SOURCES ${CMAKE_SOURCE_DIR}/tools/pdq_synth.c)
target_include_directories(test_index PRIVATE ${CMAKE_SOURCE_DIR}/tools)
