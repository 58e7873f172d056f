/* File helpers shared by the image front-end tests (test_image*.c): read a
 * whole test file into memory, and open one of the reference CSV files of
 * a PDQ corpus (pdq_data.h) with its header line already read.  Only for cmocka
 * tests: a missing CSV file or header fails the running test. */
#ifndef SITR_TEST_IMAGE_SUPPORT_H
#define SITR_TEST_IMAGE_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The bytes of path (malloc'd, caller frees) and their count in *len, or
 * NULL if it cannot be read. */
uint8_t *imgt_slurp(const char *path, size_t *len);

/* path opened for reading, past its header line (caller fcloses). */
FILE *imgt_csv_open(const char *path);

#endif
