/* Unit tests for the pure parts of the platforms' API (api_platform.c):
 * /v1/match item validation and the per-item search over real indexes
 * (threshold boundary, best variant, signal choice, low quality, one hit
 * per case image), the batched search against the per-item one and brute
 * force, /v1/uploads validation, takedown query and answer
 * validation, opaque refs, case tokens and cursors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/hex.h>
#include <sitr/opaque.h>

#include "api/platform.h"

#define P1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define M1 "d41d8cd98f00b204e9800998ecf8427e"
#define S1 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const uint8_t key1[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key2[32] = {32, 2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 1};

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s: %s", text, jerr.text);
    return j;
}

/* ---- /v1/match validation ---------------------------------------------------- */

static const char *match_run(const char *text, size_t max, char *field, sitr_match_item_t **items,
                             size_t *n)
{
    json_t *body = load(text);
    sitr_platform_error_t err = {0};
    sitr_match_item_t *tmp = NULL;
    size_t cnt = 0;
    int rc = sitr_platform_parse_match(body, max, &tmp, &cnt, &err);
    json_decref(body);
    if (field)
        strcpy(field, rc == 0 ? "" : err.field);
    if (rc == 0) {
        assert_non_null(tmp);
        if (items) {
            *items = tmp;
            *n = cnt;
        } else {
            free(tmp);
        }
        return "";
    }
    assert_null(tmp);
    assert_true(err.message[0] != '\0');
    assert_null(strstr(err.message, "0123456789abcdef"));
    return err.code;
}

static void test_match_parse_ok(void **state)
{
    (void)state;
    sitr_match_item_t *it;
    size_t n;
    assert_string_equal(match_run("{\"items\":[{\"pdq\":\"" P1
                                  "\",\"quality\":90,\"md5\":\"D41D8CD98F00B204E9800998"
                                  "ECF8427E\"},{\"sha256\":\"" S1 "\",\"md5\":null},{\"pdq\":\"" P1
                                  "\",\"quality\":49}]}",
                                  3, NULL, &it, &n),
                        "");
    assert_int_equal(n, 3);
    assert_true(it[0].has_pdq && it[0].has_md5 && !it[0].has_sha256);
    assert_int_equal(it[0].quality, 90);
    assert_false(it[0].pdq_low_quality);
    char hex[65];
    sitr_hex_encode(it[0].md5, 16, hex);
    assert_string_equal(hex, M1);
    sitr_hex_encode(it[0].pdq, 32, hex);
    assert_string_equal(hex, P1);
    assert_true(!it[1].has_pdq && !it[1].has_md5 && it[1].has_sha256);
    assert_int_equal(it[1].quality, -1);
    assert_true(it[2].has_pdq && it[2].pdq_low_quality);
    free(it);
}

static void test_match_parse_faults(void **state)
{
    (void)state;
    static const struct {
        const char *text, *code, *field;
    } cases[] = {
        {"[]", "invalid_body", ""},
        {"{\"items\":[],\"x\":1}", "unknown_field", "x"},
        {"{}", "missing_field", "items"},
        {"{\"items\":{}}", "invalid_type", "items"},
        {"{\"items\":[]}", "empty_batch", "items"},
        {"{\"items\":[{\"md5\":\"" M1 "\"},{\"md5\":\"" M1 "\"},{\"md5\":\"" M1 "\"}]}",
         "too_many_items", "items"},
        {"{\"items\":[{\"md5\":\"" M1 "\"},7]}", "invalid_type", "items[1]"},
        {"{\"items\":[{\"md5\":\"" M1 "\",\"pdqq\":1}]}", "unknown_field", "items[0].pdqq"},
        {"{\"items\":[{\"md5\":\"" M1 "0\"}]}", "invalid_hex", "items[0].md5"},
        {"{\"items\":[{\"sha256\":\"" M1 "\"}]}", "invalid_hex", "items[0].sha256"},
        {"{\"items\":[{\"pdq\":\"" M1 M1 "\",\"quality\":90}]}", "", ""},
        {"{\"items\":[{\"pdq\":\"g" P1 "\",\"quality\":90}]}", "invalid_hex", "items[0].pdq"},
        {"{\"items\":[{\"pdq\":\"" P1 "\"}]}", "quality_required", "items[0].quality"},
        {"{\"items\":[{\"md5\":\"" M1 "\",\"quality\":90}]}", "quality_without_pdq",
         "items[0].quality"},
        {"{\"items\":[{\"pdq\":\"" P1 "\",\"quality\":101}]}", "invalid_quality",
         "items[0].quality"},
        {"{\"items\":[{\"pdq\":\"" P1 "\",\"quality\":\"90\"}]}", "invalid_type",
         "items[0].quality"},
        {"{\"items\":[{\"md5\":5}]}", "invalid_type", "items[0].md5"},
        {"{\"items\":[{}]}", "no_hash", "items[0]"},
        {"{\"items\":[{\"md5\":null}]}", "no_hash", "items[0]"},
        {"{\"items\":[{\"md5\":\"d41d8cd98f00b204e9800998ecf842\\u0000e\"}]}", "invalid_hex",
         "items[0].md5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char field[128];
        const char *code = match_run(cases[i].text, 2, field, NULL, NULL);
        if (strcmp(code, cases[i].code) != 0 || strcmp(field, cases[i].field) != 0)
            fail_msg("case %zu: got %s at '%s', want %s at '%s'", i, code, field, cases[i].code,
                     cases[i].field);
    }
}

/* ---- /v1/match search ---------------------------------------------------------- */

static sitr_pdq_t base_hash(void)
{
    sitr_pdq_t h;
    for (int i = 0; i < 32; i++)
        h.b[i] = (uint8_t)(i * 37 + 11);
    return h;
}

/* h with its first d bits flipped. */
static sitr_pdq_t flipped(sitr_pdq_t h, int d)
{
    for (int i = 0; i < d; i++)
        h.b[i / 8] ^= (uint8_t)(1u << (i % 8));
    return h;
}

typedef struct fixture {
    sitr_replica_indexes_t ix;
} fixture_t;

static int ix_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->ix.case_pdq = sitr_index_new();
    f->ix.case_md5 = sitr_digest_index_new(16);
    f->ix.case_sha256 = sitr_digest_index_new(32);
    sitr_pdq_t b = base_hash();
    /* image 1: exactly the base; image 2 at 31; image 3 at 32; image 4's
     * plain hash is far (100) but its variant 5 is at 7. */
    sitr_pdq_t h1 = b, h2 = flipped(b, 31), h3 = flipped(b, 32), h4 = flipped(b, 100),
               h4v = flipped(b, 7);
    assert_int_equal(sitr_index_insert(f->ix.case_pdq, &h1, SITR_REPLICA_CASE_PDQ_ID(1, 0)), 1);
    assert_int_equal(sitr_index_insert(f->ix.case_pdq, &h2, SITR_REPLICA_CASE_PDQ_ID(2, 0)), 1);
    assert_int_equal(sitr_index_insert(f->ix.case_pdq, &h3, SITR_REPLICA_CASE_PDQ_ID(3, 0)), 1);
    assert_int_equal(sitr_index_insert(f->ix.case_pdq, &h4, SITR_REPLICA_CASE_PDQ_ID(4, 0)), 1);
    assert_int_equal(sitr_index_insert(f->ix.case_pdq, &h4v, SITR_REPLICA_CASE_PDQ_ID(4, 5)), 1);
    /* image 2's variant 1 is at 20 from the base: image 2 must appear once,
     * at 20. */
    sitr_pdq_t h2v = flipped(b, 20);
    assert_int_equal(sitr_index_insert(f->ix.case_pdq, &h2v, SITR_REPLICA_CASE_PDQ_ID(2, 1)), 1);
    uint8_t md5[16], sha[32];
    assert_int_equal(sitr_hex_decode(M1, 32, md5, 16), 0);
    assert_int_equal(sitr_hex_decode(S1, 64, sha, 32), 0);
    /* image 1 also has the md5 and the sha256; image 9 only the md5. */
    assert_int_equal(sitr_digest_index_insert(f->ix.case_md5, md5, 1), 1);
    assert_int_equal(sitr_digest_index_insert(f->ix.case_sha256, sha, 1), 1);
    assert_int_equal(sitr_digest_index_insert(f->ix.case_md5, md5, 9), 1);
    *state = f;
    return 0;
}

static int ix_teardown(void **state)
{
    fixture_t *f = *state;
    sitr_index_free(f->ix.case_pdq);
    sitr_digest_index_free(f->ix.case_md5);
    sitr_digest_index_free(f->ix.case_sha256);
    free(f);
    return 0;
}

static sitr_match_item_t pdq_item(sitr_pdq_t h, int quality)
{
    sitr_match_item_t it = {0};
    memcpy(it.pdq, h.b, 32);
    it.quality = quality;
    it.has_pdq = 1;
    it.pdq_low_quality = quality < 50;
    return it;
}

static void test_match_search(void **state)
{
    fixture_t *f = *state;
    sitr_index_hit_t *scratch = NULL;
    size_t cap = 0;
    sitr_match_hit_t hits[8];

    /* From the base at radius 31: images 1 (0), 4 (7 via a variant), 2 (20
     * via a variant, not 31); image 3 at 32 is out. */
    sitr_match_item_t it = pdq_item(base_hash(), 90);
    long k = sitr_platform_match_item(&f->ix, &it, 31, hits, 8, &scratch, &cap);
    assert_int_equal(k, 3);
    assert_int_equal(hits[0].image_id, 1);
    assert_int_equal(hits[0].distance, 0);
    assert_string_equal(hits[0].signal, "pdq");
    assert_int_equal(hits[1].image_id, 4);
    assert_int_equal(hits[1].distance, 7);
    assert_int_equal(hits[2].image_id, 2);
    assert_int_equal(hits[2].distance, 20);

    /* Radius 32 brings image 3 in at exactly 32. */
    k = sitr_platform_match_item(&f->ix, &it, 32, hits, 8, &scratch, &cap);
    assert_int_equal(k, 4);
    assert_int_equal(hits[3].image_id, 3);
    assert_int_equal(hits[3].distance, 32);

    /* A query 31 bits from image 3's hash (flip the 32nd bit back): image 3
     * at 31 is in. */
    sitr_pdq_t q = flipped(base_hash(), 32);
    q.b[31 / 8] ^= (uint8_t)(1u << (31 % 8));
    it = pdq_item(q, 90);
    k = sitr_platform_match_item(&f->ix, &it, 31, hits, 8, &scratch, &cap);
    int saw3 = 0, saw2 = 0;
    for (long i = 0; i < k && i < 8; i++) {
        if (hits[i].image_id == 3)
            saw3 = hits[i].distance == 1;
        if (hits[i].image_id == 2)
            saw2 = hits[i].distance == 0;
    }
    assert_true(saw3 && saw2);

    /* max truncates the list but the count stays the total. */
    it = pdq_item(base_hash(), 90);
    k = sitr_platform_match_item(&f->ix, &it, 31, hits, 1, &scratch, &cap);
    assert_int_equal(k, 3);
    assert_int_equal(hits[0].image_id, 1);
    free(scratch);
}

static void test_match_signals(void **state)
{
    fixture_t *f = *state;
    sitr_index_hit_t *scratch = NULL;
    size_t cap = 0;
    sitr_match_hit_t hits[8];

    /* Exact PDQ plus md5 plus sha256 of image 1: one hit, signal sha256
     * (an exact copy of the file beats a perceptual match at 0); image 9
     * comes in through the md5. */
    sitr_match_item_t it = pdq_item(base_hash(), 90);
    assert_int_equal(sitr_hex_decode(M1, 32, it.md5, 16), 0);
    assert_int_equal(sitr_hex_decode(S1, 64, it.sha256, 32), 0);
    it.has_md5 = it.has_sha256 = 1;
    long k = sitr_platform_match_item(&f->ix, &it, 31, hits, 8, &scratch, &cap);
    assert_int_equal(k, 4);
    assert_int_equal(hits[0].image_id, 1);
    assert_string_equal(hits[0].signal, "sha256");
    assert_int_equal(hits[1].image_id, 9);
    assert_string_equal(hits[1].signal, "md5");
    assert_int_equal(hits[1].distance, 0);

    /* Quality 49: the PDQ is never searched, even at distance 0; the md5
     * still matches images 1 and 9. */
    it = pdq_item(base_hash(), 49);
    k = sitr_platform_match_item(&f->ix, &it, 31, hits, 8, &scratch, &cap);
    assert_int_equal(k, 0);
    assert_int_equal(sitr_hex_decode(M1, 32, it.md5, 16), 0);
    it.has_md5 = 1;
    k = sitr_platform_match_item(&f->ix, &it, 31, hits, 8, &scratch, &cap);
    assert_int_equal(k, 2);
    assert_int_equal(hits[0].image_id, 1);
    assert_string_equal(hits[0].signal, "md5");
    assert_int_equal(hits[1].image_id, 9);
    free(scratch);
}

/* ---- /v1/match batched search --------------------------------------------------- */

/* The batched search must give exactly the per-item answers (counts, order,
 * signals, distances, truncation), and the PDQ part must be what a brute
 * force over the stored entries gives.  The world: random case images,
 * clusters of near-duplicates (several variants of one image near one
 * centre), a "poisoned" centre with hundreds of images around it (more
 * index hits than a batched query keeps, and more case images than an
 * answer shows), MD5s shared by a few or by many (> 64) images.  The
 * request: items spread over several batch chunks, mixing plain PDQs, PDQs
 * near the centres, the poisoned centre, low quality PDQs (with and without
 * digests), digest-only items and PDQ + digest items. */

#define W_RANDOM  3000
#define W_CENTRES 24
#define W_PER     40
#define W_POISON  300
#define W_ITEMS   400
#define W_RADIUS  31
#define W_MAXENT  (W_RANDOM + W_CENTRES * W_PER * 2 + W_POISON)

typedef struct world {
    sitr_replica_indexes_t ix;
    sitr_index_entry_t *e; /* every PDQ entry stored */
    size_t ne;
    sitr_pdq_t centre[W_CENTRES + 1]; /* the last one is the poisoned centre */
    uint8_t md5[4][16], sha[4][32];
    uint64_t rng;
} world_t;

static uint64_t rnd(world_t *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static sitr_pdq_t rnd_hash(world_t *w)
{
    sitr_pdq_t h;
    for (int i = 0; i < 32; i++)
        h.b[i] = (uint8_t)rnd(w);
    return h;
}

/* h with up to d random bits flipped (a bit may be drawn twice). */
static sitr_pdq_t near(world_t *w, sitr_pdq_t h, int d)
{
    for (int i = 0; i < d; i++) {
        unsigned bit = (unsigned)(rnd(w) % 256);
        h.b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    return h;
}

static void world_add(world_t *w, sitr_pdq_t h, int64_t image, unsigned variant)
{
    assert_true(w->ne < W_MAXENT);
    w->e[w->ne].hash = h;
    w->e[w->ne].id = SITR_REPLICA_CASE_PDQ_ID(image, variant);
    w->ne++;
}

static int world_setup(void **state)
{
    world_t *w = calloc(1, sizeof *w);
    w->rng = 0x9e3779b97f4a7c15ull;
    w->e = calloc(W_MAXENT, sizeof *w->e);
    w->ix.case_pdq = sitr_index_new();
    w->ix.case_md5 = sitr_digest_index_new(16);
    w->ix.case_sha256 = sitr_digest_index_new(32);
    int64_t image = 1000;
    for (int i = 0; i < W_RANDOM; i++, image++) {
        world_add(w, rnd_hash(w), image, 0);
        if (i % 7 == 0)
            world_add(w, rnd_hash(w), image, 1 + (unsigned)(rnd(w) % 7));
    }
    for (int c = 0; c < W_CENTRES; c++) {
        w->centre[c] = rnd_hash(w);
        for (int k = 0; k < W_PER; k++, image++) {
            world_add(w, near(w, w->centre[c], (int)(rnd(w) % 45)), image, 0);
            /* Every third image has a second variant near the centre too:
             * it must be answered once, at its closer variant. */
            if (k % 3 == 0)
                world_add(w, near(w, w->centre[c], (int)(rnd(w) % 30)), image, 2);
        }
    }
    w->centre[W_CENTRES] = rnd_hash(w);
    for (int k = 0; k < W_POISON; k++)
        world_add(w, near(w, w->centre[W_CENTRES], (int)(rnd(w) % 12)), image + k % 250,
                  (unsigned)(k % 8));
    /* Most entries through the bulk build, the last 500 inserted one by one
     * (another segment of the index). */
    size_t bulk = w->ne - 500;
    assert_int_equal(sitr_index_bulk_build(w->ix.case_pdq, w->e, bulk, 1), 0);
    for (size_t i = bulk; i < w->ne; i++)
        assert_true(sitr_index_insert(w->ix.case_pdq, &w->e[i].hash, w->e[i].id) >= 0);
    /* md5[0]: images 1000..1002 (also PDQ-matched ones); md5[1]: 100 images
     * (the digest index's long path); sha[0]: image 1000 and 5000. */
    for (int d = 0; d < 4; d++) {
        sitr_pdq_t r = rnd_hash(w);
        memcpy(w->md5[d], r.b, 16);
        memcpy(w->sha[d], r.b, 32);
        w->sha[d][0] ^= 0x5a;
    }
    for (int64_t i = 0; i < 3; i++)
        assert_int_equal(sitr_digest_index_insert(w->ix.case_md5, w->md5[0], (uint64_t)(1000 + i)),
                         1);
    for (int64_t i = 0; i < 100; i++)
        assert_int_equal(
            sitr_digest_index_insert(w->ix.case_md5, w->md5[1], (uint64_t)(W_RANDOM + 1000 + i)),
            1);
    assert_int_equal(sitr_digest_index_insert(w->ix.case_sha256, w->sha[0], 1000), 1);
    assert_int_equal(sitr_digest_index_insert(w->ix.case_sha256, w->sha[0], 5000), 1);
    *state = w;
    return 0;
}

static int world_teardown(void **state)
{
    world_t *w = *state;
    sitr_index_free(w->ix.case_pdq);
    sitr_digest_index_free(w->ix.case_md5);
    sitr_digest_index_free(w->ix.case_sha256);
    free(w->e);
    free(w);
    return 0;
}

/* A request of W_ITEMS items of every kind, drawn at random. */
enum { K_RANDOM, K_STORED, K_CENTRE, K_POISON, K_LOW, K_LOW_MD5, K_MD5, K_SHA, K_PDQ_MD5, K_KINDS };

static sitr_match_item_t *world_items(world_t *w)
{
    sitr_match_item_t *it = calloc(W_ITEMS, sizeof *it);
    for (int i = 0; i < W_ITEMS; i++) {
        int kind = (int)(rnd(w) % K_KINDS);
        sitr_pdq_t h;
        switch (kind) {
        case K_RANDOM:
            h = rnd_hash(w);
            break;
        case K_STORED:
            h = near(w, w->e[rnd(w) % w->ne].hash, (int)(rnd(w) % 20));
            break;
        case K_POISON:
            h = near(w, w->centre[W_CENTRES], (int)(rnd(w) % 4));
            break;
        default:
            h = near(w, w->centre[rnd(w) % W_CENTRES], (int)(rnd(w) % 12));
            break;
        }
        if (kind != K_MD5 && kind != K_SHA) {
            memcpy(it[i].pdq, h.b, 32);
            it[i].has_pdq = 1;
            it[i].quality =
                kind == K_LOW || kind == K_LOW_MD5 ? (int)(rnd(w) % 50) : 50 + (int)(rnd(w) % 51);
            it[i].pdq_low_quality = it[i].quality < 50;
        } else {
            it[i].quality = -1;
        }
        if (kind == K_LOW_MD5 || kind == K_MD5 || kind == K_PDQ_MD5) {
            memcpy(it[i].md5, w->md5[rnd(w) % 3], 16); /* md5[2]: no image */
            it[i].has_md5 = 1;
        }
        if (kind == K_SHA || (kind == K_PDQ_MD5 && i % 2)) {
            memcpy(it[i].sha256, w->sha[rnd(w) % 2], 32);
            it[i].has_sha256 = 1;
        }
    }
    return it;
}

static void assert_same_hits(const sitr_match_hit_t *a, const sitr_match_hit_t *b, long found,
                             size_t max)
{
    for (size_t k = 0; k < (size_t)found && k < max; k++) {
        assert_int_equal(a[k].image_id, b[k].image_id);
        assert_string_equal(a[k].signal, b[k].signal);
        assert_int_equal(a[k].distance, b[k].distance);
    }
}

static int cmp_brute(const void *pa, const void *pb)
{
    const sitr_match_hit_t *x = pa, *y = pb;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return x->image_id < y->image_id ? -1 : x->image_id > y->image_id;
}

/* Brute force for a PDQ-only item: each image's closest variant within
 * the radius, by distance then image id.  Returns the image count; *hits
 * (index hits, variants counted) for the coverage checks. */
static long brute_item(const world_t *w, const sitr_pdq_t *q, sitr_match_hit_t *out, size_t *hits)
{
    sitr_index_hit_t *h = malloc(w->ne * sizeof *h);
    *hits = sitr_index_brute(w->e, w->ne, q, W_RADIUS, h, w->ne);
    long n = 0;
    for (size_t i = 0; i < *hits; i++) {
        int64_t img = SITR_REPLICA_IMAGE_OF(h[i].id);
        long k = 0;
        while (k < n && out[k].image_id != img)
            k++;
        if (k == n)
            out[n++] = (sitr_match_hit_t){img, "pdq", h[i].distance};
        else if (h[i].distance < out[k].distance)
            out[k].distance = h[i].distance;
    }
    free(h);
    if (n > 0)
        qsort(out, (size_t)n, sizeof *out, cmp_brute);
    return n;
}

static void test_match_batch(void **state)
{
    world_t *w = *state;
    sitr_match_item_t *items = world_items(w);
    const size_t maxes[] = {SITR_PLATFORM_MAX_MATCHES, 3};
    sitr_match_hit_t *one = calloc(W_ITEMS * SITR_PLATFORM_MAX_MATCHES, sizeof *one);
    sitr_match_hit_t *all = calloc(W_ITEMS * SITR_PLATFORM_MAX_MATCHES, sizeof *all);
    sitr_match_hit_t *ref = calloc(W_MAXENT, sizeof *ref);
    long found[W_ITEMS], k1[W_ITEMS];
    int searched = 0, retried = 0, more = 0, digest_only = 0, low = 0, matched = 0;
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        size_t max = maxes[m];
        sitr_index_hit_t *scratch = NULL;
        size_t cap = 0;
        for (size_t i = 0; i < W_ITEMS; i++) {
            k1[i] = sitr_platform_match_item(&w->ix, &items[i], W_RADIUS, one + i * max, max,
                                             &scratch, &cap);
            assert_true(k1[i] >= 0);
        }
        free(scratch);
        memset(found, 0xff, sizeof found);
        assert_int_equal(
            sitr_platform_match_batch(&w->ix, items, W_ITEMS, W_RADIUS, all, max, found), 0);
        for (size_t i = 0; i < W_ITEMS; i++) {
            assert_int_equal(found[i], k1[i]);
            assert_same_hits(all + i * max, one + i * max, found[i], max);
        }
    }
    /* The PDQ part against brute force (answers of the first pass are
     * gone: redo the batch with the full max). */
    const size_t max = SITR_PLATFORM_MAX_MATCHES;
    assert_int_equal(sitr_platform_match_batch(&w->ix, items, W_ITEMS, W_RADIUS, all, max, found),
                     0);
    for (size_t i = 0; i < W_ITEMS; i++) {
        const sitr_match_item_t *it = &items[i];
        matched += found[i] > 0;
        more += (size_t)found[i] > max;
        if (it->pdq_low_quality) {
            low++;
            if (!it->has_md5 && !it->has_sha256)
                assert_int_equal(found[i], 0);
        }
        if (!it->has_pdq)
            digest_only++;
        if (!it->has_pdq || it->pdq_low_quality || it->has_md5 || it->has_sha256)
            continue;
        sitr_pdq_t q;
        memcpy(q.b, it->pdq, 32);
        size_t nhits = 0;
        long n = brute_item(w, &q, ref, &nhits);
        searched++;
        retried += nhits > SITR_PLATFORM_QUERY_HITS;
        assert_int_equal(found[i], n);
        assert_same_hits(all + i * max, ref, n, max);
    }
    /* The data exercised what it is meant to. */
    assert_true(searched > 2 * 64); /* several batch chunks */
    assert_true(retried >= 5);
    assert_true(more >= 5);
    assert_true(digest_only >= 20);
    assert_true(low >= 20);
    assert_true(matched >= W_ITEMS / 2);

    /* No PDQ index (not loaded): digests only, still the per-item answers. */
    sitr_replica_indexes_t noidx = w->ix;
    noidx.case_pdq = NULL;
    assert_int_equal(sitr_platform_match_batch(&noidx, items, W_ITEMS, W_RADIUS, all, max, found),
                     0);
    for (size_t i = 0; i < W_ITEMS; i++) {
        long k = sitr_platform_match_item(&noidx, &items[i], W_RADIUS, one, max, NULL, NULL);
        assert_int_equal(found[i], k);
        assert_same_hits(all + i * max, one, k, max);
    }
    /* A radius the index refuses fails the whole batch; a batch of nothing
     * searched never asks. */
    assert_int_equal(sitr_platform_match_batch(&w->ix, items, W_ITEMS, 257, all, max, found),
                     SITR_EINVAL);
    assert_int_equal(sitr_platform_match_batch(&w->ix, items, 0, W_RADIUS, all, max, found), 0);
    free(items);
    free(one);
    free(all);
    free(ref);
}

/* ---- /v1/uploads validation ------------------------------------------------------ */

static const char *uploads_run(const char *text, size_t max, char *field, sitr_uploads_t *out)
{
    json_t *body = load(text);
    sitr_platform_error_t err = {0};
    sitr_uploads_t tmp;
    int rc = sitr_platform_parse_uploads(body, max, &tmp, &err);
    json_decref(body);
    if (field)
        strcpy(field, rc == 0 ? "" : err.field);
    if (rc == 0) {
        assert_non_null(tmp.uploads);
        if (out)
            *out = tmp;
        else
            sitr_platform_uploads_clear(&tmp);
        return "";
    }
    assert_null(tmp.uploads);
    return err.code;
}

static void test_uploads_parse_ok(void **state)
{
    (void)state;
    sitr_uploads_t u;
    assert_string_equal(
        uploads_run("{\"uploads\":[{\"id\":\"post/42\",\"url\":\"HTTPS://ex.example/"
                    "p?q=1\",\"pdq\":\"" P1 "\",\"quality\":70,\"md5\":\"D41D8CD98"
                    "F00B204E9800998ECF8427E\"},{\"id\":\"x\",\"pdq\":\"" P1
                    "\",\"quality\":10,\"sha256\":\"" S1 "\",\"url\":null}]}",
                    5, NULL, &u),
        "");
    assert_int_equal(u.count, 2);
    assert_int_equal(u.ignored[0], 0);
    assert_int_equal(u.ignored[1], 1);
    char *dump = json_dumps(u.uploads, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(dump, "[{\"id\":\"post/42\",\"md5\":\"" M1 "\",\"pdq\":\"" P1
                              "\",\"quality\":70,\"url\":\"HTTPS://ex.example/p?q=1\"},"
                              "{\"id\":\"x\",\"sha256\":\"" S1 "\"}]");
    free(dump);
    sitr_platform_uploads_clear(&u);
    assert_null(u.uploads);
    sitr_platform_uploads_clear(&u); /* twice is fine */

    /* 256 characters of two bytes each is within the id limit; 257 not. */
    char text[2048], id[1100];
    id[0] = '\0';
    for (int i = 0; i < 256; i++)
        strcat(id, "\xc3\xa9");
    snprintf(text, sizeof text, "{\"uploads\":[{\"id\":\"%s\",\"md5\":\"" M1 "\"}]}", id);
    assert_string_equal(uploads_run(text, 5, NULL, NULL), "");
    strcat(id, "a");
    snprintf(text, sizeof text, "{\"uploads\":[{\"id\":\"%s\",\"md5\":\"" M1 "\"}]}", id);
    char field[128];
    assert_string_equal(uploads_run(text, 5, field, NULL), "invalid_id");
    assert_string_equal(field, "uploads[0].id");
}

static void test_uploads_parse_faults(void **state)
{
    (void)state;
    static const struct {
        const char *text, *code, *field;
    } cases[] = {
        {"{\"uploads\":[]}", "empty_batch", "uploads"},
        {"{\"items\":[]}", "unknown_field", "items"},
        {"{\"uploads\":[{\"md5\":\"" M1 "\"}]}", "missing_field", "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"\",\"md5\":\"" M1 "\"}]}", "invalid_id", "uploads[0].id"},
        {"{\"uploads\":[{\"id\":7,\"md5\":\"" M1 "\"}]}", "invalid_id", "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"a\\nb\",\"md5\":\"" M1 "\"}]}", "invalid_id", "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"a\\u0000b\",\"md5\":\"" M1 "\"}]}", "invalid_id",
         "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"a\\u0085b\",\"md5\":\"" M1 "\"}]}", "invalid_id",
         "uploads[0].id"},
        {"{\"uploads\":[{\"id\":\"a\",\"md5\":\"" M1 "\"},{\"id\":\"a\",\"md5\":\"" M1 "\"}]}",
         "duplicate_id", "uploads[1].id"},
        {"{\"uploads\":[{\"id\":\"a\",\"url\":\"ftp://x\",\"md5\":\"" M1 "\"}]}", "invalid_url",
         "uploads[0].url"},
        {"{\"uploads\":[{\"id\":\"a\",\"url\":\"https://\",\"md5\":\"" M1 "\"}]}", "invalid_url",
         "uploads[0].url"},
        {"{\"uploads\":[{\"id\":\"a\",\"url\":\"https://x y\",\"md5\":\"" M1 "\"}]}", "invalid_url",
         "uploads[0].url"},
        {"{\"uploads\":[{\"id\":\"a\",\"url\":\"javascript:alert(1)\",\"md5\":\"" M1 "\"}]}",
         "invalid_url", "uploads[0].url"},
        {"{\"uploads\":[{\"id\":\"a\",\"pdq\":\"" P1 "\",\"quality\":49}]}", "pdq_quality_too_low",
         "uploads[0].quality"},
        {"{\"uploads\":[{\"id\":\"a\"}]}", "no_hash", "uploads[0]"},
        {"{\"uploads\":[{\"id\":\"a\",\"md5\":\"" M1 "\",\"size\":3}]}", "unknown_field",
         "uploads[0].size"},
        {"{\"uploads\":[{\"id\":\"a\",\"md5\":\"" M1 "\"},{\"id\":\"b\",\"md5\":\"" M1
         "\"},{\"id\":\"c\",\"md5\":\"" M1 "\"}]}",
         "too_many_items", "uploads"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char field[128];
        const char *code = uploads_run(cases[i].text, 2, field, NULL);
        if (strcmp(code, cases[i].code) != 0 || strcmp(field, cases[i].field) != 0)
            fail_msg("case %zu: got %s at '%s', want %s at '%s'", i, code, field, cases[i].code,
                     cases[i].field);
    }
    /* A URL over 2048 bytes. */
    char *text = malloc(4096);
    char *url = malloc(2100);
    strcpy(url, "https://x.example/");
    while (strlen(url) < 2049)
        strcat(url, "a");
    snprintf(text, 4096, "{\"uploads\":[{\"id\":\"a\",\"url\":\"%s\",\"md5\":\"" M1 "\"}]}", url);
    assert_string_equal(uploads_run(text, 2, NULL, NULL), "invalid_url");
    url[2048] = '\0';
    snprintf(text, 4096, "{\"uploads\":[{\"id\":\"a\",\"url\":\"%s\",\"md5\":\"" M1 "\"}]}", url);
    assert_string_equal(uploads_run(text, 2, NULL, NULL), "");
    free(url);
    free(text);
    assert_true(sitr_platform_valid_content_id("a b", 3));
    assert_false(sitr_platform_valid_content_id("a\tb", 3));
    assert_false(sitr_platform_valid_content_id("", 0));
}

/* ---- takedowns ---------------------------------------------------------------------- */

static void test_takedown_query(void **state)
{
    (void)state;
    sitr_takedown_query_t q;
    sitr_platform_error_t err = {0};
    assert_int_equal(sitr_platform_parse_takedown_query(key1, 7, NULL, NULL, NULL, &q, &err), 0);
    assert_null(q.status);
    assert_int_equal(q.after, 0);
    assert_int_equal(q.limit, 100);
    assert_int_equal(sitr_platform_parse_takedown_query(key1, 7, "all", "", "1000", &q, &err), 0);
    assert_null(q.status);
    assert_int_equal(q.limit, 1000);
    assert_int_equal(sitr_platform_parse_takedown_query(key1, 7, "not_found", NULL, "1", &q, &err),
                     0);
    assert_string_equal(q.status, "not_found");
    assert_int_equal(q.limit, 1);

    static const struct {
        const char *status, *limit, *code;
    } bad[] = {
        {"Pending", NULL, "invalid_status"}, {"pending;", NULL, "invalid_status"},
        {NULL, "0", "invalid_limit"},        {NULL, "1001", "invalid_limit"},
        {NULL, "-1", "invalid_limit"},       {NULL, "10x", "invalid_limit"},
        {NULL, "010", "invalid_limit"},      {NULL, "99999999999999999999", "invalid_limit"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sitr_platform_parse_takedown_query(key1, 7, bad[i].status, NULL,
                                                            bad[i].limit, &q, &err),
                         -1);
        assert_string_equal(err.code, bad[i].code);
    }
}

static void test_cursor(void **state)
{
    (void)state;
    char c[SITR_OPAQUE_CURSOR_LEN + 1];
    int64_t ids[] = {1, 2, 12345, INT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        sitr_opaque_cursor_encode(key1, 7, ids[i], c);
        assert_int_equal(strlen(c), SITR_OPAQUE_CURSOR_LEN);
        int64_t back = 0;
        assert_int_equal(sitr_opaque_cursor_decode(key1, 7, c, &back), 0);
        assert_int_equal(back, ids[i]);
        /* Upper case is the same cursor. */
        char up[sizeof c];
        for (size_t k = 0; k <= sizeof c - 1; k++)
            up[k] = (char)(c[k] >= 'a' && c[k] <= 'z' ? c[k] - 32 : c[k]);
        assert_int_equal(sitr_opaque_cursor_decode(key1, 7, up, &back), 0);
        /* Another platform, another key: refused. */
        assert_int_equal(sitr_opaque_cursor_decode(key1, 8, c, &back), -1);
        assert_int_equal(sitr_opaque_cursor_decode(key2, 7, c, &back), -1);
    }
    sitr_opaque_cursor_encode(key1, 7, 100, c);
    int64_t back;
    /* Every single-symbol change is refused (id or MAC altered, or padding). */
    for (size_t pos = 0; pos < SITR_OPAQUE_CURSOR_LEN; pos++) {
        char t[sizeof c];
        memcpy(t, c, sizeof c);
        t[pos] = t[pos] == '0' ? '1' : '0';
        assert_int_equal(sitr_opaque_cursor_decode(key1, 7, t, &back), -1);
    }
    assert_int_equal(sitr_opaque_cursor_decode(key1, 7, "", &back), -1);
    assert_int_equal(sitr_opaque_cursor_decode(key1, 7, "100", &back), -1);
    char longer[sizeof c + 1];
    snprintf(longer, sizeof longer, "%s0", c);
    assert_int_equal(sitr_opaque_cursor_decode(key1, 7, longer, &back), -1);
    char withu[sizeof c];
    memcpy(withu, c, sizeof c);
    withu[3] = 'u'; /* not in the alphabet */
    assert_int_equal(sitr_opaque_cursor_decode(key1, 7, withu, &back), -1);
}

static const char *answer_run(const char *text, const char **status, const char **note)
{
    json_t *body = load(text);
    sitr_platform_error_t err = {0};
    const char *s = NULL, *n = NULL;
    int rc = sitr_platform_parse_answer(body, &s, &n, &err);
    static char note_copy[4096];
    note_copy[0] = '\0';
    if (n)
        snprintf(note_copy, sizeof note_copy, "%s", n);
    json_decref(body);
    if (status)
        *status = s;
    if (note)
        *note = n ? note_copy : NULL;
    return rc == 0 ? "" : err.code;
}

static void test_answer(void **state)
{
    (void)state;
    const char *s, *n;
    assert_string_equal(answer_run("{\"status\":\"removed\"}", &s, &n), "");
    assert_string_equal(s, "removed");
    assert_null(n);
    assert_string_equal(answer_run("{\"status\":\"not_found\",\"note\":\"gone\"}", &s, &n), "");
    assert_string_equal(s, "not_found");
    assert_string_equal(n, "gone");
    assert_string_equal(answer_run("{\"status\":\"rejected\",\"note\":null}", &s, &n), "");
    assert_null(n);
    assert_string_equal(answer_run("{\"status\":\"pending\"}", NULL, NULL), "invalid_status");
    assert_string_equal(answer_run("{\"status\":\"cancelled\"}", NULL, NULL), "invalid_status");
    assert_string_equal(answer_run("{\"status\":1}", NULL, NULL), "invalid_status");
    assert_string_equal(answer_run("{}", NULL, NULL), "missing_field");
    assert_string_equal(answer_run("[]", NULL, NULL), "invalid_body");
    assert_string_equal(answer_run("{\"status\":\"removed\",\"why\":1}", NULL, NULL),
                        "unknown_field");
    assert_string_equal(answer_run("{\"status\":\"removed\",\"note\":5}", NULL, NULL),
                        "invalid_note");
    assert_string_equal(answer_run("{\"status\":\"removed\",\"note\":\"a\\u0000\"}", NULL, NULL),
                        "invalid_note");
    /* 1000 characters (two bytes each) pass, 1001 do not. */
    char *text = malloc(4200), *note = malloc(2100);
    note[0] = '\0';
    for (int i = 0; i < 1000; i++)
        strcat(note, "\xc3\xa9");
    sprintf(text, "{\"status\":\"removed\",\"note\":\"%s\"}", note);
    assert_string_equal(answer_run(text, &s, &n), "");
    strcat(note, "x");
    sprintf(text, "{\"status\":\"removed\",\"note\":\"%s\"}", note);
    assert_string_equal(answer_run(text, NULL, NULL), "invalid_note");
    free(text);
    free(note);
}

static void test_parse_id(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_true(sitr_platform_parse_id("1", &v));
    assert_int_equal(v, 1);
    assert_true(sitr_platform_parse_id("9223372036854775807", &v));
    assert_int_equal(v, INT64_MAX);
    const char *bad[] = {"",
                         "0",
                         "01",
                         "-1",
                         "+1",
                         " 1",
                         "1 ",
                         "12a",
                         "9223372036854775808",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(sitr_platform_parse_id(bad[i], &v));
    assert_false(sitr_platform_parse_id(NULL, &v));
}

/* ---- tokens --------------------------------------------------------------------------- */

static void test_refs(void **state)
{
    (void)state;
    char a[SITR_OPAQUE_TOKEN_LEN + 1], b[SITR_OPAQUE_TOKEN_LEN + 1];
    sitr_opaque_ref(key1, 7, 42, a);
    sitr_opaque_ref(key1, 7, 42, b);
    assert_string_equal(a, b); /* stable */
    assert_int_equal(strlen(a), SITR_OPAQUE_TOKEN_LEN);
    assert_int_equal(strspn(a, "0123456789abcdefghjkmnpqrstvwxyz"), SITR_OPAQUE_TOKEN_LEN);
    sitr_opaque_ref(key1, 8, 42, b);
    assert_string_not_equal(a, b); /* another platform */
    sitr_opaque_ref(key1, 7, 43, b);
    assert_string_not_equal(a, b); /* another image */
    sitr_opaque_ref(key2, 7, 42, b);
    assert_string_not_equal(a, b); /* another operator key */
    sitr_opaque_case_token(key1, 7, 42, b);
    assert_string_not_equal(a, b); /* another domain */
    /* Swapping platform and image gives an unrelated token. */
    sitr_opaque_ref(key1, 42, 7, b);
    assert_string_not_equal(a, b);
    /* Many refs of one platform are all distinct. */
    char seen[200][SITR_OPAQUE_TOKEN_LEN + 1];
    for (int i = 0; i < 200; i++) {
        sitr_opaque_ref(key1, 1, i, seen[i]);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(seen[i], seen[k]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_parse_ok),
        cmocka_unit_test(test_match_parse_faults),
        cmocka_unit_test_setup_teardown(test_match_search, ix_setup, ix_teardown),
        cmocka_unit_test_setup_teardown(test_match_signals, ix_setup, ix_teardown),
        cmocka_unit_test_setup_teardown(test_match_batch, world_setup, world_teardown),
        cmocka_unit_test(test_uploads_parse_ok),
        cmocka_unit_test(test_uploads_parse_faults),
        cmocka_unit_test(test_takedown_query),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_refs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
