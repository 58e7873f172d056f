/* End-to-end conformance of the image front-end + PDQ core against Meta's
 * reference, on the vendored corpus (tests/data/pdq) and on the extended one
 * (SITR_SHARED_DIR/testdata/pdq) when present: every row of expected.csv and
 * expected-dihedral.csv hashed from the files, the decoded sizes of
 * frontend.csv, MD5/SHA-256 against values computed once with
 * md5sum/sha256sum, 16-bit reduction, first page of multi-page files,
 * cross-format agreement and hashing from several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include <sitr/hex.h>
#include <sitr/image.h>
#include <sitr/pdq.h>

#include "image_support.h"
#include "pdq_data.h"

/* Images whose end-to-end hash is allowed to differ from the reference
 * (decoder differences).  Empty: libvips' libjpeg-turbo, libpng and
 * libwebp give the reference's pixels for all 49 files.  An entry here
 * would still have to stay within Meta's bound (distance <= 10 for
 * quality >= 80). */
static const char *const known_differences[] = {NULL};

static int is_known_difference(const char *path)
{
    for (size_t i = 0; known_differences[i] != NULL; i++)
        if (strcmp(known_differences[i], path) == 0)
            return 1;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return sitr_image_init("test_image") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sitr_image_shutdown();
    return 0;
}

static void hash_or_fail(const char *path, unsigned flags, sitr_image_t *out)
{
    sitr_err_t err = {0};
    int rc = sitr_image_hash_file(path, flags, NULL, out, &err);
    if (rc != 0)
        fprintf(stderr, "%s: %s (%s)\n", path, sitr_strerror(rc), err.msg);
    assert_int_equal(rc, 0);
}

/* The corpus images (18 vendored, 49 extended) are hashed once (with
 * dihedral hashes) and the result reused by the tests that read
 * expected.csv, expected-dihedral.csv and frontend.csv: the decode
 * dominates the run time. */
static struct {
    char path[1024];
    sitr_image_t img;
} cache[80];
static int cached;

static const sitr_image_t *corpus_hash(const pdqt_corpus_t *c, const char *rel)
{
    char path[1024];
    pdqt_path(c, rel, path, sizeof path);
    for (int i = 0; i < cached; i++)
        if (strcmp(cache[i].path, path) == 0)
            return &cache[i].img;
    assert_true(cached < (int)(sizeof cache / sizeof cache[0]));
    snprintf(cache[cached].path, sizeof cache[cached].path, "%s", path);
    hash_or_fail(path, SITR_PDQ_WANT_DIHEDRAL, &cache[cached].img);
    return &cache[cached++].img;
}

/* Compares one computed hash with the reference's; returns the distance
 * and prints every difference. */
static int compare(const char *rel, const char *what, const sitr_pdq_t *got, const char *want_hex,
                   int quality)
{
    sitr_pdq_t want;
    assert_int_equal(sitr_pdq_from_hex(want_hex, strlen(want_hex), &want), 0);
    int d = sitr_pdq_distance(got, &want);
    if (d != 0)
        fprintf(stderr, "DIFF %s %s: distance %d, quality %d\n", rel, what, d, quality);
    return d;
}

static void check_difference(const char *rel, int d, int got_quality, int want_quality)
{
    if (d == 0 && got_quality == want_quality)
        return;
    if (!is_known_difference(rel)) {
        fprintf(stderr, "%s differs from the reference (distance %d, quality %d vs %d)\n", rel, d,
                got_quality, want_quality);
        fail();
    }
    if (want_quality >= 80)
        assert_true(d <= 10);
}

static void expected_csv(const pdqt_corpus_t *c)
{
    char path[1024];
    FILE *f = imgt_csv_open(pdqt_path(c, "expected.csv", path, sizeof path));
    char line[512];
    int rows = 0, exact = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char rel[256], hex[80];
        int quality;
        if (sscanf(line, "%255[^,],%79[^,],%d", rel, hex, &quality) != 3)
            continue;
        /* The plain path is what sitr hash prints: check it separately
         * from the dihedral path (the core has a 64x64 bypass only there). */
        pdqt_path(c, rel, path, sizeof path);
        sitr_image_t img;
        hash_or_fail(path, 0, &img);
        int d = compare(rel, "pdq", &img.pdq.hash, hex, quality);
        if (img.pdq.quality != quality)
            fprintf(stderr, "DIFF %s quality %d, reference %d\n", rel, img.pdq.quality, quality);
        check_difference(rel, d, img.pdq.quality, quality);
        exact += d == 0 && img.pdq.quality == quality;
        rows++;
    }
    fclose(f);
    fprintf(stderr, "%s expected.csv: %d of %d images exact\n", c->name, exact, rows);
    assert_int_equal(rows, c->images);
}

static void expected_dihedral_csv(const pdqt_corpus_t *c)
{
    static const char *const names[SITR_PDQ_DIHEDRAL_COUNT] = {
        "orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1"};
    char path[1024];
    FILE *f = imgt_csv_open(pdqt_path(c, "expected-dihedral.csv", path, sizeof path));
    char line[1024];
    int rows = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char rel[256], hex[SITR_PDQ_DIHEDRAL_COUNT][80];
        int quality;
        if (sscanf(line,
                   "%255[^,],%d,%79[^,],%79[^,],%79[^,],%79[^,],%79[^,],%79[^,],%79[^,],%79[^,\n]",
                   rel, &quality, hex[0], hex[1], hex[2], hex[3], hex[4], hex[5], hex[6],
                   hex[7]) != 10)
            continue;
        const sitr_image_t *img = corpus_hash(c, rel);
        for (int k = 0; k < SITR_PDQ_DIHEDRAL_COUNT; k++) {
            int d = compare(rel, names[k], &img->pdq.dihedral[k], hex[k], quality);
            check_difference(rel, d, img->pdq.quality, quality);
        }
        /* With dihedral hashes asked for, the plain hash is still there. */
        assert_memory_equal(&img->pdq.hash, &img->pdq.dihedral[SITR_PDQ_ORIG], sizeof(sitr_pdq_t));
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, c->images);
}

/* The decoded size is reported before the 512x512 pre-scale. */
static void frontend_sizes(const pdqt_corpus_t *c)
{
    char path[1024];
    FILE *f = imgt_csv_open(pdqt_path(c, "frontend.csv", path, sizeof path));
    char line[512];
    int rows = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char rel[256];
        int w, h;
        if (sscanf(line, "%255[^,],%d,%d,", rel, &w, &h) != 3)
            continue;
        const sitr_image_t *img = corpus_hash(c, rel);
        assert_int_equal(img->width, w);
        assert_int_equal(img->height, h);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, c->images);
}

/* Each of the three on the vendored corpus, then on the extended one. */
static void test_expected_csv(void **state)
{
    (void)state;
    expected_csv(pdqt_vendored());
}

static void test_expected_dihedral_csv(void **state)
{
    (void)state;
    expected_dihedral_csv(pdqt_vendored());
}

static void test_frontend_sizes(void **state)
{
    (void)state;
    frontend_sizes(pdqt_vendored());
}

static void test_expected_csv_extended(void **state)
{
    (void)state;
    const pdqt_corpus_t *c = pdqt_extended("expected.csv");
    if (c != NULL)
        expected_csv(c);
}

static void test_expected_dihedral_csv_extended(void **state)
{
    (void)state;
    const pdqt_corpus_t *c = pdqt_extended("expected-dihedral.csv");
    if (c != NULL)
        expected_dihedral_csv(c);
}

static void test_frontend_sizes_extended(void **state)
{
    (void)state;
    const pdqt_corpus_t *c = pdqt_extended("frontend.csv");
    if (c != NULL)
        frontend_sizes(c);
}

static void expect_digests(const pdqt_corpus_t *c, const char *rel, const char *md5_hex,
                           const char *sha_hex)
{
    char path[1024];
    pdqt_path(c, rel, path, sizeof path);
    sitr_image_t img;
    hash_or_fail(path, 0, &img);
    char hex[2 * SITR_SHA256_BYTES + 1];
    sitr_hex_encode(img.md5, SITR_MD5_BYTES, hex);
    assert_string_equal(hex, md5_hex);
    sitr_hex_encode(img.sha256, SITR_SHA256_BYTES, hex);
    assert_string_equal(hex, sha_hex);
}

static void test_digests(void **state)
{
    (void)state;
    uint8_t md5[SITR_MD5_BYTES], sha[SITR_SHA256_BYTES];
    char hex[2 * SITR_SHA256_BYTES + 1];
    /* FIPS 180-2 / RFC 1321 test vectors. */
    sitr_digest_md5("abc", 3, md5);
    sitr_hex_encode(md5, sizeof md5, hex);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
    sitr_digest_sha256("abc", 3, sha);
    sitr_hex_encode(sha, sizeof sha, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sitr_digest_sha256("", 0, sha);
    sitr_hex_encode(sha, sizeof sha, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* Files, against md5sum / sha256sum. */
    const pdqt_corpus_t *v = pdqt_vendored();
    expect_digests(v, "misc-images/wee.jpg", "8bbbaa9540800e378beadc8bbef7bb32",
                   "05636c50d0c2ffe3a820f964eaba35b404deadd10538fe452ad9fb16fdd823d7");
    expect_digests(v, "misc-images/modes/1.png", "0f8fa4463283895f5db02dead0186e78",
                   "5c4695cfb1ebcb82f963063b1a6bdeb46e906506c8be5ab12b6d1015f0eead12");
    expect_digests(v, "misc-images/modes/PA.webp", "c95cf0a710d36a778e6ade7597948770",
                   "954f8e5b30b39949ae755c16744ed177d037ff35abc6bef2389c1022afdf5b36");
    const pdqt_corpus_t *x = pdqt_extended("pen-and-coaster.png digests");
    if (x != NULL)
        expect_digests(x, "reg-test-input/pen-and-coaster.png", "e26b99893e82b864089da14d255df5a4",
                       "9bb522d00383f83f462058e06a09cc01fde43c0cff0238031aaff8ca1cfdb36d");
}

/* The digest code against GLib's on every length around the block size
 * and on a large buffer (covers the SHA-NI path where the CPU has it). */
static void test_digest_lengths(void **state)
{
    (void)state;
    size_t big = (3u << 20) + 77;
    uint8_t *buf = malloc(big);
    assert_non_null(buf);
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    char hex[2 * SITR_SHA256_BYTES + 1];
    for (size_t len = 0; len <= 300; len++) {
        uint8_t sha[SITR_SHA256_BYTES], md5[SITR_MD5_BYTES];
        sitr_digest_sha256(buf + 1, len, sha);
        sitr_hex_encode(sha, sizeof sha, hex);
        gchar *want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf + 1, len);
        assert_string_equal(hex, want);
        g_free(want);
        sitr_digest_md5(buf, len, md5);
        sitr_hex_encode(md5, sizeof md5, hex);
        want = g_compute_checksum_for_data(G_CHECKSUM_MD5, buf, len);
        assert_string_equal(hex, want);
        g_free(want);
    }
    uint8_t sha[SITR_SHA256_BYTES];
    sitr_digest_sha256(buf, big, sha);
    sitr_hex_encode(sha, sizeof sha, hex);
    gchar *want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf, big);
    assert_string_equal(hex, want);
    g_free(want);
    free(buf);
}

/* Every seed of the fuzz corpus is a valid small image of one format or
 * pixel layout (AVIF, GIF, TIFF, WebP, progressive and CMYK JPEG, 1-bit,
 * palette and 16-bit PNG...): each must hash. */
static void test_seed_formats(void **state)
{
    (void)state;
    const char *dir = SITR_SOURCE_DIR "/tests/fuzz/corpus/decode";
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        sitr_image_t img;
        hash_or_fail(path, 0, &img);
        assert_int_equal(img.width, 17);
        assert_int_equal(img.height, 21);
        n++;
    }
    closedir(d);
    assert_true(n >= 10);
}

/* Hashing from memory gives what hashing the file gives. */
static void buffer_equals_file(const pdqt_corpus_t *c, const char *rel)
{
    char path[1024];
    pdqt_path(c, rel, path, sizeof path);
    sitr_image_t a, b;
    hash_or_fail(path, SITR_PDQ_WANT_DIHEDRAL, &a);
    size_t len;
    uint8_t *data = imgt_slurp(path, &len);
    assert_non_null(data);
    sitr_err_t err = {0};
    assert_int_equal(sitr_image_hash_buffer(data, len, SITR_PDQ_WANT_DIHEDRAL, NULL, &b, &err), 0);
    free(data);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_buffer_equals_file(void **state)
{
    (void)state;
    buffer_equals_file(pdqt_vendored(), "misc-images/modes/CMYK.jpg");
    const pdqt_corpus_t *c = pdqt_extended("bridge-2-rotate-90.jpg from memory");
    if (c != NULL)
        buffer_equals_file(c, "reg-test-input/dih/bridge-2-rotate-90.jpg");
}

/* Encodes img with a libvips saver into a malloc'd buffer. */
static uint8_t *encode(VipsImage *img, const char *suffix, size_t *len)
{
    void *buf = NULL;
    if (vips_image_write_to_buffer(img, suffix, &buf, len, NULL) != 0) {
        fprintf(stderr, "cannot encode %s: %s\n", suffix, vips_error_buffer());
        return NULL;
    }
    uint8_t *copy = malloc(*len);
    assert_non_null(copy);
    memcpy(copy, buf, *len);
    g_free(buf);
    return copy;
}

static void hash_buf_or_fail(const uint8_t *data, size_t len, sitr_image_t *out)
{
    sitr_err_t err = {0};
    int rc = sitr_image_hash_buffer(data, len, 0, NULL, out, &err);
    if (rc != 0)
        fprintf(stderr, "%s (%s)\n", sitr_strerror(rc), err.msg);
    assert_int_equal(rc, 0);
}

/* Loads a reference image fully into memory as an 8-bit sRGB VipsImage. */
static VipsImage *load_rgb(const pdqt_corpus_t *c, const char *rel)
{
    char path[1024];
    pdqt_path(c, rel, path, sizeof path);
    size_t len;
    uint8_t *data = imgt_slurp(path, &len);
    assert_non_null(data);
    VipsImage *img = vips_image_new_from_buffer(data, len, "", NULL);
    assert_non_null(img);
    VipsImage *mem = vips_image_copy_memory(img);
    assert_non_null(mem);
    g_object_unref(img);
    free(data);
    return mem;
}

/* 16-bit samples are reduced by their high byte: a 16-bit PNG whose
 * samples are v*256 + noise hashes like the 8-bit PNG of v.  (The
 * reference keeps the low byte and would hash the noise.) */
static void png_16bit(const pdqt_corpus_t *c, const char *rel)
{
    VipsImage *rgb = load_rgb(c, rel);
    size_t len8, len16;
    uint8_t *png8 = encode(rgb, ".png", &len8);
    assert_non_null(png8);

    /* v*256 + (x*7 + y*13) % 256 as ushort, tagged RGB16. */
    VipsImage *wide = NULL, *scaled = NULL, *xy = NULL, *noise = NULL, *sum = NULL, *u16 = NULL;
    assert_int_equal(vips_cast(rgb, &wide, VIPS_FORMAT_USHORT, NULL), 0);
    assert_int_equal(vips_linear1(wide, &scaled, 256.0, 0.0, NULL), 0);
    assert_int_equal(vips_xyz(&xy, rgb->Xsize, rgb->Ysize, NULL), 0);
    VipsImage *xb = NULL, *yb = NULL, *xs = NULL, *ys = NULL, *s = NULL;
    assert_int_equal(vips_extract_band(xy, &xb, 0, NULL), 0);
    assert_int_equal(vips_extract_band(xy, &yb, 1, NULL), 0);
    assert_int_equal(vips_linear1(xb, &xs, 7.0, 0.0, NULL), 0);
    assert_int_equal(vips_linear1(yb, &ys, 13.0, 0.0, NULL), 0);
    assert_int_equal(vips_add(xs, ys, &s, NULL), 0);
    assert_int_equal(vips_remainder_const1(s, &noise, 256.0, NULL), 0);
    assert_int_equal(vips_add(scaled, noise, &sum, NULL), 0);
    assert_int_equal(vips_cast(sum, &u16, VIPS_FORMAT_USHORT, NULL), 0);
    VipsImage *tagged = NULL;
    assert_int_equal(vips_copy(u16, &tagged, "interpretation", VIPS_INTERPRETATION_RGB16, NULL), 0);
    uint8_t *png16 = encode(tagged, ".png[bitdepth=16]", &len16);
    assert_non_null(png16);
    assert_true(len16 > len8);

    sitr_image_t a, b;
    hash_buf_or_fail(png8, len8, &a);
    hash_buf_or_fail(png16, len16, &b);
    assert_memory_equal(&a.pdq, &b.pdq, sizeof a.pdq);
    assert_true(a.pdq.quality >= 80);

    VipsImage *all[] = {rgb, wide, scaled, xy, xb, yb, xs, ys, s, noise, sum, u16, tagged};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        g_object_unref(all[i]);
    free(png8);
    free(png16);
}

/* The bridge photo: bridge-mods/aaa-orig.jpg is byte for byte Meta's
 * misc-images/modes/original.jpg. */
static void test_16bit_png(void **state)
{
    (void)state;
    png_16bit(pdqt_vendored(), "bridge-mods/aaa-orig.jpg");
    const pdqt_corpus_t *c = pdqt_extended("16-bit PNG of modes/original.jpg");
    if (c != NULL)
        png_16bit(c, "misc-images/modes/original.jpg");
}

/* Lossless re-encodings of rel_a hash alike; multi-page files hash their
 * first page (rel_b, at least as wide as rel_a, gives the second page). */
static void formats_and_first_page(const pdqt_corpus_t *c, const char *rel_a, const char *rel_b)
{
    VipsImage *a = load_rgb(c, rel_a);
    VipsImage *b = load_rgb(c, rel_b);
    size_t len;
    uint8_t *png = encode(a, ".png", &len);
    assert_non_null(png);
    sitr_image_t want, got;
    hash_buf_or_fail(png, len, &want);
    free(png);

    const char *lossless[] = {".tif", ".webp[lossless]"};
    for (size_t i = 0; i < sizeof lossless / sizeof lossless[0]; i++) {
        uint8_t *enc = encode(a, lossless[i], &len);
        assert_non_null(enc);
        hash_buf_or_fail(enc, len, &got);
        if (memcmp(&want.pdq, &got.pdq, sizeof want.pdq) != 0)
            fprintf(stderr, "%s differs from PNG\n", lossless[i]);
        assert_memory_equal(&want.pdq, &got.pdq, sizeof want.pdq);
        free(enc);
    }

    /* Two pages of the same size: a, then b cropped. */
    VipsImage *b2 = NULL, *pages = NULL, *tagged = NULL;
    assert_int_equal(
        vips_crop(b, &b2, 0, 0, a->Xsize, a->Ysize < b->Ysize ? a->Ysize : b->Ysize, NULL), 0);
    assert_int_equal(b2->Ysize, a->Ysize);
    VipsImage *both[] = {a, b2};
    assert_int_equal(vips_arrayjoin(both, &pages, 2, "across", 1, NULL), 0);
    assert_int_equal(vips_copy(pages, &tagged, NULL), 0);
    vips_image_set_int(tagged, "page-height", a->Ysize);
    const char *multi[] = {".tif", ".webp[lossless]", ".gif"};
    for (size_t i = 0; i < sizeof multi / sizeof multi[0]; i++) {
        uint8_t *enc = encode(tagged, multi[i], &len);
        assert_non_null(enc);
        hash_buf_or_fail(enc, len, &got);
        assert_int_equal(got.height, a->Ysize);
        assert_int_equal(got.width, a->Xsize);
        if (i < 2) /* GIF quantises colours: only the size is exact */
            assert_memory_equal(&want.pdq, &got.pdq, sizeof want.pdq);
        else
            assert_true(sitr_pdq_distance(&want.pdq.hash, &got.pdq.hash) <= 31);
        free(enc);
    }
    g_object_unref(tagged);
    g_object_unref(pages);
    g_object_unref(b2);
    g_object_unref(a);
    g_object_unref(b);
}

/* Vendored: a WebP with alpha and the bridge photo; extended: the RGBA
 * pen-and-coaster.png and c.png. */
static void test_formats_and_first_page(void **state)
{
    (void)state;
    formats_and_first_page(pdqt_vendored(), "misc-images/modes/PA.webp",
                           "bridge-mods/aaa-orig.jpg");
    const pdqt_corpus_t *c = pdqt_extended("re-encodings of pen-and-coaster.png");
    if (c != NULL)
        formats_and_first_page(c, "reg-test-input/pen-and-coaster.png", "misc-images/c.png");
}

struct job {
    const pdqt_corpus_t *c;
    const char *rel;
    sitr_image_t img;
    int rc;
};

static void *worker(void *arg)
{
    struct job *jobs = arg;
    for (int round = 0; round < 3; round++)
        for (struct job *j = jobs; j->rel != NULL; j++) {
            char path[1024];
            pdqt_path(j->c, j->rel, path, sizeof path);
            sitr_image_t img;
            sitr_err_t err;
            int rc = sitr_image_hash_file(path, SITR_PDQ_WANT_DIHEDRAL, NULL, &img, &err);
            if (round == 0) {
                j->img = img;
                j->rc = rc;
            } else if (rc != j->rc || (rc == 0 && memcmp(&img, &j->img, sizeof img) != 0)) {
                j->rc = -12345;
            }
        }
    return NULL;
}

/* Hashing is thread-safe and deterministic: four files (CMYK JPEG, a PNG,
 * a WebP with alpha, a JPEG of grey pixels) hashed by three threads. */
static void threads(const pdqt_corpus_t *c, const char *const rels[4])
{
    enum { N = 4, T = 3 };
    struct job jobs[T][N + 1];
    pthread_t th[T];
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < N; i++)
            jobs[t][i] = (struct job){.c = c, .rel = rels[i]};
        jobs[t][N] = (struct job){.rel = NULL};
        assert_int_equal(pthread_create(&th[t], NULL, worker, jobs[t]), 0);
    }
    for (int t = 0; t < T; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int i = 0; i < N; i++) {
        sitr_image_t serial;
        char path[1024];
        pdqt_path(c, rels[i], path, sizeof path);
        hash_or_fail(path, SITR_PDQ_WANT_DIHEDRAL, &serial);
        for (int t = 0; t < T; t++) {
            assert_int_equal(jobs[t][i].rc, 0);
            assert_memory_equal(&jobs[t][i].img, &serial, sizeof serial);
        }
    }
}

static void test_threads(void **state)
{
    (void)state;
    const char *const vendored[4] = {"misc-images/modes/CMYK.jpg", "misc-images/modes/1.png",
                                     "misc-images/modes/PA.webp",
                                     "reg-test-input/labelme-subset/q2821.jpg"};
    threads(pdqt_vendored(), vendored);
    const char *const extended[4] = {"misc-images/modes/CMYK.jpg", "misc-images/modes/LA.png",
                                     "misc-images/modes/PA.webp",
                                     "reg-test-input/labelme-subset/q2821.jpg"};
    const pdqt_corpus_t *c = pdqt_extended("threads on modes/LA.png");
    if (c != NULL)
        threads(c, extended);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expected_csv),
        cmocka_unit_test(test_expected_dihedral_csv),
        cmocka_unit_test(test_frontend_sizes),
        cmocka_unit_test(test_expected_csv_extended),
        cmocka_unit_test(test_expected_dihedral_csv_extended),
        cmocka_unit_test(test_frontend_sizes_extended),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_digest_lengths),
        cmocka_unit_test(test_seed_formats),
        cmocka_unit_test(test_buffer_equals_file),
        cmocka_unit_test(test_16bit_png),
        cmocka_unit_test(test_formats_and_first_page),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
