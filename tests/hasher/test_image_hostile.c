/* Hostile and unusual inputs to the image front-end: every one must end in
 * a clear error code (never a crash, never a hash) or, where the input is a
 * legitimate image in disguise, in the right hash.  The files are generated
 * at run time in a private temporary directory, removed at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sitr/image.h>
#include <sitr/pdq.h>
#include <vips/vips.h>

#include "image_support.h"
#include "pdq_data.h"

/* The vendored PDQ corpus; a PNG test also uses the extended one. */
#define PDQ_DIR SITR_SOURCE_DIR "/tests/data/pdq"

static char tmpdir[256];

/* Writes data to tmpdir/name and returns the path (static buffer). */
static const char *put(const char *name, const void *data, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len > 0)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/sitr-hostile-XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return sitr_image_init("test_image_hostile") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    sitr_image_shutdown();
    return 0;
}

/* Hashes path and checks the error code; the message must be filled. */
static void expect_file_error(const char *path, int code)
{
    sitr_image_t img;
    sitr_err_t err = {0};
    int rc = sitr_image_hash_file(path, SITR_PDQ_WANT_DIHEDRAL, NULL, &img, &err);
    if (rc != code)
        fprintf(stderr, "%s: got %d (%s: %s), want %d\n", path, rc, sitr_strerror(rc), err.msg,
                code);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_true(err.msg[0] != '\0');
}

static void expect_buffer_error(const void *data, size_t len, const sitr_image_limits_t *lim,
                                int code)
{
    sitr_image_t img;
    sitr_err_t err = {0};
    int rc = sitr_image_hash_buffer(data, len, 0, lim, &img, &err);
    if (rc != code)
        fprintf(stderr, "buffer of %zu bytes: got %d (%s: %s), want %d\n", len, rc,
                sitr_strerror(rc), err.msg, code);
    assert_int_equal(rc, code);
    assert_true(err.msg[0] != '\0');
}

static void test_empty(void **state)
{
    (void)state;
    expect_file_error(put("empty.jpg", "", 0), SITR_EEMPTY);
    expect_buffer_error("", 0, NULL, SITR_EEMPTY);
}

static void test_not_found_dir_loop_fifo(void **state)
{
    (void)state;
    char path[512], a[512], b[512];
    snprintf(path, sizeof path, "%s/missing.jpg", tmpdir);
    expect_file_error(path, SITR_ENOENT);
    snprintf(path, sizeof path, "%s/dir.jpg", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_file_error(path, SITR_EISDIR);

    snprintf(a, sizeof a, "%s/loop-a.jpg", tmpdir);
    snprintf(b, sizeof b, "%s/loop-b.jpg", tmpdir);
    assert_int_equal(symlink(b, a), 0);
    assert_int_equal(symlink(a, b), 0);
    expect_file_error(a, SITR_ELOOP);

    /* A FIFO must be refused without blocking on open. */
    snprintf(path, sizeof path, "%s/fifo.jpg", tmpdir);
    assert_int_equal(mkfifo(path, 0600), 0);
    expect_file_error(path, SITR_EINVAL);

    /* A symlink to a real image is followed. */
    snprintf(path, sizeof path, "%s/link.jpg", tmpdir);
    assert_int_equal(symlink(PDQ_DIR "/misc-images/wee.jpg", path), 0);
    sitr_image_t img;
    sitr_err_t err;
    assert_int_equal(sitr_image_hash_file(path, 0, NULL, &img, &err), 0);
    assert_int_equal(img.width, 34);
}

static void test_limits(void **state)
{
    (void)state;
    sitr_image_limits_t lim;
    sitr_image_limits_default(&lim);
    assert_int_equal(lim.max_file_bytes, (size_t)256 << 20);
    assert_int_equal(lim.max_pixels, 100000000);

    sitr_image_t img;
    sitr_err_t err;
    lim.max_file_bytes = 1000; /* wee.jpg has 13664 bytes */
    assert_int_equal(sitr_image_hash_file(PDQ_DIR "/misc-images/wee.jpg", 0, &lim, &img, &err),
                     SITR_ETOOBIG);
    sitr_image_limits_default(&lim);
    lim.max_pixels = 34 * 42 - 1;
    assert_int_equal(sitr_image_hash_file(PDQ_DIR "/misc-images/wee.jpg", 0, &lim, &img, &err),
                     SITR_ETOOBIG);
    lim.max_pixels = 34 * 42;
    assert_int_equal(sitr_image_hash_file(PDQ_DIR "/misc-images/wee.jpg", 0, &lim, &img, &err), 0);
}

/* A deflated TIFF of w x h black pixels with the given number of bands. */
static void *many_band_tiff(int w, int h, int bands, size_t *len)
{
    VipsImage *im = NULL;
    void *buf = NULL;
    assert_int_equal(vips_black(&im, w, h, "bands", bands, NULL), 0);
    assert_int_equal(vips_tiffsave_buffer(im, &buf, len, "compression",
                                          VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE, NULL),
                     0);
    g_object_unref(im);
    return buf;
}

/* The pixel limit also bounds the samples: a TIFF can carry thousands of
 * bands per pixel (deflate makes them nearly free in the file), which would
 * multiply the decoding work and the row buffers past what max_pixels
 * promises.  Up to 5 bands (CMYK + alpha) per pixel of the limit pass. */
static void test_band_limit(void **state)
{
    (void)state;
    sitr_image_limits_t lim;
    sitr_image_limits_default(&lim);
    lim.max_pixels = 64 * 64;
    sitr_image_t img;
    sitr_err_t err;
    size_t len;
    void *buf = many_band_tiff(64, 64, 300, &len);
    assert_int_equal(sitr_image_hash_buffer(buf, len, 0, &lim, &img, &err), SITR_ETOOBIG);
    g_free(buf);
    buf = many_band_tiff(64, 64, 5, &len);
    assert_int_equal(sitr_image_hash_buffer(buf, len, 0, &lim, &img, &err), 0);
    g_free(buf);
    /* With room for them, extra bands are still accepted (and ignored). */
    lim.max_pixels = 64 * 64 * 60;
    buf = many_band_tiff(64, 64, 300, &len);
    assert_int_equal(sitr_image_hash_buffer(buf, len, 0, &lim, &img, &err), 0);
    g_free(buf);
}

/* Offset of the first JPEG marker m (0xFFm) before the first scan; for
 * m == 0xC0 any baseline, extended or progressive frame header. */
static size_t jpeg_marker(const uint8_t *p, size_t n, uint8_t m)
{
    size_t i = 2;
    while (i + 4 <= n && p[i] == 0xFF) {
        if (p[i + 1] == m || (m == 0xC0 && p[i + 1] >= 0xC0 && p[i + 1] <= 0xC2))
            return i;
        if (p[i + 1] == 0xDA)
            break;
        i += 2 + (((size_t)p[i + 2] << 8) | p[i + 3]);
    }
    fail_msg("marker %02x not found", m);
    return 0;
}

static void test_corrupt_and_truncated_jpeg(void **state)
{
    (void)state;
    size_t len;
    uint8_t *jpg = imgt_slurp(PDQ_DIR "/misc-images/wee.jpg", &len);
    assert_non_null(jpg);
    uint8_t *bad = malloc(len);
    assert_non_null(bad);

    /* A Huffman table whose 16 code counts add up to more than 256. */
    memcpy(bad, jpg, len);
    size_t dht = jpeg_marker(bad, len, 0xC4);
    memset(bad + dht + 5, 0xFF, 16);
    expect_file_error(put("bad-huffman.jpg", bad, len), SITR_ECORRUPT);

    /* A frame header with zero components. */
    memcpy(bad, jpg, len);
    size_t sof = jpeg_marker(bad, len, 0xC0);
    bad[sof + 9] = 0;
    expect_file_error(put("no-components.jpg", bad, len), SITR_ECORRUPT);

    /* SOI followed by garbage. */
    for (size_t i = 2; i < len; i++)
        bad[i] = (uint8_t)(i * 131u + 7u);
    expect_file_error(put("garbage.jpg", bad, len), SITR_ECORRUPT);

    /* Truncated inside the entropy-coded data, and right after the header. */
    expect_file_error(put("truncated.jpg", jpg, len * 2 / 3), SITR_ECORRUPT);
    size_t sos = jpeg_marker(jpg, len, 0xDA);
    expect_file_error(put("header-only.jpg", jpg, sos + 20), SITR_ECORRUPT);
    for (size_t cut = 3; cut < sos; cut += 97)
        expect_buffer_error(jpg, cut, NULL, SITR_ECORRUPT);

    /* A header claiming 65000x65000 pixels: refused before decoding. */
    memcpy(bad, jpg, len);
    bad[sof + 5] = 0xFD, bad[sof + 6] = 0xE8; /* height 65000 */
    bad[sof + 7] = 0xFD, bad[sof + 8] = 0xE8; /* width 65000 */
    expect_file_error(put("huge.jpg", bad, len), SITR_ETOOBIG);
    free(bad);
    free(jpg);
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* A PNG with a valid IHDR of w x h (8-bit RGB) and a tiny IDAT. */
static size_t png_header(uint8_t *out, uint32_t w, uint32_t h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    size_t n = 0;
    memcpy(out, sig, 8);
    n += 8;
    be32(out + n, 13);
    memcpy(out + n + 4, "IHDR", 4);
    be32(out + n + 8, w);
    be32(out + n + 12, h);
    out[n + 16] = 8, out[n + 17] = 2, out[n + 18] = 0, out[n + 19] = 0, out[n + 20] = 0;
    be32(out + n + 21, crc32_png(out + n + 4, 17));
    n += 25;
    /* IDAT: a zlib stream of one empty stored block (no rows at all). */
    static const uint8_t z[] = {0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01};
    be32(out + n, sizeof z);
    memcpy(out + n + 4, "IDAT", 4);
    memcpy(out + n + 8, z, sizeof z);
    be32(out + n + 8 + sizeof z, crc32_png(out + n + 4, 4 + sizeof z));
    n += 12 + sizeof z;
    be32(out + n, 0);
    memcpy(out + n + 4, "IEND", 4);
    be32(out + n + 8, crc32_png(out + n + 4, 4));
    return n + 12;
}

static void truncated_png(const char *path)
{
    size_t len;
    uint8_t *png = imgt_slurp(path, &len);
    assert_non_null(png);
    expect_file_error(put("truncated.png", png, len / 2), SITR_ECORRUPT);
    expect_buffer_error(png, 40, NULL, SITR_ECORRUPT);
    /* A flipped bit in compressed data breaks a CRC or the zlib stream. */
    png[len / 3] ^= 0x10;
    expect_file_error(put("bitflip.png", png, len), SITR_ECORRUPT);
    free(png);
}

static void test_png(void **state)
{
    (void)state;
    uint8_t hdr[128];
    size_t n = png_header(hdr, 100000, 100000);
    expect_file_error(put("huge.png", hdr, n), SITR_ETOOBIG);
    /* Under the limit but with no pixel data: corrupt, not a hash. */
    n = png_header(hdr, 64, 64);
    expect_file_error(put("empty-idat.png", hdr, n), SITR_ECORRUPT);
    /* Too small to hash: 3x3. */
    n = png_header(hdr, 3, 3);
    expect_file_error(put("tiny.png", hdr, n), SITR_ETOOSMALL);

    /* Truncated and bit-flipped: the bilevel PNG, and Meta's RGBA
     * pen-and-coaster.png when the extended corpus is present. */
    truncated_png(PDQ_DIR "/misc-images/modes/1.png");
    const pdqt_corpus_t *c = pdqt_extended("truncated pen-and-coaster.png");
    char path[1024];
    if (c != NULL)
        truncated_png(pdqt_path(c, "reg-test-input/pen-and-coaster.png", path, sizeof path));
}

/* The content decides, not the name. */
static void test_wrong_extension(void **state)
{
    (void)state;
    size_t len;
    uint8_t *png = imgt_slurp(PDQ_DIR "/misc-images/modes/1.png", &len);
    assert_non_null(png);
    sitr_image_t a, b;
    sitr_err_t err;
    assert_int_equal(sitr_image_hash_file(PDQ_DIR "/misc-images/modes/1.png", 0, NULL, &a, &err),
                     0);
    assert_int_equal(sitr_image_hash_file(put("really-a-png.jpg", png, len), 0, NULL, &b, &err), 0);
    assert_memory_equal(&a, &b, sizeof a);
    free(png);

    static const char text[] = "This is not a picture, just some text.\n";
    expect_file_error(put("text.jpg", text, sizeof text - 1), SITR_EFORMAT);
    static const uint8_t zeros[4096] = {0};
    expect_file_error(put("zeros.png", zeros, sizeof zeros), SITR_EFORMAT);
}

/* Formats libvips could read but sitr refuses (untrusted or not wanted). */
static void test_refused_formats(void **state)
{
    (void)state;
    static const char svg[] =
        "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" "
        "height=\"64\"><rect width=\"64\" height=\"64\" fill=\"red\"/></svg>\n";
    expect_file_error(put("image.svg", svg, sizeof svg - 1), SITR_EFORMAT);
    expect_file_error(put("image-svg.jpg", svg, sizeof svg - 1), SITR_EFORMAT);

    static const char pdf[] = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                              "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                              "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 64 64]>>endobj\n"
                              "trailer<</Root 1 0 R>>\n%%EOF\n";
    expect_file_error(put("doc.pdf", pdf, sizeof pdf - 1), SITR_EFORMAT);

    /* PPM: a plain pixel format, but libvips marks its loader untrusted. */
    uint8_t ppm[15 + 8 * 8 * 3];
    memcpy(ppm, "P6\n8 8\n255\n", 11);
    memset(ppm + 11, 0x80, sizeof ppm - 11);
    expect_file_error(put("image.ppm", ppm, sizeof ppm), SITR_EFORMAT);

    /* FITS header block. */
    char fits[2880];
    memset(fits, ' ', sizeof fits);
    static const char *const cards[] = {
        "SIMPLE  =                    T", "BITPIX  =                    8",
        "NAXIS   =                    2", "NAXIS1  =                    8",
        "NAXIS2  =                    8", "END"};
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++)
        memcpy(fits + 80 * i, cards[i], strlen(cards[i]));
    expect_file_error(put("image.fits", fits, sizeof fits), SITR_EFORMAT);

    /* Windows BMP: only ImageMagick would read it, and that loader is blocked. */
    uint8_t bmp[54 + 8 * 8 * 3] = {'B', 'M'};
    be32(bmp + 2, 0); /* size fields are not checked by the sniffer */
    bmp[10] = 54, bmp[14] = 40, bmp[18] = 8, bmp[22] = 8, bmp[26] = 1, bmp[28] = 24;
    expect_file_error(put("image.bmp", bmp, sizeof bmp), SITR_EFORMAT);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    sitr_image_t img;
    sitr_err_t err;
    assert_int_equal(sitr_image_hash_file(NULL, 0, NULL, &img, &err), SITR_EINVAL);
    assert_int_equal(sitr_image_hash_buffer("x", 1, 0x80, NULL, &img, &err), SITR_EINVAL);
    assert_int_equal(sitr_image_hash_buffer(NULL, 5, 0, NULL, &img, &err), SITR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_not_found_dir_loop_fifo),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_band_limit),
        cmocka_unit_test(test_corrupt_and_truncated_jpeg),
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_wrong_extension),
        cmocka_unit_test(test_refused_formats),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
