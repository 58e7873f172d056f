# The platforms' API (issue 4): unit tests of its pure parts (validation,
# refs, cursors, the per-item search over real indexes), and the end-to-end
# test against a running sitrd, sitr-admin and the pg fixture.
if(NOT TARGET sitrindex)
  add_library(sitrindex STATIC ${CMAKE_SOURCE_DIR}/service/index.c
    ${CMAKE_SOURCE_DIR}/service/digest_index.c)
  target_include_directories(sitrindex PUBLIC ${CMAKE_SOURCE_DIR}/service
    ${CMAKE_SOURCE_DIR}/hasher/include)
  target_link_libraries(sitrindex PUBLIC PkgConfig::SODIUM Threads::Threads)
endif()

sitr_add_test(api_platform_unit LABELS unit
  SOURCES ${CMAKE_SOURCE_DIR}/service/api_platform.c
   
  LIBS sitrcommon sitrindex PkgConfig::JANSSON PkgConfig::SODIUM)
target_include_directories(test_api_platform_unit PRIVATE ${CMAKE_SOURCE_DIR}/service
  ${CMAKE_SOURCE_DIR}/hasher/include)

# platform_e2e: everything the platforms' API does on its own (the takedown
# steps feed the matcher's commit function directly).  platform_matcher_e2e:
# the same executable running only the flow through the real matcher
# (upload reported -> takedown listed, and a new case matching a stored
# upload), so a missing or broken matcher shows under its own name.
if(TARGET sitrd)
  sitr_add_test(platform_e2e LABELS e2e integration FIXTURES pg
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/e2e_util.c ${CMAKE_CURRENT_SOURCE_DIR}/test_db_support.c
      ${CMAKE_CURRENT_SOURCE_DIR}/e2e_world.c ${CMAKE_CURRENT_SOURCE_DIR}/e2e_api.c ${CMAKE_CURRENT_SOURCE_DIR}/e2e_img.c
      ${CMAKE_CURRENT_SOURCE_DIR}/e2e_matches.c
    LIBS sitrcommon PkgConfig::PQ PkgConfig::JANSSON)
  target_include_directories(test_platform_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  add_dependencies(test_platform_e2e sitrd)
  if(TARGET sitr-admin)
    add_dependencies(test_platform_e2e sitr-admin)
  endif()
  set_tests_properties(platform_e2e PROPERTIES TIMEOUT 300)
  add_test(NAME platform_matcher_e2e COMMAND test_platform_e2e matcher)
  set_tests_properties(platform_matcher_e2e PROPERTIES LABELS "e2e;integration"
    FIXTURES_REQUIRED pg TIMEOUT 300)
endif()
