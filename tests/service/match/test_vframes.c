/* vframes: the packed frame format.  Round trips of random frames with
 * every mask, the exact byte layout of one record (big-endian fields, the
 * variant order), and the refusals: short buffers, unstorable frames,
 * truncated records, frame numbers or times out of order, empty lists. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vframes.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void random_pdq(sitr_pdq_t *h)
{
    for (int i = 0; i < SITR_PDQ_BYTES; i++)
        h->b[i] = (uint8_t)rnd();
}

static sitr_vframe_t random_frame(uint32_t number, float t, unsigned mask)
{
    sitr_vframe_t f;
    memset(&f, 0, sizeof f);
    f.number = number;
    f.t = t;
    f.quality = (uint8_t)(50 + rnd() % 51);
    f.mask = (uint8_t)mask;
    random_pdq(&f.pdq);
    for (int i = 0; i < __builtin_popcount(mask); i++)
        random_pdq(&f.variants[i]);
    return f;
}

static void test_sizes_and_kinds(void **state)
{
    (void)state;
    assert_int_equal(sitr_vframes_record_size(0), 42);
    assert_int_equal(sitr_vframes_record_size(SITR_VFRAMES_FLIPX_BIT), 74);
    assert_int_equal(sitr_vframes_record_size(0xff), 42 + 8 * 32);
    assert_int_equal(SITR_VFRAMES_MAX_RECORD, 42 + 8 * 32);
    for (unsigned b = 0; b < 7; b++)
        assert_int_equal(sitr_vframes_bit_kind(b), (int)b + 1);
    assert_int_equal(sitr_vframes_bit_kind(7), 8);
    assert_int_equal(sitr_vframes_bit_kind(SITR_PDQ_FLIPY - 1), SITR_PDQ_FLIPY);
}

/* The layout the migration documents, byte by byte. */
static void test_layout(void **state)
{
    (void)state;
    sitr_vframe_t f = random_frame(0x01020304u, 1.5f, (1u << (SITR_PDQ_FLIPY - 1)) | 0x80u);
    f.quality = 77;
    uint8_t buf[SITR_VFRAMES_MAX_RECORD];
    assert_int_equal(sitr_vframes_put(buf, sizeof buf, &f), 42 + 2 * 32);
    const uint8_t want_head[10] = {1, 2, 3, 4, 0x3f, 0xc0, 0, 0, 77, 0x90};
    assert_memory_equal(buf, want_head, 10);
    assert_memory_equal(buf + 10, f.pdq.b, 32);
    assert_memory_equal(buf + 42, f.variants[0].b, 32); /* FLIPY: bit 4 first */
    assert_memory_equal(buf + 74, f.variants[1].b, 32); /* then trimmed: bit 7 */
}

static void test_round_trip(void **state)
{
    (void)state;
    enum { N = 300 };
    size_t cap = (size_t)N * SITR_VFRAMES_MAX_RECORD;
    uint8_t *buf = malloc(cap);
    sitr_vframe_t *in = malloc(N * sizeof *in);
    assert_non_null(buf);
    assert_non_null(in);
    size_t len = 0;
    float t = 0.0f;
    for (uint32_t i = 0; i < N; i++) {
        unsigned mask = i < 256 ? i : (unsigned)(rnd() & 0xff);
        in[i] = random_frame(i * 3 + (uint32_t)(rnd() % 3), t, mask);
        t += (float)(rnd() % 3) * 0.2f; /* equal times are allowed */
        int n = sitr_vframes_put(buf + len, cap - len, &in[i]);
        assert_int_equal(n, (int)sitr_vframes_record_size(mask));
        len += (size_t)n;
    }
    /* Frame numbers increase by construction (i * 3 + 0..2). */
    assert_int_equal(sitr_vframes_validate(buf, len), N);
    size_t pos = 0;
    sitr_vframe_t out;
    for (int i = 0; i < N; i++) {
        assert_int_equal(sitr_vframes_next(buf, len, &pos, &out), 1);
        assert_int_equal(out.number, in[i].number);
        assert_true(out.t == in[i].t);
        assert_int_equal(out.quality, in[i].quality);
        assert_int_equal(out.mask, in[i].mask);
        assert_memory_equal(out.pdq.b, in[i].pdq.b, 32);
        for (int v = 0; v < __builtin_popcount(out.mask); v++)
            assert_memory_equal(out.variants[v].b, in[i].variants[v].b, 32);
    }
    assert_int_equal(sitr_vframes_next(buf, len, &pos, &out), 0);
    assert_int_equal(pos, len);
    free(in);
    free(buf);
}

static void test_put_refuses(void **state)
{
    (void)state;
    uint8_t buf[SITR_VFRAMES_MAX_RECORD];
    sitr_vframe_t f = random_frame(0, 0.0f, 0x3);
    assert_int_equal(sitr_vframes_put(buf, 42 + 64 - 1, &f), SITR_EINVAL);
    assert_int_equal(sitr_vframes_put(buf, 42 + 64, &f), 42 + 64);
    f.quality = 49;
    assert_int_equal(sitr_vframes_put(buf, sizeof buf, &f), SITR_EINVAL);
    f.quality = 101;
    assert_int_equal(sitr_vframes_put(buf, sizeof buf, &f), SITR_EINVAL);
    f.quality = 50;
    f.t = -0.5f;
    assert_int_equal(sitr_vframes_put(buf, sizeof buf, &f), SITR_EINVAL);
    f.t = NAN;
    assert_int_equal(sitr_vframes_put(buf, sizeof buf, &f), SITR_EINVAL);
    f.t = INFINITY;
    assert_int_equal(sitr_vframes_put(buf, sizeof buf, &f), SITR_EINVAL);
}

/* Two records; returns the length and writes them into buf. */
static size_t two(uint8_t *buf, const sitr_vframe_t *a, const sitr_vframe_t *b)
{
    int n1 = sitr_vframes_put(buf, SITR_VFRAMES_MAX_RECORD, a);
    assert_true(n1 > 0);
    int n2 = sitr_vframes_put(buf + n1, SITR_VFRAMES_MAX_RECORD, b);
    assert_true(n2 > 0);
    return (size_t)n1 + (size_t)n2;
}

static void test_validate_refuses(void **state)
{
    (void)state;
    uint8_t buf[2 * SITR_VFRAMES_MAX_RECORD];
    sitr_vframe_t a = random_frame(5, 1.0f, 0x10), b = random_frame(6, 1.0f, 0);
    size_t len = two(buf, &a, &b);
    assert_int_equal(sitr_vframes_validate(buf, len), 2);
    /* Empty, truncated anywhere, one byte too many. */
    assert_int_equal(sitr_vframes_validate(buf, 0), SITR_EINVAL);
    for (size_t cut = 1; cut < len; cut++)
        if (cut != sitr_vframes_record_size(0x10))
            assert_int_equal(sitr_vframes_validate(buf, cut), SITR_EINVAL);
    assert_int_equal(sitr_vframes_validate(buf, sitr_vframes_record_size(0x10)), 1);
    /* A mask claiming more variants than the bytes hold. */
    buf[9] = 0xff;
    assert_int_equal(sitr_vframes_validate(buf, len), SITR_EINVAL);
    /* Frame numbers equal or decreasing. */
    b.number = 5;
    len = two(buf, &a, &b);
    assert_int_equal(sitr_vframes_validate(buf, len), SITR_EINVAL);
    b.number = 4;
    len = two(buf, &a, &b);
    assert_int_equal(sitr_vframes_validate(buf, len), SITR_EINVAL);
    /* Time going back. */
    b.number = 6;
    b.t = 0.9f;
    len = two(buf, &a, &b);
    assert_int_equal(sitr_vframes_validate(buf, len), SITR_EINVAL);
    /* A quality below 50 or a NaN time written behind put's back. */
    b.t = 2.0f;
    len = two(buf, &a, &b);
    assert_int_equal(sitr_vframes_validate(buf, len), 2);
    size_t second = sitr_vframes_record_size(0x10);
    buf[second + 8] = 49;
    assert_int_equal(sitr_vframes_validate(buf, len), SITR_EINVAL);
    buf[second + 8] = 50;
    assert_int_equal(sitr_vframes_validate(buf, len), 2);
    memset(buf + second + 4, 0xff, 4); /* NaN */
    assert_int_equal(sitr_vframes_validate(buf, len), SITR_EINVAL);
    /* next() on a position past the end. */
    size_t pos = len + 1;
    sitr_vframe_t out;
    assert_int_equal(sitr_vframes_next(buf, len, &pos, &out), SITR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_and_kinds),  cmocka_unit_test(test_layout),
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_put_refuses),
        cmocka_unit_test(test_validate_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
