# study-vmatch: the measurements behind the video matching parameters
# (docs/VIDEO_MATCHING.md; not a test, run by hand).
if(TARGET sitrvideo)
  add_executable(study-vmatch ${CMAKE_CURRENT_SOURCE_DIR}/study_vmatch.c)
  target_link_libraries(study-vmatch PRIVATE sitr_match sitrvideo sitrpdq m)
  target_compile_definitions(study-vmatch PRIVATE SITR_SHARED_DIR="${SITR_SHARED_DIR}")
endif()
