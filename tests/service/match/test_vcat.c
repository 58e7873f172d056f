/* vcat: the per-video catalogue.  Distinct-hash numbering, period and
 * duration of one video; references that outlive removal and replacement;
 * and thousands of random puts and removes checked against a plain array
 * (the open-addressing table's backward-shift deletion). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "match/vcat.h"
#include "match/vframes.h"

static uint64_t rng_state = 0x5eed5eed5eed5eedull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* Packs frames with the given times and hash labels (equal labels, equal
 * hashes); returns the length. */
static size_t pack(uint8_t *buf, const float *t, const int *label, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        sitr_vframe_t f;
        memset(&f, 0, sizeof f);
        f.number = (uint32_t)i;
        f.t = t[i];
        f.quality = (uint8_t)(60 + i % 40);
        memset(f.pdq.b, 0, 32);
        f.pdq.b[0] = (uint8_t)label[i];
        f.pdq.b[31] = (uint8_t)(label[i] * 7);
        int w = sitr_vframes_put(buf + len, 1000, &f);
        assert_true(w > 0);
        len += (size_t)w;
    }
    return len;
}

static void test_one_video(void **state)
{
    (void)state;
    sitr_vcat_t *c = sitr_vcat_new(1);
    assert_non_null(c);
    /* 5 fps with one dropped frame (0.6) and a repeated hash (labels 3). */
    const float t[] = {0.0f, 0.2f, 0.4f, 0.8f, 1.0f, 1.2f};
    const int label[] = {3, 1, 2, 3, 4, 1};
    uint8_t buf[6 * 42];
    size_t len = pack(buf, t, label, 6);
    assert_int_equal(sitr_vcat_put(c, 42, buf, len, -1), 0);
    const sitr_vcat_video_t *v = sitr_vcat_get(c, 42);
    assert_non_null(v);
    assert_int_equal(v->id, 42);
    assert_int_equal(v->nslots, 6);
    assert_int_equal(v->distinct, 4);
    assert_int_equal(v->cframe[0], v->cframe[3]);
    assert_int_equal(v->cframe[1], v->cframe[5]);
    assert_int_not_equal(v->cframe[0], v->cframe[1]);
    assert_int_not_equal(v->cframe[2], v->cframe[4]);
    for (int i = 0; i < 6; i++) {
        assert_true(v->cframe[i] < v->distinct);
        assert_true(v->t[i] == t[i]);
        assert_true(v->frames[i].t == (double)t[i]);
        assert_int_equal(v->frames[i].quality, 60 + i % 40);
        assert_int_equal(v->frames[i].pdq.b[0], label[i]);
    }
    assert_true(v->period > 0.1999 && v->period < 0.2001);
    assert_true(v->duration > 1.3999 && v->duration < 1.4001); /* 1.2 + one period */
    assert_true(v->span > 1.3999 && v->span < 1.4001);
    /* Removed while referenced: the reference stays readable. */
    assert_int_equal(sitr_vcat_remove(c, 42), 1);
    assert_int_equal(sitr_vcat_remove(c, 42), 0);
    assert_null(sitr_vcat_get(c, 42));
    assert_int_equal(v->nslots, 6);
    sitr_vcat_release(v);
    /* The stored duration wins when it covers the frames. */
    assert_int_equal(sitr_vcat_put(c, 7, buf, len, 10.0), 0);
    v = sitr_vcat_get(c, 7);
    assert_true(v->duration == 10.0);
    assert_true(v->span > 1.3999 && v->span < 1.4001); /* what the frames cover */
    /* Replaced while referenced. */
    assert_int_equal(sitr_vcat_put(c, 7, buf, 42, 0.5), 0);
    const sitr_vcat_video_t *w = sitr_vcat_get(c, 7);
    assert_int_equal(w->nslots, 1);
    assert_true(w->period == 1.0);
    assert_true(w->duration == 0.5); /* it covers the one frame at 0 */
    assert_int_equal(v->nslots, 6);
    sitr_vcat_release(v);
    sitr_vcat_release(w);
    assert_int_equal(sitr_vcat_size(c), 1);
    assert_int_equal(sitr_vcat_frames(c), 1);
    /* Malformed lists are refused and change nothing. */
    assert_int_equal(sitr_vcat_put(c, 8, buf, len - 1, -1), SITR_EINVAL);
    assert_int_equal(sitr_vcat_put(c, 8, buf, 0, -1), SITR_EINVAL);
    assert_null(sitr_vcat_get(c, 8));
    sitr_vcat_free(c);
}

/* A case catalogue keeps no query frames. */
static void test_no_frames(void **state)
{
    (void)state;
    sitr_vcat_t *c = sitr_vcat_new(0);
    const float t[] = {0.0f, 1.0f};
    const int label[] = {1, 2};
    uint8_t buf[2 * 42];
    size_t len = pack(buf, t, label, 2);
    assert_int_equal(sitr_vcat_put(c, 1, buf, len, -1), 0);
    const sitr_vcat_video_t *v = sitr_vcat_get(c, 1);
    assert_null(v->frames);
    assert_int_equal(v->distinct, 2);
    sitr_vcat_release(v);
    sitr_vcat_free(c);
}

static void test_random_against_array(void **state)
{
    (void)state;
    enum { IDS = 3000, OPS = 40000 };
    sitr_vcat_t *c = sitr_vcat_new(0);
    static int present[IDS]; /* slots of the video, 0 = absent */
    uint8_t buf[8 * 42];
    float t[8];
    int label[8];
    size_t frames = 0, videos = 0;
    for (int op = 0; op < OPS; op++) {
        int64_t id = (int64_t)(rnd() % IDS);
        /* Ids in clusters, so that probe runs form and wrap. */
        int64_t key = id * 64 + 1;
        if (rnd() % 3) {
            size_t n = 1 + rnd() % 8;
            for (size_t i = 0; i < n; i++) {
                t[i] = (float)i;
                label[i] = (int)(rnd() % 4);
            }
            assert_int_equal(sitr_vcat_put(c, key, buf, pack(buf, t, label, n), -1), 0);
            frames += n - (size_t)present[id];
            videos += present[id] == 0;
            present[id] = (int)n;
        } else {
            assert_int_equal(sitr_vcat_remove(c, key), present[id] != 0);
            frames -= (size_t)present[id];
            videos -= present[id] != 0;
            present[id] = 0;
        }
        if (op % 5000 == 4999 || op == OPS - 1) {
            for (int64_t i = 0; i < IDS; i++) {
                const sitr_vcat_video_t *v = sitr_vcat_get(c, i * 64 + 1);
                if (!present[i]) {
                    assert_null(v);
                    continue;
                }
                assert_non_null(v);
                assert_int_equal(v->id, i * 64 + 1);
                assert_int_equal(v->nslots, present[i]);
                sitr_vcat_release(v);
            }
            assert_int_equal(sitr_vcat_size(c), videos);
            assert_int_equal(sitr_vcat_frames(c), frames);
        }
    }
    sitr_vcat_clear(c);
    assert_int_equal(sitr_vcat_size(c), 0);
    assert_null(sitr_vcat_get(c, 1));
    sitr_vcat_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_video),
        cmocka_unit_test(test_no_frames),
        cmocka_unit_test(test_random_against_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
