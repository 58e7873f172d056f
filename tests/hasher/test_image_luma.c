/* Front-end conformance at the luma level: for every vector of
 * luma/index.csv that comes from a real image, in the vendored corpus
 * (tests/data/pdq) and in the extended one when present, decoding
 * the image must give exactly the float32 luma the reference handed to its
 * core (byte for byte), with the same size and pre-scale.  This checks
 * decode, grey-path detection, the 512x512 nearest-neighbour pre-scale and
 * the RGB->luma float arithmetic without needing the PDQ core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hasher/decode_int.h"

#include "image_support.h"
#include "pdq_data.h"

static int setup(void **state)
{
    (void)state;
    return sitr_decode_init("test_image_luma") == 0 ? 0 : -1;
}

static void luma_vectors(const pdqt_corpus_t *c)
{
    char path[1024];
    FILE *idx = imgt_csv_open(pdqt_path(c, "luma/index.csv", path, sizeof path));
    char line[512];
    int checked = 0;
    while (fgets(line, sizeof line, idx) != NULL) {
        char name[64], source[256];
        int w, h;
        if (sscanf(line, "%63[^,],%255[^,],%d,%d,", name, source, &w, &h) != 4)
            continue;
        if (strcmp(source, "synthetic") == 0)
            continue;
        pdqt_path(c, source, path, sizeof path);
        size_t len;
        uint8_t *img = imgt_slurp(path, &len);
        assert_non_null(img);

        /* Filled by hand: this test links only the decode stage. */
        sitr_image_limits_t lim = {.max_file_bytes = SITR_IMAGE_DEFAULT_MAX_FILE_BYTES,
                                   .max_pixels = SITR_IMAGE_DEFAULT_MAX_PIXELS};
        sitr_luma_t luma;
        sitr_err_t err = {0};
        int rc = sitr_decode_luma(img, len, &lim, &luma, &err);
        if (rc != 0)
            fprintf(stderr, "%s: %s\n", name, err.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(luma.cols, w);
        assert_int_equal(luma.rows, h);

        snprintf(path, sizeof path, "%s/luma/%s.luma.f32", c->dir, name);
        size_t flen;
        uint8_t *want = imgt_slurp(path, &flen);
        assert_non_null(want);
        assert_int_equal(flen, (size_t)w * (size_t)h * sizeof(float));
        if (memcmp(want, luma.px, flen) != 0) {
            size_t diff = 0, first = (size_t)-1;
            for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
                if (memcmp(want + 4 * i, luma.px + i, 4) != 0) {
                    if (first == (size_t)-1)
                        first = i;
                    diff++;
                }
            float got_v = luma.px[first], want_v;
            memcpy(&want_v, want + 4 * first, 4);
            fprintf(stderr,
                    "%s: %zu of %d luma values differ; first at %zu: %.9g vs %.9g (grey=%d)\n",
                    name, diff, w * h, first, (double)got_v, (double)want_v, luma.grey);
            fail();
        }
        free(want);
        sitr_luma_free(&luma);
        free(img);
        checked++;
    }
    fclose(idx);
    assert_int_equal(checked, c->luma_images);
}

static void test_luma_vectors(void **state)
{
    (void)state;
    luma_vectors(pdqt_vendored());
}

static void test_luma_vectors_extended(void **state)
{
    (void)state;
    const pdqt_corpus_t *c = pdqt_extended("luma vectors");
    if (c != NULL)
        luma_vectors(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_luma_vectors),
        cmocka_unit_test(test_luma_vectors_extended),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
