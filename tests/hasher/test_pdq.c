/* PDQ core tests: bit-exact conformance with Meta's reference on every
 * luma vector of the vendored corpus (tests/data/pdq/luma), and of the
 * extended one (SITR_SHARED_DIR/testdata/pdq/luma) when present (hash,
 * quality, the eight dihedral
 * hashes, the 64x64 and 16x16 intermediates and the median), for the portable
 * and the AVX2 code paths; differential tests between the two paths on odd
 * sizes; thread safety; hex parsing and Hamming distance.
 *
 * Every comparison is exact (memcmp of float bytes, string equality of hex),
 * so a single flipped bit anywhere fails the test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hasher/pdq_int.h"
#include <sitr/pdq.h>

#include "pdq_data.h"

static const char *const dih_names[SITR_PDQ_DIHEDRAL_COUNT] = {
    "orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1"};

/* ---- helpers ---- */

/* Reads a whole file; NULL if it does not exist. */
static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* path = <corpus>/luma/ name suffix; fails the test if it does not fit. */
static void luma_path(const pdqt_corpus_t *c, char *path, size_t size, const char *name,
                      const char *suffix)
{
    int len = snprintf(path, size, "%s/luma/%s%s", c->dir, name, suffix);
    assert_true(len > 0 && (size_t)len < size);
}

static float *read_f32(const pdqt_corpus_t *c, const char *name, const char *suffix, size_t want,
                       int required)
{
    char path[1024];
    luma_path(c, path, sizeof path, name, suffix);
    size_t len = 0;
    float *v = read_file(path, &len);
    if (v == NULL) {
        if (required)
            fail_msg("missing %s", path);
        return NULL;
    }
    if (len != want * sizeof(float))
        fail_msg("%s: %zu bytes, expected %zu", path, len, want * sizeof(float));
    return v;
}

static void hex_of(const sitr_pdq_t *h, char out[SITR_PDQ_HEX_LEN + 1])
{
    sitr_pdq_to_hex(h, out);
}

/* Describes the first differing float so a failure says where. */
static void assert_floats_identical(const float *got, const float *want, size_t n, const char *what,
                                    const char *name, const char *impl)
{
    if (memcmp(got, want, n * sizeof(float)) == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        uint32_t g, w;
        memcpy(&g, &got[i], 4);
        memcpy(&w, &want[i], 4);
        if (g != w)
            fail_msg("%s %s [%s]: first difference at %zu: got %08x (%.9g), want %08x (%.9g)", name,
                     what, impl, i, (unsigned)g, (double)got[i], (unsigned)w, (double)want[i]);
    }
}

static int impls[SITR_PDQ_IMPL_COUNT_];
static int n_impls;

static void init_impls(void)
{
    n_impls = 0;
    impls[n_impls++] = SITR_PDQ_IMPL_SCALAR;
    if (sitr_pdq_impl_supported(SITR_PDQ_IMPL_AVX2))
        impls[n_impls++] = SITR_PDQ_IMPL_AVX2;
    else
        print_message("note: AVX2 not available on this CPU; vector path not exercised\n");
}

/* ---- conformance vectors ---- */

struct vec {
    char name[128];
    int width, height, quality;
    char hex[SITR_PDQ_HEX_LEN + 1];
};

static int load_index(const pdqt_corpus_t *c, struct vec *v, int max)
{
    size_t len;
    char path[1024];
    char *csv = read_file(pdqt_path(c, "luma/index.csv", path, sizeof path), &len);
    assert_non_null(csv);
    int n = 0;
    char *save = NULL;
    char *line = strtok_r(csv, "\n", &save);
    assert_non_null(line);
    assert_string_equal(line, "name,source,width,height,pdq_hex,quality,luma_sha256");
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        assert_true(n < max);
        char name[128], src[512], hex[80], sha[80];
        int w, h, q;
        int got = sscanf(line, "%127[^,],%511[^,],%d,%d,%79[^,],%d,%79s", name, src, &w, &h, hex,
                         &q, sha);
        assert_int_equal(got, 7);
        assert_int_equal(strlen(hex), SITR_PDQ_HEX_LEN);
        snprintf(v[n].name, sizeof v[n].name, "%s", name);
        v[n].width = w;
        v[n].height = h;
        v[n].quality = q;
        memcpy(v[n].hex, hex, SITR_PDQ_HEX_LEN + 1);
        n++;
    }
    free(csv);
    return n;
}

static void check_vector(const pdqt_corpus_t *c, const struct vec *v, int impl)
{
    const char *iname = sitr_pdq_impl_name(impl);
    const int rows = v->height, cols = v->width;
    const size_t n = (size_t)rows * (size_t)cols;
    float *luma = read_f32(c, v->name, ".luma.f32", n, 1);
    float *luma_copy = malloc(n * sizeof(float));
    assert_non_null(luma_copy);
    memcpy(luma_copy, luma, n * sizeof(float));

    char path[1024];
    luma_path(c, path, sizeof path, v->name, ".json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        fail_msg("%s: %s", path, jerr.text);
    json_t *exp = json_object_get(root, "expected");
    assert_non_null(exp);
    assert_string_equal(json_string_value(json_object_get(exp, "pdq_hex")), v->hex);
    json_t *dih = json_object_get(exp, "dihedral");
    assert_non_null(dih);

    /* Plain hash. */
    sitr_pdq_result_t r;
    char hex[SITR_PDQ_HEX_LEN + 1];
    assert_int_equal(sitr_pdq_hash_impl(luma, rows, cols, 0, impl, &r), 0);
    hex_of(&r.hash, hex);
    if (strcmp(hex, v->hex) != 0)
        fail_msg("%s [%s]: hash %s, want %s (distance ignored: must be exact)", v->name, iname, hex,
                 v->hex);
    if (r.quality != v->quality)
        fail_msg("%s [%s]: quality %d, want %d", v->name, iname, r.quality, v->quality);

    /* Dihedral hashes (and the plain hash again, from the same call). */
    sitr_pdq_result_t rd;
    assert_int_equal(sitr_pdq_hash_impl(luma, rows, cols, SITR_PDQ_WANT_DIHEDRAL, impl, &rd), 0);
    assert_memory_equal(&rd.hash, &r.hash, sizeof r.hash);
    assert_int_equal(rd.quality, r.quality);
    for (int d = 0; d < SITR_PDQ_DIHEDRAL_COUNT; d++) {
        const char *want = json_string_value(json_object_get(dih, dih_names[d]));
        assert_non_null(want);
        hex_of(&rd.dihedral[d], hex);
        if (strcmp(hex, want) != 0)
            fail_msg("%s [%s]: dihedral %s %s, want %s", v->name, iname, dih_names[d], hex, want);
    }

    /* The public entry point agrees with the forced path. */
    sitr_pdq_result_t rp;
    assert_int_equal(sitr_pdq_hash(luma, rows, cols, SITR_PDQ_WANT_DIHEDRAL, &rp), 0);
    assert_memory_equal(&rp, &rd, sizeof rp);

    /* The input is borrowed read-only. */
    assert_memory_equal(luma, luma_copy, n * sizeof(float));

    /* Intermediates. */
    float *b64 = read_f32(c, v->name, ".b64x64.f32", 64 * 64, 0);
    float *dct = read_f32(c, v->name, ".dct16x16.f32", 16 * 16, 0);
    if (rows >= 5 && cols >= 5) {
        assert_non_null(b64);
        assert_non_null(dct);
        float a[64 * 64], b[16 * 16];
        if (rows == 64 && cols == 64) {
            /* Plain path bypass: the buffer is the input itself. */
            assert_floats_identical(luma, b64, 64 * 64, "b64x64 (bypass)", v->name, iname);
        } else {
            assert_int_equal(sitr_pdq_downsample(luma, rows, cols, impl, a), 0);
            assert_floats_identical(a, b64, 64 * 64, "b64x64", v->name, iname);
        }
        assert_int_equal(sitr_pdq_quality(b64, impl), v->quality);
        sitr_pdq_dct(b64, impl, b);
        assert_floats_identical(b, dct, 16 * 16, "dct16x16", v->name, iname);

        const char *mhex = json_string_value(json_object_get(exp, "median_f32_hex"));
        assert_non_null(mhex);
        float med = sitr_pdq_median(b);
        uint32_t mbits;
        memcpy(&mbits, &med, 4);
        char mbuf[16];
        snprintf(mbuf, sizeof mbuf, "%08x", (unsigned)mbits);
        if (strcmp(mbuf, mhex) != 0)
            fail_msg("%s [%s]: median %s, want %s", v->name, iname, mbuf, mhex);

        json_int_t weight = json_integer_value(json_object_get(exp, "hamming_weight"));
        sitr_pdq_t zero;
        memset(&zero, 0, sizeof zero);
        assert_int_equal(sitr_pdq_distance(&r.hash, &zero), (int)weight);
    } else {
        /* Too small: no intermediates, zero hashes, quality 0. */
        assert_null(b64);
        assert_int_equal(r.quality, 0);
    }
    free(b64);
    free(dct);
    json_decref(root);
    free(luma_copy);
    free(luma);
}

static void conformance_vectors(const pdqt_corpus_t *c)
{
    struct vec v[64];
    int n = load_index(c, v, 64);
    assert_int_equal(n, c->luma_vectors);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n_impls; k++)
            check_vector(c, &v[i], impls[k]);
    print_message("%s: checked %d vectors x %d implementation(s)\n", c->name, n, n_impls);
}

static void test_conformance_vectors(void **state)
{
    (void)state;
    conformance_vectors(pdqt_vendored());
}

static void test_conformance_vectors_extended(void **state)
{
    (void)state;
    const pdqt_corpus_t *c = pdqt_extended("luma vectors");
    if (c != NULL)
        conformance_vectors(c);
}

/* The DCT table is the reference's (the .f32 file), bit for bit. */
static void dct_table(const pdqt_corpus_t *c)
{
    float *m = read_f32(c, "dct-matrix-16x64", ".f32", 16 * 64, 1);
    assert_memory_equal(m, sitr_pdq_dct_matrix.f, 16 * 64 * sizeof(float));
    free(m);
}

static void test_dct_table(void **state)
{
    (void)state;
    dct_table(pdqt_vendored());
    const pdqt_corpus_t *c = pdqt_extended("DCT table");
    if (c != NULL)
        dct_table(c);
}

/* ---- differential: portable vs AVX2 on sizes the vectors do not cover ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void fill_luma(float *l, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: /* 8-bit grey values */
            l[i] = (float)(rnd() % 256);
            break;
        case 1: /* luma-like fractions */
            l[i] = (float)(rnd() % 25500) * 0.01f + 0.299f;
            break;
        default: /* wide range, signs, tiny values */
            l[i] = ((float)(int32_t)rnd() / 65536.0f) * ((rnd() & 1) ? 1e-6f : 3.0f);
            break;
        }
    }
}

static void test_scalar_vs_avx2(void **state)
{
    (void)state;
    if (!sitr_pdq_impl_supported(SITR_PDQ_IMPL_AVX2)) {
        skip();
        return;
    }
    static const int sizes[][2] = {{5, 5},     {5, 300},   {300, 5},   {7, 9},    {31, 33},
                                   {32, 32},   {33, 31},   {64, 64},   {65, 63},  {100, 160},
                                   {127, 129}, {128, 128}, {129, 257}, {250, 97}, {256, 256},
                                   {385, 511}, {512, 512}, {513, 200}, {640, 41}, {1000, 12}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int rows = sizes[s][0], cols = sizes[s][1];
        const size_t n = (size_t)rows * cols;
        float *l = malloc(n * sizeof(float));
        assert_non_null(l);
        for (int kind = 0; kind < 3; kind++) {
            fill_luma(l, n, kind);
            float a0[64 * 64], a1[64 * 64], b0[256], b1[256];
            assert_int_equal(sitr_pdq_downsample(l, rows, cols, SITR_PDQ_IMPL_SCALAR, a0), 0);
            assert_int_equal(sitr_pdq_downsample(l, rows, cols, SITR_PDQ_IMPL_AVX2, a1), 0);
            char what[64];
            snprintf(what, sizeof what, "b64x64 %dx%d kind %d", rows, cols, kind);
            assert_floats_identical(a1, a0, 64 * 64, what, "random", "avx2 vs scalar");
            assert_int_equal(sitr_pdq_quality(a0, SITR_PDQ_IMPL_SCALAR),
                             sitr_pdq_quality(a0, SITR_PDQ_IMPL_AVX2));
            sitr_pdq_dct(a0, SITR_PDQ_IMPL_SCALAR, b0);
            sitr_pdq_dct(a0, SITR_PDQ_IMPL_AVX2, b1);
            snprintf(what, sizeof what, "dct %dx%d kind %d", rows, cols, kind);
            assert_floats_identical(b1, b0, 256, what, "random", "avx2 vs scalar");
            sitr_pdq_result_t r0, r1;
            assert_int_equal(sitr_pdq_hash_impl(l, rows, cols, SITR_PDQ_WANT_DIHEDRAL,
                                                SITR_PDQ_IMPL_SCALAR, &r0),
                             0);
            assert_int_equal(
                sitr_pdq_hash_impl(l, rows, cols, SITR_PDQ_WANT_DIHEDRAL, SITR_PDQ_IMPL_AVX2, &r1),
                0);
            assert_memory_equal(&r0, &r1, sizeof r0);
        }
        free(l);
    }
}

/* Quality on extreme buffers: both paths clamp the same way, no UB. */
static void test_quality_extremes(void **state)
{
    (void)state;
    float a[64 * 64];
    for (int i = 0; i < 64 * 64; i++)
        a[i] = (i + i / 64) % 2 ? 3e38f : -3e38f;
    for (int k = 0; k < n_impls; k++)
        assert_int_equal(sitr_pdq_quality(a, impls[k]), 100);
    for (int i = 0; i < 64 * 64; i++)
        a[i] = 42.0f;
    for (int k = 0; k < n_impls; k++)
        assert_int_equal(sitr_pdq_quality(a, impls[k]), 0);
    /* One step of 2.55 between neighbours gives |d| = 1 per pair. */
    for (int i = 0; i < 64 * 64; i++)
        a[i] = (float)(i % 64) * 2.56f;
    for (int k = 0; k < n_impls; k++)
        assert_int_equal(sitr_pdq_quality(a, impls[k]), 64 * 63 / 90);
}

/* ---- unit tests ---- */

static void test_too_small(void **state)
{
    (void)state;
    float l[9 * 9];
    for (int i = 0; i < 81; i++)
        l[i] = (float)(i * 37 % 255);
    static const int sizes[][2] = {{4, 9}, {9, 4}, {4, 4}, {1, 100}, {0, 0}, {0, 7}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int k = 0; k < n_impls; k++) {
            sitr_pdq_result_t r;
            memset(&r, 0xa5, sizeof r);
            assert_int_equal(sitr_pdq_hash_impl(l, sizes[s][0], sizes[s][1], SITR_PDQ_WANT_DIHEDRAL,
                                                impls[k], &r),
                             0);
            sitr_pdq_result_t zero;
            memset(&zero, 0, sizeof zero);
            assert_memory_equal(&r, &zero, sizeof r);
        }
    }
    /* 5x5 is hashable and not all zero. */
    sitr_pdq_result_t r;
    assert_int_equal(sitr_pdq_hash(l, 5, 5, 0, &r), 0);
    sitr_pdq_t zero;
    memset(&zero, 0, sizeof zero);
    assert_true(sitr_pdq_distance(&r.hash, &zero) > 0);
}

static void test_flat(void **state)
{
    (void)state;
    /* An all-zero image: every DCT value is exactly 0, the median is 0 and
     * no coefficient is strictly greater: all-zero hashes. */
    static float l[200 * 150];
    memset(l, 0, sizeof l);
    for (int k = 0; k < n_impls; k++) {
        sitr_pdq_result_t r, zero;
        memset(&zero, 0, sizeof zero);
        assert_int_equal(sitr_pdq_hash_impl(l, 150, 200, SITR_PDQ_WANT_DIHEDRAL, impls[k], &r), 0);
        assert_memory_equal(&r, &zero, sizeof r);
    }
    /* A constant non-zero image: quality 0, and both paths agree on the
     * rounding-noise hash (the reference value is pinned by the
     * synth-flat-128x128 vector). */
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
        l[i] = 77.0f;
    sitr_pdq_result_t r0;
    assert_int_equal(
        sitr_pdq_hash_impl(l, 150, 200, SITR_PDQ_WANT_DIHEDRAL, SITR_PDQ_IMPL_SCALAR, &r0), 0);
    assert_int_equal(r0.quality, 0);
    for (int k = 0; k < n_impls; k++) {
        sitr_pdq_result_t r;
        assert_int_equal(sitr_pdq_hash_impl(l, 150, 200, SITR_PDQ_WANT_DIHEDRAL, impls[k], &r), 0);
        assert_memory_equal(&r, &r0, sizeof r);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    float l[10 * 10] = {0};
    sitr_pdq_result_t r;
    assert_int_equal(sitr_pdq_hash(l, 10, 10, 0, NULL), SITR_EINVAL);
    assert_int_equal(sitr_pdq_hash(NULL, 10, 10, 0, &r), SITR_EINVAL);
    assert_int_equal(sitr_pdq_hash(l, -1, 10, 0, &r), SITR_EINVAL);
    assert_int_equal(sitr_pdq_hash(l, 10, -3, 0, &r), SITR_EINVAL);
    assert_int_equal(sitr_pdq_hash(l, 10, 10, 0x80, &r), SITR_EINVAL);
    assert_int_equal(sitr_pdq_hash_impl(l, 10, 10, 0, 99, &r), SITR_EINVAL);
    l[55] = NAN;
    assert_int_equal(sitr_pdq_hash(l, 10, 10, 0, &r), SITR_EINVAL);
    l[55] = INFINITY;
    assert_int_equal(sitr_pdq_hash(l, 10, 10, SITR_PDQ_WANT_DIHEDRAL, &r), SITR_EINVAL);
    static float l64[64 * 64];
    l64[100] = NAN;
    assert_int_equal(sitr_pdq_hash(l64, 64, 64, 0, &r), SITR_EINVAL);
}

/* Median: the 128th smallest, not an average; ties and signed zeros. */
static void test_median(void **state)
{
    (void)state;
    float b[256];
    for (int i = 0; i < 256; i++)
        b[i] = (float)((i * 97) % 256); /* a permutation of 0..255 */
    assert_true(sitr_pdq_median(b) == 127.0f);
    for (int i = 0; i < 256; i++)
        b[i] = i < 200 ? -0.0f : 0.0f;
    assert_true(sitr_pdq_median(b) == 0.0f);
    sitr_pdq_t h;
    sitr_pdq_threshold(b, sitr_pdq_median(b), &h);
    sitr_pdq_t zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&h, &zero, sizeof h);
    /* Bit layout: only coefficient (0,0) above the median -> last byte bit 0;
     * only (15,15) -> first byte bit 7. */
    for (int i = 0; i < 256; i++)
        b[i] = 0.0f;
    b[0] = 1.0f;
    sitr_pdq_threshold(b, sitr_pdq_median(b), &h);
    char hex[65];
    sitr_pdq_to_hex(&h, hex);
    assert_string_equal(hex, "0000000000000000000000000000000000000000000000000000000000000001");
    b[0] = 0.0f;
    b[255] = 1.0f;
    sitr_pdq_threshold(b, sitr_pdq_median(b), &h);
    sitr_pdq_to_hex(&h, hex);
    assert_string_equal(hex, "8000000000000000000000000000000000000000000000000000000000000000");
    b[255] = 0.0f;
    b[16 * 1 + 3] = 1.0f; /* (1,3): word 1 bit 3 -> hex digit 60 from the end group */
    sitr_pdq_threshold(b, sitr_pdq_median(b), &h);
    sitr_pdq_to_hex(&h, hex);
    assert_string_equal(hex, "0000000000000000000000000000000000000000000000000000000000080000");
}

struct thread_arg {
    const float *luma;
    int rows, cols;
    sitr_pdq_result_t want;
    int failures;
};

static void *thread_main(void *p)
{
    struct thread_arg *t = p;
    for (int i = 0; i < 20; i++) {
        sitr_pdq_result_t r;
        if (sitr_pdq_hash(t->luma, t->rows, t->cols, SITR_PDQ_WANT_DIHEDRAL, &r) != 0 ||
            memcmp(&r, &t->want, sizeof r) != 0)
            t->failures++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { T = 4 };
    static const int dims[T][2] = {{512, 512}, {130, 700}, {64, 64}, {300, 200}};
    struct thread_arg args[T];
    float *bufs[T];
    for (int t = 0; t < T; t++) {
        size_t n = (size_t)dims[t][0] * dims[t][1];
        bufs[t] = malloc(n * sizeof(float));
        assert_non_null(bufs[t]);
        fill_luma(bufs[t], n, 1);
        memset(&args[t], 0, sizeof args[t]);
        args[t].luma = bufs[t];
        args[t].rows = dims[t][0];
        args[t].cols = dims[t][1];
        assert_int_equal(sitr_pdq_hash_impl(bufs[t], dims[t][0], dims[t][1], SITR_PDQ_WANT_DIHEDRAL,
                                            SITR_PDQ_IMPL_SCALAR, &args[t].want),
                         0);
    }
    pthread_t th[T];
    for (int t = 0; t < T; t++)
        assert_int_equal(pthread_create(&th[t], NULL, thread_main, &args[t]), 0);
    for (int t = 0; t < T; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(args[t].failures, 0);
        free(bufs[t]);
    }
}

static void test_hex_roundtrip(void **state)
{
    (void)state;
    const char *hx = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
    sitr_pdq_t h;
    assert_int_equal(sitr_pdq_from_hex(hx, strlen(hx), &h), 0);
    assert_int_equal(h.b[0], 0xd8);
    assert_int_equal(h.b[31], 0x22);
    char out[65];
    sitr_pdq_to_hex(&h, out);
    assert_string_equal(out, hx);

    char up[65];
    for (int i = 0; i < 65; i++)
        up[i] = (char)toupper((unsigned char)hx[i]);
    sitr_pdq_t h2;
    assert_int_equal(sitr_pdq_from_hex(up, 64, &h2), 0);
    assert_memory_equal(&h, &h2, sizeof h);

    assert_int_equal(sitr_pdq_from_hex(hx, 63, &h2), SITR_EHEX);
    assert_int_equal(sitr_pdq_from_hex(hx, 62, &h2), SITR_EHEX);
    assert_int_equal(sitr_pdq_from_hex("", 0, &h2), SITR_EHEX);
    char bad[65];
    memcpy(bad, hx, 65);
    bad[10] = 'g';
    assert_int_equal(sitr_pdq_from_hex(bad, 64, &h2), SITR_EHEX);
    bad[10] = ' ';
    assert_int_equal(sitr_pdq_from_hex(bad, 64, &h2), SITR_EHEX);
}

static void test_distance(void **state)
{
    (void)state;
    sitr_pdq_t a, b;
    for (int i = 0; i < 32; i++)
        a.b[i] = (uint8_t)rnd();
    b = a;
    assert_int_equal(sitr_pdq_distance(&a, &b), 0);
    for (int bit = 0; bit < 256; bit++) {
        b = a;
        b.b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(sitr_pdq_distance(&a, &b), 1);
        assert_int_equal(sitr_pdq_distance(&b, &a), 1);
    }
    for (int i = 0; i < 32; i++)
        b.b[i] = (uint8_t)~a.b[i];
    assert_int_equal(sitr_pdq_distance(&a, &b), 256);
    /* Against a naive bit count on random pairs. */
    for (int t = 0; t < 200; t++) {
        int want = 0;
        for (int i = 0; i < 32; i++) {
            a.b[i] = (uint8_t)rnd();
            b.b[i] = (uint8_t)rnd();
            for (int k = 0; k < 8; k++)
                want += ((a.b[i] ^ b.b[i]) >> k) & 1;
        }
        assert_int_equal(sitr_pdq_distance(&a, &b), want);
    }
}

/* Meta's hash lists: every 64-digit line parses and prints back (lower
 * case); 16-digit (64-bit) lines are rejected. */
static void reg_test_lists(const pdqt_corpus_t *c)
{
    char reg_dir[1024];
    pdqt_path(c, "reg-test-input", reg_dir, sizeof reg_dir);
    DIR *d = opendir(reg_dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0, ok = 0, rejected = 0;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 ||
            (strcmp(e->d_name + nl - 4, ".txt") != 0 && strcmp(e->d_name + nl - 4, ".dat") != 0))
            continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", reg_dir, e->d_name);
        size_t len;
        char *text = read_file(path, &len);
        assert_non_null(text);
        files++;
        char *save = NULL;
        for (char *line = strtok_r(text, "\r\n", &save); line != NULL;
             line = strtok_r(NULL, "\r\n", &save)) {
            size_t ll = strlen(line);
            sitr_pdq_t h;
            int rc = sitr_pdq_from_hex(line, ll, &h);
            if (ll == 64) {
                if (rc != 0)
                    fail_msg("%s: cannot parse %s", e->d_name, line);
                char out[65], lower[65];
                sitr_pdq_to_hex(&h, out);
                for (size_t i = 0; i <= ll; i++)
                    lower[i] = (char)tolower((unsigned char)line[i]);
                assert_string_equal(out, lower);
                sitr_pdq_t h2;
                assert_int_equal(sitr_pdq_from_hex(out, 64, &h2), 0);
                assert_memory_equal(&h, &h2, sizeof h);
                ok++;
            } else {
                assert_int_equal(rc, SITR_EHEX);
                rejected++;
            }
        }
        free(text);
    }
    closedir(d);
    assert_int_equal(files, 7);
    /* haystack 1350 + needles 100 + long256 50 + order256 2 + short256 6 */
    assert_int_equal(ok, 1508);
    /* long64 667 + short64 6 */
    assert_int_equal(rejected, 673);
}

/* The vendored subset holds all seven lists. */
static void test_reg_test_lists(void **state)
{
    (void)state;
    reg_test_lists(pdqt_vendored());
    const pdqt_corpus_t *c = pdqt_extended("hash lists");
    if (c != NULL)
        reg_test_lists(c);
}

int main(void)
{
    init_impls();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dct_table),
        cmocka_unit_test(test_conformance_vectors),
        cmocka_unit_test(test_conformance_vectors_extended),
        cmocka_unit_test(test_scalar_vs_avx2),
        cmocka_unit_test(test_quality_extremes),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_flat),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_median),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_hex_roundtrip),
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_reg_test_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
