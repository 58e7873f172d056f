# PDQ core: unit tests and bit-exact conformance with the reference's luma
# vectors (shared/testdata/pdq/luma), portable and AVX2 paths.
sitr_add_test(pdq LABELS unit conformance LIBS sitrcommon sitrpdq PkgConfig::JANSSON Threads::Threads)
