/* The JPEG fast path (hasher/jpeg.c) against the libvips path
 * (hasher/decode.c): for the same bytes both must give the same result,
 * byte for byte in the sampled 8-bit pixels and the float luma.
 *
 *  - every JPEG of the vendored corpus (tests/data/pdq, 16 files, CMYK and
 *    progressive included) and of the extended one when present (37 files)
 *    must be taken by the fast path (not declined) and match libvips exactly;
 *  - JPEGs encoded here with libjpeg in the layouts the corpus lacks
 *    (4:2:2, 4:4:0, 4:1:1, 1x4, all-1x2, RGB, CMYK with and without the
 *    Adobe marker, YCCK, grey, progressive,
 *    restart markers, tall, wide and odd sizes) exercise every branch of
 *    the row skipping and must match too;
 *  - mutated corpus files (truncations, flipped bytes, garbage before EOI)
 *    must either be declined by the fast path (libjpeg warned: libvips
 *    decides), fail on both paths, or decode identically on both;
 *  - the fast path's own limits: pixels before decoding, the scan limit.
 * Single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jpeglib.h>

#include "../../hasher/decode_int.h"

#include "image_support.h"
#include "pdq_data.h"

#define PDQ_DIR SITR_SOURCE_DIR "/tests/data/pdq"

static sitr_image_limits_t limits(void)
{
    sitr_image_limits_t lim = {.max_file_bytes = SITR_IMAGE_DEFAULT_MAX_FILE_BYTES,
                               .max_pixels = SITR_IMAGE_DEFAULT_MAX_PIXELS};
    return lim;
}

static int setup(void **state)
{
    (void)state;
    return sitr_decode_init("test_image_jpeg") == 0 ? 0 : -1;
}

/* Both results decoded: identical in every field and byte. */
static void assert_same(const char *name, const sitr_luma_t *a, const sitr_luma_t *b)
{
    if (a->width != b->width || a->height != b->height || a->rows != b->rows ||
        a->cols != b->cols || a->grey != b->grey || a->nch != b->nch)
        fail_msg("%s: fast %dx%d->%dx%d grey=%d nch=%d, libvips %dx%d->%dx%d grey=%d nch=%d", name,
                 a->width, a->height, a->cols, a->rows, a->grey, a->nch, b->width, b->height,
                 b->cols, b->rows, b->grey, b->nch);
    size_t n = (size_t)a->rows * (size_t)a->cols;
    assert_non_null(a->pix);
    assert_non_null(b->pix);
    if (memcmp(a->pix, b->pix, n * (size_t)a->nch) != 0) {
        size_t i = 0;
        while (a->pix[i] == b->pix[i])
            i++;
        fail_msg("%s: pixels differ first at byte %zu (%u vs %u)", name, i, a->pix[i], b->pix[i]);
    }
    if (memcmp(a->px, b->px, n * sizeof(float)) != 0)
        fail_msg("%s: luma differs", name);
}

/* Decodes data through both paths.  want_fast: the fast path must take
 * it.  Returns 1 when both decoded (and matched), 0 when both failed or
 * the fast path declined. */
static int compare(const char *name, const uint8_t *data, size_t len, int want_fast)
{
    sitr_image_limits_t lim = limits();
    sitr_luma_t fast, vips;
    sitr_err_t ferr = {0}, verr = {0};
    int frc = sitr_decode_luma_jpeg(data, len, &lim, &fast, &ferr);
    if (want_fast && frc != 0)
        fail_msg("%s: fast path rc %d (%s)", name, frc, frc < 0 ? ferr.msg : "declined");
    if (frc == SITR_DECODE_DECLINED) {
        assert_null(fast.px);
        return 0;
    }
    int vrc = sitr_decode_luma_vips(data, len, &lim, &vips, &verr);
    if (frc < 0) {
        assert_null(fast.px);
        if (vrc == 0)
            fail_msg("%s: fast path failed (%s) where libvips decoded", name, ferr.msg);
        return 0;
    }
    if (vrc != 0)
        fail_msg("%s: libvips failed (%s) where the fast path decoded", name, verr.msg);
    assert_same(name, &fast, &vips);
    sitr_luma_free(&fast);
    sitr_luma_free(&vips);
    return 1;
}

static int is_jpeg_name(const char *n)
{
    size_t l = strlen(n);
    return (l > 4 && strcasecmp(n + l - 4, ".jpg") == 0) ||
           (l > 5 && strcasecmp(n + l - 5, ".jpeg") == 0);
}

static int walk(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR) {
            walk(path, count);
        } else if (is_jpeg_name(e->d_name)) {
            size_t len;
            uint8_t *data = imgt_slurp(path, &len);
            assert_non_null(data);
            assert_int_equal(compare(path, data, len, 1), 1);
            free(data);
            (*count)++;
        }
    }
    closedir(d);
    return 0;
}

static void test_corpus(void **state)
{
    (void)state;
    const pdqt_corpus_t *c = pdqt_vendored();
    int count = 0;
    assert_int_equal(walk(c->dir, &count), 0);
    assert_int_equal(count, c->jpegs);
    if ((c = pdqt_extended("JPEGs")) == NULL)
        return;
    count = 0;
    assert_int_equal(walk(c->dir, &count), 0);
    assert_int_equal(count, c->jpegs);
}

/* Encoding test images with libjpeg. */

typedef struct enc {
    int w, h;
    J_COLOR_SPACE in_cs, jpeg_cs;
    int ncomp;
    int samp[4][2]; /* h, v per component */
    int progressive, restart_rows, grey_rgb, no_adobe;
} enc_t;

static void enc_error_exit(j_common_ptr c)
{
    char msg[JMSG_LENGTH_MAX];
    c->err->format_message(c, msg);
    fail_msg("libjpeg encoder: %s", msg);
}

/* Smooth gradients plus a little pseudo-random texture: enough detail to
 * expose any row or column off by one, and colourful unless grey_rgb. */
static uint8_t *encode(const enc_t *e, size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jerr.error_exit = enc_error_exit;
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = (JDIMENSION)e->w;
    c.image_height = (JDIMENSION)e->h;
    c.input_components = e->ncomp;
    c.in_color_space = e->in_cs;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, e->jpeg_cs);
    jpeg_set_quality(&c, 90, TRUE);
    for (int i = 0; i < e->ncomp; i++) {
        c.comp_info[i].h_samp_factor = e->samp[i][0];
        c.comp_info[i].v_samp_factor = e->samp[i][1];
    }
    if (e->progressive)
        jpeg_simple_progression(&c);
    c.restart_in_rows = e->restart_rows;
    if (e->no_adobe)
        c.write_Adobe_marker = FALSE;
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)e->w * (size_t)e->ncomp);
    assert_non_null(row);
    uint32_t seed = 1;
    for (int y = 0; y < e->h; y++) {
        for (int x = 0; x < e->w; x++) {
            seed = seed * 1664525u + 1013904223u;
            int t = (int)(seed >> 28);
            for (int b = 0; b < e->ncomp; b++) {
                int v = e->grey_rgb ? (x * 7 + y * 3) / 5 + t
                                    : (x * (b + 1) * 5 + y * (3 - b % 3) * 4) / 7 + t * (b + 1);
                row[(size_t)x * (size_t)e->ncomp + (size_t)b] = (uint8_t)(v & 255);
            }
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    *len = n;
    return buf;
}

static void test_layouts(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enc_t e;
    } cases[] = {
        {"420 12MP-ish", {1601, 1203, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"420 tall", {600, 9001, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"420 wide", {5003, 517, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"420 progressive",
         {1203, 1601, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 1}, {1, 1}}, 1, 0, 0, 0}},
        {"420 restarts", {1031, 1029, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 1}, {1, 1}}, 0, 1, 0, 0}},
        {"444", {1100, 1300, JCS_RGB, JCS_YCbCr, 3, {{1, 1}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"444 tall", {513, 6007, JCS_RGB, JCS_YCbCr, 3, {{1, 1}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"422", {1333, 1111, JCS_RGB, JCS_YCbCr, 3, {{2, 1}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"440", {1111, 1333, JCS_RGB, JCS_YCbCr, 3, {{1, 2}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"440 progressive",
         {777, 2001, JCS_RGB, JCS_YCbCr, 3, {{1, 2}, {1, 1}, {1, 1}}, 1, 0, 0, 0}},
        {"411", {1601, 901, JCS_RGB, JCS_YCbCr, 3, {{4, 1}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"all 1x2", {1201, 1203, JCS_RGB, JCS_YCbCr, 3, {{1, 2}, {1, 2}, {1, 2}}, 0, 0, 0, 0}},
        {"all 2x2 grey-ish",
         {1203, 1201, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {2, 2}, {1, 1}}, 0, 0, 0, 0}},
        {"1x4", {1001, 1203, JCS_RGB, JCS_YCbCr, 3, {{1, 4}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"2x2 1x2 2x1", {1001, 1003, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 2}, {2, 1}}, 0, 0, 0, 0}},
        {"420 narrow", {7, 3001, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"rgb", {1025, 1023, JCS_RGB, JCS_RGB, 3, {{1, 1}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"grey", {2049, 1537, JCS_GRAYSCALE, JCS_GRAYSCALE, 1, {{1, 1}}, 0, 0, 0, 0}},
        {"grey 2x2", {1537, 2049, JCS_GRAYSCALE, JCS_GRAYSCALE, 1, {{2, 2}}, 0, 0, 0, 0}},
        {"grey progressive", {901, 1201, JCS_GRAYSCALE, JCS_GRAYSCALE, 1, {{1, 1}}, 1, 0, 0, 0}},
        {"colour-typed grey",
         {1201, 1001, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 1}, {1, 1}}, 0, 0, 1, 0}},
        {"cmyk", {1100, 1201, JCS_CMYK, JCS_CMYK, 4, {{1, 1}, {1, 1}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"cmyk no Adobe marker",
         {1100, 1201, JCS_CMYK, JCS_CMYK, 4, {{1, 1}, {1, 1}, {1, 1}, {1, 1}}, 0, 0, 0, 1}},
        {"ycck 420",
         {1201, 1100, JCS_CMYK, JCS_YCCK, 4, {{2, 2}, {1, 1}, {1, 1}, {2, 2}}, 0, 0, 0, 0}},
        {"small 420", {300, 200, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
        {"5x5", {5, 5, JCS_RGB, JCS_YCbCr, 3, {{2, 2}, {1, 1}, {1, 1}}, 0, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        uint8_t *data = encode(&cases[i].e, &len);
        assert_int_equal(compare(cases[i].name, data, len, 1), 1);
        free(data);
    }
}

/* Mutations of small corpus files: both paths agree, or the fast path
 * declines.  Also counts how often each outcome happened, so that the
 * test cannot pass by declining everything. */
static void test_mutations(void **state)
{
    (void)state;
    static const char *const files[] = {
        PDQ_DIR "/misc-images/wee.jpg",
        PDQ_DIR "/reg-test-input/labelme-subset/q0122.jpg",
        PDQ_DIR "/bridge-mods/shrink-a-lot.jpg",
    };
    int decoded = 0, failed_both = 0, declined = 0, total = 0;
    uint32_t seed = 12345;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t len;
        uint8_t *orig = imgt_slurp(files[f], &len);
        assert_non_null(orig);
        uint8_t *m = malloc(len + 64);
        assert_non_null(m);
        for (int k = 0; k < 120; k++) {
            size_t mlen = len;
            memcpy(m, orig, len);
            seed = seed * 1664525u + 1013904223u;
            size_t at = (size_t)(seed >> 8) % len;
            switch (k % 4) {
            case 0: /* truncation */
                mlen = at < 3 ? 3 : at;
                break;
            case 1: /* one flipped byte */
                m[at] ^= (uint8_t)(1u << (seed & 7));
                break;
            case 2: /* a run of garbage */
                for (size_t i = at; i < at + 16 && i < len; i++)
                    m[i] = (uint8_t)(i * 29u + seed);
                break;
            default: /* bytes inserted before the final EOI: a warning */
                memcpy(m + len - 2, "\x12\x34\x56\x78", 4);
                m[len + 2] = 0xFF, m[len + 3] = 0xD9;
                mlen = len + 4;
                break;
            }
            char name[256];
            snprintf(name, sizeof name, "%s mutation %d", files[f], k);
            sitr_image_limits_t lim = limits();
            sitr_luma_t l;
            sitr_err_t err;
            int frc = sitr_decode_luma_jpeg(m, mlen, &lim, &l, &err);
            if (frc == 0)
                sitr_luma_free(&l);
            if (frc == SITR_DECODE_DECLINED)
                declined++;
            else if (compare(name, m, mlen, 0))
                decoded++;
            else
                failed_both++;
            total++;
        }
        free(m);
        free(orig);
    }
    fprintf(stderr, "mutations: %d decoded alike, %d failed on both, %d declined\n", decoded,
            failed_both, declined);
    assert_int_equal(decoded + failed_both + declined, total);
    assert_true(decoded > 0);
    assert_true(failed_both > 0);
    assert_true(declined > 0);
}

/* A progressive file with more scans than the limit: each scan below
 * refines one coefficient band by one bit. */
static uint8_t *many_scans(int nscans, size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jerr.error_exit = enc_error_exit;
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = 64;
    c.image_height = 64;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    /* The DC scan, then for each AC coefficient (one band each) a first
     * scan at Al = 5 and five refinements down to Al = 0: 1 + 6 per band,
     * as many bands as fit in nscans (unsent bands are legal zeros). */
    jpeg_scan_info *scans = calloc((size_t)nscans, sizeof(*scans));
    assert_non_null(scans);
    int s = 0;
    scans[s].comps_in_scan = 1, scans[s].Ss = 0, scans[s].Se = 0, scans[s].Ah = 0, scans[s].Al = 0,
    s++;
    for (int band = 1; band <= 63 && s + 6 <= nscans; band++) {
        /* successive approximation: Al 5, then refinements 5->4 ... 1->0 */
        scans[s].comps_in_scan = 1, scans[s].Ss = band, scans[s].Se = band, scans[s].Ah = 0,
        scans[s].Al = 5, s++;
        for (int al = 4; al >= 0; al--)
            scans[s].comps_in_scan = 1, scans[s].Ss = band, scans[s].Se = band,
            scans[s].Ah = al + 1, scans[s].Al = al, s++;
    }
    c.scan_info = scans;
    c.num_scans = s;
    jpeg_start_compress(&c, TRUE);
    uint8_t row[64];
    for (int y = 0; y < 64; y++) {
        for (int x = 0; x < 64; x++)
            row[x] = (uint8_t)(x * 3 + y * 2);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(scans);
    *len = n;
    return buf;
}

static void test_limits(void **state)
{
    (void)state;
    sitr_image_limits_t lim = limits();
    sitr_luma_t l;
    sitr_err_t err;

    /* A legal file with 1 + 6 * 63 = 379 scans: refused by the fast path
     * (which is what sitr_decode_luma uses for it), decoded by libvips. */
    size_t len;
    uint8_t *data = many_scans(400, &len);
    assert_int_equal(sitr_decode_luma_jpeg(data, len, &lim, &l, &err), SITR_ETOOBIG);
    assert_null(l.px);
    assert_int_equal(sitr_decode_luma(data, len, &lim, &l, &err), SITR_ETOOBIG);
    assert_int_equal(sitr_decode_luma_vips(data, len, &lim, &l, &err), 0);
    sitr_luma_free(&l);
    free(data);
    /* Under the limit: decoded, and alike. */
    data = many_scans(200, &len);
    assert_int_equal(compare("200 scans", data, len, 1), 1);
    free(data);

    /* The pixel limit, before decoding: wee.jpg is 34x42 (1428 pixels). */
    uint8_t *wee = imgt_slurp(PDQ_DIR "/misc-images/wee.jpg", &len);
    assert_non_null(wee);
    lim.max_pixels = 1427;
    assert_int_equal(sitr_decode_luma_jpeg(wee, len, &lim, &l, &err), SITR_ETOOBIG);
    lim.max_pixels = 1428;
    assert_int_equal(sitr_decode_luma_jpeg(wee, len, &lim, &l, &err), 0);
    assert_int_equal(l.width * l.height, 1428);
    sitr_luma_free(&l);
    /* Not a JPEG, or too short to be one: declined, err untouched. */
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    assert_int_equal(sitr_decode_luma_jpeg(png, sizeof png, &lim, &l, &err), SITR_DECODE_DECLINED);
    assert_int_equal(sitr_decode_luma_jpeg(wee, 2, &lim, &l, &err), SITR_DECODE_DECLINED);
    free(wee);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
