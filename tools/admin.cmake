# sitr-admin: migrations, platforms and keys.  It compiles the few service
# modules it shares with sitrd (keys, schema, db for the types, the webhook URL rule) and the
# error/hex helpers directly, so it builds independently of the rest.
file(GLOB SITR_ADMIN_SRC CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/admin/*.c)
add_executable(sitr-admin ${SITR_ADMIN_SRC}
  ${CMAKE_SOURCE_DIR}/service/schema.c
  ${CMAKE_SOURCE_DIR}/service/db.c
 )
target_include_directories(sitr-admin PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/admin
  ${CMAKE_SOURCE_DIR}/service ${CMAKE_SOURCE_DIR}/hasher/include)
target_link_libraries(sitr-admin PRIVATE sitrcommon PkgConfig::PQ PkgConfig::UV PkgConfig::SODIUM)
target_compile_definitions(sitr-admin PRIVATE SITR_MIGRATIONS_DIR="${CMAKE_SOURCE_DIR}/migrations")
