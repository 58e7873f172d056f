/* vpack: the storage policy for video frames.  Low-quality frames are
 * dropped, case frames keep FLIPY (or the selected variants) and a usable
 * trimmed hash, upload frames keep the plain hash only; out-of-order lists
 * are refused as a whole and name the faulty frame; the hex form is the
 * packed bytes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sitr/hex.h>

#include "match/vframes.h"
#include "match/vpack.h"

static uint64_t rng_state = 0x1234567887654321ull;

static uint8_t rnd8(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint8_t)((rng_state * 2685821657736338717ull) >> 56);
}

static void make(sitr_vframe_in_t *f, size_t n)
{
    memset(f, 0, n * sizeof *f);
    for (size_t i = 0; i < n; i++) {
        f[i].n = (uint32_t)(i * 6);
        f[i].t = (double)i * 0.2;
        f[i].quality = 90;
        for (int b = 0; b < 32; b++)
            f[i].pdq.b[b] = rnd8();
        f[i].has_dihedral = 1;
        f[i].dihedral[0] = f[i].pdq;
        for (int v = 1; v < 8; v++)
            for (int b = 0; b < 32; b++)
                f[i].dihedral[v].b[b] = rnd8();
    }
}

static void test_case_policy(void **state)
{
    (void)state;
    sitr_vframe_in_t f[5];
    make(f, 5);
    f[1].quality = 49; /* dropped */
    f[2].has_trimmed = 1;
    f[2].trimmed_quality = 70;
    for (int b = 0; b < 32; b++)
        f[2].trimmed.b[b] = rnd8();
    f[3].has_trimmed = 1;
    f[3].trimmed_quality = 40; /* trimmed hash too poor: not kept */
    f[4].has_dihedral = 0;     /* no dihedral hashes sent: plain only */
    uint8_t *buf;
    size_t len, kept;
    assert_int_equal(
        sitr_vpack(f, 5, SITR_VPACK_CASE, SITR_VPACK_VARIANTS_DEFAULT, &buf, &len, &kept, NULL), 0);
    assert_int_equal(kept, 4);
    assert_int_equal(sitr_vframes_validate(buf, len), 4);
    size_t pos = 0;
    sitr_vframe_t r;
    const size_t src[4] = {0, 2, 3, 4};
    const unsigned mask[4] = {0x10, 0x90, 0x10, 0};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sitr_vframes_next(buf, len, &pos, &r), 1);
        const sitr_vframe_in_t *s = &f[src[i]];
        assert_int_equal(r.number, s->n);
        assert_true(r.t == (float)s->t);
        assert_int_equal(r.mask, mask[i]);
        assert_memory_equal(r.pdq.b, s->pdq.b, 32);
        if (mask[i] & 0x10)
            assert_memory_equal(r.variants[0].b, s->dihedral[SITR_PDQ_FLIPY].b, 32);
        if (mask[i] & 0x80)
            assert_memory_equal(r.variants[1].b, s->trimmed.b, 32);
    }
    free(buf);

    /* All eight: seven variants in dihedral order. */
    assert_int_equal(
        sitr_vpack(f, 1, SITR_VPACK_CASE, SITR_VPACK_VARIANTS_ALL, &buf, &len, &kept, NULL), 0);
    pos = 0;
    assert_int_equal(sitr_vframes_next(buf, len, &pos, &r), 1);
    assert_int_equal(r.mask, 0x7f);
    for (int v = 0; v < 7; v++)
        assert_memory_equal(r.variants[v].b, f[0].dihedral[v + 1].b, 32);
    free(buf);
}

static void test_upload_policy(void **state)
{
    (void)state;
    sitr_vframe_in_t f[3];
    make(f, 3);
    f[0].has_trimmed = 1;
    f[0].trimmed_quality = 100;
    uint8_t *buf;
    size_t len, kept;
    assert_int_equal(
        sitr_vpack(f, 3, SITR_VPACK_UPLOAD, SITR_VPACK_VARIANTS_ALL, &buf, &len, &kept, NULL), 0);
    assert_int_equal(kept, 3);
    assert_int_equal(len, 3 * 42);
    free(buf);
    /* Every frame below 50: nothing to store, not an error. */
    for (int i = 0; i < 3; i++)
        f[i].quality = 10;
    assert_int_equal(sitr_vpack(f, 3, SITR_VPACK_UPLOAD, 0, &buf, &len, &kept, NULL), 0);
    assert_null(buf);
    assert_int_equal(kept, 0);
    char *hex = (char *)1;
    assert_int_equal(sitr_vpack_hex(f, 3, SITR_VPACK_UPLOAD, 0, &hex, &kept, NULL), 0);
    assert_null(hex);
}

static void test_order_refused(void **state)
{
    (void)state;
    sitr_vframe_in_t f[4];
    make(f, 4);
    uint8_t *buf = NULL;
    size_t len, kept, bad = 99;
    f[2].n = f[1].n; /* not strictly increasing, even on a dropped frame */
    f[2].quality = 0;
    assert_int_equal(sitr_vpack(f, 4, SITR_VPACK_CASE, 0, &buf, &len, &kept, &bad), SITR_EINVAL);
    assert_int_equal(bad, 2);
    assert_null(buf);
    make(f, 4);
    f[3].t = f[2].t - 0.01;
    assert_int_equal(sitr_vpack(f, 4, SITR_VPACK_CASE, 0, &buf, &len, &kept, &bad), SITR_EINVAL);
    assert_int_equal(bad, 3);
    make(f, 4);
    f[0].t = NAN;
    assert_int_equal(sitr_vpack(f, 4, SITR_VPACK_CASE, 0, &buf, &len, &kept, &bad), SITR_EINVAL);
    assert_int_equal(bad, 0);
    make(f, 4);
    f[1].quality = 101;
    assert_int_equal(sitr_vpack(f, 4, SITR_VPACK_CASE, 0, &buf, &len, &kept, &bad), SITR_EINVAL);
    assert_int_equal(bad, 1);
}

static void test_hex(void **state)
{
    (void)state;
    sitr_vframe_in_t f[7];
    make(f, 7);
    uint8_t *buf;
    size_t len, kept, kept2;
    char *hex;
    assert_int_equal(
        sitr_vpack(f, 7, SITR_VPACK_CASE, SITR_VPACK_VARIANTS_DEFAULT, &buf, &len, &kept, NULL), 0);
    assert_int_equal(
        sitr_vpack_hex(f, 7, SITR_VPACK_CASE, SITR_VPACK_VARIANTS_DEFAULT, &hex, &kept2, NULL), 0);
    assert_int_equal(kept, kept2);
    assert_int_equal(strlen(hex), 2 * len);
    uint8_t *back = malloc(len);
    assert_int_equal(sitr_hex_decode(hex, strlen(hex), back, len), 0);
    assert_memory_equal(back, buf, len);
    free(back);
    free(hex);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_policy),
        cmocka_unit_test(test_upload_policy),
        cmocka_unit_test(test_order_refused),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
