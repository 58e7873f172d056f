/* File helpers of the image tests (see image_support.h).  Plain stdio;
 * the test files are small enough to read whole. */
#include "image_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>

#include <cmocka.h>

uint8_t *imgt_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

FILE *imgt_csv_open(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char header[1024];
    assert_non_null(fgets(header, sizeof header, f));
    return f;
}
