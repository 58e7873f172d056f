# Tests of the image front-end of libsitrhash (decode, digests, file
# hashing).  The PDQ core registers its own tests elsewhere.
sitr_add_test(image_luma LIBS sitrcommon sitrhash
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/image_support.c LABELS unit conformance)
sitr_add_test(image LIBS sitrcommon sitrhash
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/image_support.c LABELS unit conformance)
sitr_add_test(image_hostile LIBS sitrcommon sitrhash
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/image_support.c LABELS unit)
# The JPEG fast path against the libvips path (corpus, encoded layouts,
# mutations, limits); links libjpeg through sitrhash.
sitr_add_test(image_jpeg LIBS sitrcommon sitrhash
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/image_support.c LABELS unit conformance)
