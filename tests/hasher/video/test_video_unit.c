/* Units of the video front-end: secondsPerHash parsing, the line format,
 * sniffing, digests, thread-count invariance, the bound on frames in
 * flight, progress and cancel, and the uniform-border detector. */
#include "video_support.h"
#include "video_int.h"

#include <sitr/image.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static char padded[1024], grey_bar[1024], doorknob[1024];

static int setup(void **state)
{
    (void)state;
    snprintf(padded, sizeof(padded), "%s/videos/test-padded-dimensions.mp4", vdata_dir());
    snprintf(grey_bar, sizeof(grey_bar), "%s/videos/pattern-sd-grey-bar.mp4", vdata_dir());
    snprintf(doorknob, sizeof(doorknob), "%s/videos/doorknob-hd-no-bar.mp4", vdata_dir());
    return 0;
}

static void test_parse_seconds(void **state)
{
    (void)state;
    double v;
    assert_int_equal(sitr_video_parse_seconds("1", &v), 0);
    assert_true(v == 1.0);
    assert_int_equal(sitr_video_parse_seconds("0", &v), 0);
    assert_true(v == 0.0);
    assert_int_equal(sitr_video_parse_seconds("0.7", &v), 0);
    assert_true(v == (double)0.7f); /* a float, widened, as the reference's CLI */
    assert_true(v != 0.7);
    const char *bad[] = {"", "-1", "abc", "1x", "nan", "inf", "3601", " 1 ", "1e40"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sitr_video_parse_seconds(bad[i], &v), SITR_EINVAL);
    assert_int_equal(sitr_video_parse_seconds(NULL, &v), SITR_EINVAL);
}

static void test_period_float(void **state)
{
    (void)state;
    /* SPEC §3: 0.7f x 30 fps = 20.99999... -> every 20th frame. */
    double s;
    assert_int_equal(sitr_video_parse_seconds("0.7", &s), 0);
    sitr_video_t *v = vhash(padded, s, 1, 0);
    assert_int_equal(v->period, 20);
    assert_int_equal(v->decoded_frames, 150);
    assert_int_equal(v->count, 8); /* 0, 20, ..., 140 */
    assert_int_equal(v->frames[7].number, 140);
    assert_int_equal(v->width, 1080);
    assert_int_equal(v->height, 1080);
    assert_true(v->fps == 30.0);
    assert_true(v->duration == 5.0);
    sitr_video_free(v);
}

static void test_format_line(void **state)
{
    (void)state;
    sitr_video_frame_t f;
    memset(&f, 0, sizeof(f));
    f.number = 1;
    f.pdq.quality = 100;
    f.timestamp = (double)(1.0f / 30.0f);
    assert_int_equal(
        sitr_pdq_from_hex("c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c", 64,
                          &f.pdq.hash),
        0);
    char buf[SITR_VIDEO_LINE_MAX];
    int n = sitr_video_format_line(&f, buf, sizeof(buf));
    const char *want = "1,100,c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c,"
                       "0.033\n";
    assert_int_equal(n, (int)strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
    assert_int_equal(sitr_video_format_line(&f, buf, 10), SITR_EINVAL);
    sitr_video_free(NULL);
}

static void test_sniff(void **state)
{
    (void)state;
    size_t len;
    uint8_t *mp4 = vread_file(padded, &len);
    assert_int_equal(sitr_video_sniff(mp4, 64), 1);
    free(mp4);
    static const uint8_t mkv[] = {0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81};
    assert_int_equal(sitr_video_sniff(mkv, sizeof(mkv)), 1);
    assert_int_equal(sitr_video_sniff("RIFF\x10\0\0\0AVI LIST", 16), 1);
    assert_int_equal(sitr_video_sniff("RIFF\x10\0\0\0WEBPVP8 ", 16), 0);
    uint8_t ts[400];
    memset(ts, 0, sizeof(ts));
    ts[0] = ts[188] = ts[376] = 0x47;
    assert_int_equal(sitr_video_sniff(ts, sizeof(ts)), 1);
    ts[188] = 0;
    assert_int_equal(sitr_video_sniff(ts, sizeof(ts)), 0);
    assert_int_equal(sitr_video_sniff("\0\0\0\x18"
                                      "ftypheic\0\0\0\0",
                                      16),
                     0);
    assert_int_equal(sitr_video_sniff("\0\0\0\x18"
                                      "ftypavif\0\0\0\0",
                                      16),
                     0);
    assert_int_equal(sitr_video_sniff("\0\0\0\x18"
                                      "ftypisom\0\0\0\0",
                                      16),
                     1);
    assert_int_equal(sitr_video_sniff("\xff\xd8\xff\xe0", 4), 0);
    assert_int_equal(sitr_video_sniff("\x1a\x45", 2), 0);
    assert_int_equal(sitr_video_sniff(NULL, 0), 0);
}

static void test_digests(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = vread_file(doorknob, &len);
    uint8_t md5[SITR_MD5_BYTES], sha[SITR_SHA256_BYTES];
    sitr_digest_md5(data, len, md5);
    sitr_digest_sha256(data, len, sha);
    sitr_video_t *v = vhash(doorknob, 1, 2, 0);
    assert_memory_equal(v->md5, md5, sizeof(md5));
    assert_memory_equal(v->sha256, sha, sizeof(sha));
    sitr_video_free(v);

    /* The memory entry point gives the same video. */
    sitr_video_options_t o;
    sitr_video_options_default(&o);
    sitr_video_t *m = NULL;
    sitr_err_t err = {0};
    assert_int_equal(sitr_video_hash_memory(data, len, &o, &m, &err), 0);
    assert_memory_equal(m->sha256, sha, sizeof(sha));
    v = vhash(doorknob, 1, 0, 0);
    assert_int_equal(m->count, v->count);
    assert_memory_equal(m->frames, v->frames, v->count * sizeof(*v->frames));
    sitr_video_free(m);
    sitr_video_free(v);
    free(data);
}

/* Same frames, hashes, dihedral and trimmed variants for 1..8 threads. */
static void test_thread_invariance(void **state)
{
    (void)state;
    unsigned flags = SITR_PDQ_WANT_DIHEDRAL | SITR_VIDEO_WANT_TRIMMED;
    sitr_video_t *one = vhash(grey_bar, 0, 1, flags);
    assert_int_equal(one->count, 206);
    const int threads[] = {2, 3, 8};
    for (size_t i = 0; i < 3; i++) {
        sitr_video_t *v = vhash(grey_bar, 0, threads[i], flags);
        assert_int_equal(v->count, one->count);
        for (size_t k = 0; k < v->count; k++) {
            const sitr_video_frame_t *a = &one->frames[k], *b = &v->frames[k];
            assert_int_equal(a->number, b->number);
            assert_memory_equal(&a->pdq, &b->pdq, sizeof(a->pdq));
            assert_int_equal(a->has_trimmed, b->has_trimmed);
            assert_memory_equal(&a->trimmed, &b->trimmed, sizeof(a->trimmed));
            assert_int_equal(a->trimmed_quality, b->trimmed_quality);
        }
        sitr_video_free(v);
    }
    /* The dihedral ORIG variant is the plain hash. */
    for (size_t k = 0; k < one->count; k++)
        assert_memory_equal(&one->frames[k].pdq.dihedral[SITR_PDQ_ORIG], &one->frames[k].pdq.hash,
                            sizeof(sitr_pdq_t));
    sitr_video_free(one);
}

/* A long video (3,000 frames) hashed at every frame: the pool never holds
 * more than its slots, whatever the length. */
static void test_memory_bound(void **state)
{
    (void)state;
    char dir[256], path[300];
    vtmp_make(dir);
    snprintf(path, sizeof(path), "%s/long.avi", dir);
    assert_int_equal(vffmpeg("-f lavfi -i testsrc=s=96x64:r=100:d=30 -c:v mpeg4 -q:v 8 '%s'", path),
                     0);
    sitr_video_options_t o;
    sitr_video_options_default(&o);
    o.seconds_per_hash = 0;
    o.threads = 2;
    sitr_video_t *v = NULL;
    sitr_video_stats_t st;
    sitr_err_t err = {0};
    assert_int_equal(sitr_video_hash_file_stats(path, &o, &v, &st, &err), 0);
    assert_int_equal(v->decoded_frames, 3000);
    assert_int_equal(v->count, 3000);
    assert_int_equal(st.threads, 2);
    assert_int_equal(st.slots, 6);
    assert_true(st.max_in_flight >= 1);
    assert_true(st.max_in_flight <= st.slots);
    for (size_t i = 0; i < v->count; i++)
        assert_int_equal(v->frames[i].number, (int64_t)i);
    sitr_video_free(v);
    vtmp_remove(dir);
}

typedef struct prog {
    int calls;
    double last_done, last_total;
    int monotonic;
    volatile int *cancel_after_first;
} prog_t;

static void on_progress(void *ctx, double done, double total)
{
    prog_t *p = ctx;
    if (done < p->last_done)
        p->monotonic = 0;
    p->last_done = done;
    p->last_total = total;
    p->calls++;
    if (p->cancel_after_first != NULL)
        *p->cancel_after_first = 1;
}

static void test_progress_and_cancel(void **state)
{
    (void)state;
    sitr_video_options_t o;
    sitr_video_options_default(&o);
    prog_t p = {0, 0, 0, 1, NULL};
    o.progress = on_progress;
    o.progress_ctx = &p;
    sitr_video_t *v = NULL;
    sitr_err_t err = {0};
    assert_int_equal(sitr_video_hash_file(padded, &o, &v, &err), 0);
    assert_int_equal(p.calls, 6); /* 5 selected frames, then the end */
    assert_true(p.monotonic);
    assert_true(p.last_done == 5.0 && p.last_total == 5.0);
    sitr_video_free(v);

    volatile int cancel = 0;
    prog_t c = {0, 0, 0, 1, &cancel};
    o.progress_ctx = &c;
    o.cancel = &cancel;
    o.seconds_per_hash = 0;
    v = (sitr_video_t *)1;
    assert_int_equal(sitr_video_hash_file(padded, &o, &v, &err), SITR_ECANCELED);
    assert_null(v);
    assert_int_equal(err.code, SITR_ECANCELED);
}

static void test_options_checked(void **state)
{
    (void)state;
    sitr_video_options_t o;
    sitr_video_options_default(&o);
    sitr_video_t *v = NULL;
    sitr_err_t err = {0};
    o.flags = 0x80;
    assert_int_equal(sitr_video_hash_file(padded, &o, &v, &err), SITR_EINVAL);
    sitr_video_options_default(&o);
    o.seconds_per_hash = -1;
    assert_int_equal(sitr_video_hash_file(padded, &o, &v, &err), SITR_EINVAL);
    assert_int_equal(sitr_video_hash_file(NULL, NULL, &v, &err), SITR_EINVAL);
    assert_null(v);
}

/* Synthetic luma: content of random texture inside bars. */
static float *frame_with_bars(int w, int h, int top, int bottom, int left, int right, float bar)
{
    float *l = malloc((size_t)w * (size_t)h * sizeof(float));
    assert_non_null(l);
    unsigned s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 1103515245u + 12345u;
            int inside = y >= top && y < h - bottom && x >= left && x < w - right;
            float noise = (float)((s >> 16) % 3) - 1.0f; /* compression-like noise in bars */
            l[(size_t)y * (size_t)w + (size_t)x] =
                inside ? (float)((s >> 16) % 200) + 20.0f : bar + noise;
        }
    return l;
}

static void test_find_borders(void **state)
{
    (void)state;
    sitr_vrect_t r;
    float *l = frame_with_bars(320, 240, 30, 30, 0, 0, 16.0f);
    assert_int_equal(sitr_video_find_borders(l, 320, 240, &r), 1);
    assert_int_equal(r.x, 0);
    assert_int_equal(r.y, 30);
    assert_int_equal(r.w, 320);
    assert_int_equal(r.h, 180);
    free(l);
    /* Pillarbox in grey, uneven sides. */
    l = frame_with_bars(320, 240, 0, 0, 40, 60, 128.0f);
    assert_int_equal(sitr_video_find_borders(l, 320, 240, &r), 1);
    assert_int_equal(r.x, 40);
    assert_int_equal(r.w, 220);
    assert_int_equal(r.y, 0);
    assert_int_equal(r.h, 240);
    free(l);
    /* No bars; a 1-line bar is below the minimum; a flat frame has none;
     * content narrower than a quarter is not trimmed. */
    l = frame_with_bars(320, 240, 0, 0, 0, 0, 0);
    assert_int_equal(sitr_video_find_borders(l, 320, 240, &r), 0);
    free(l);
    l = frame_with_bars(320, 240, 1, 0, 0, 0, 0);
    assert_int_equal(sitr_video_find_borders(l, 320, 240, &r), 0);
    free(l);
    l = frame_with_bars(320, 240, 120, 120, 0, 0, 0);
    assert_int_equal(sitr_video_find_borders(l, 320, 240, &r), 0);
    free(l);
    l = frame_with_bars(320, 240, 0, 0, 150, 150, 0);
    assert_int_equal(sitr_video_find_borders(l, 320, 240, &r), 0);
    free(l);
}

/* A letterboxed and a pillarboxed copy of a video: with the trimmed hash
 * their frames come much closer to the original's. */
static void test_trimmed_letterbox(void **state)
{
    (void)state;
    char dir[256], base[300], lb[300], pb[300];
    vtmp_make(dir);
    snprintf(base, sizeof(base), "%s/texture.mp4", dir);
    snprintf(lb, sizeof(lb), "%s/letterbox.mp4", dir);
    snprintf(pb, sizeof(pb), "%s/pillarbox.mkv", dir);
    /* The textured middle of a sample, then the same with bars. */
    assert_int_equal(
        vffmpeg("-i '%s' -vf crop=400:600:40:60 -c:v libx264 -crf 16 '%s'", grey_bar, base), 0);
    assert_int_equal(
        vffmpeg("-i '%s' -vf pad=400:800:0:100:black -c:v libx264 -crf 18 '%s'", base, lb), 0);
    assert_int_equal(
        vffmpeg("-i '%s' -vf pad=800:600:150:0:0x808080 -c:v libx264 -crf 18 '%s'", base, pb), 0);
    sitr_video_t *orig = vhash(base, 1, 0, SITR_VIDEO_WANT_TRIMMED);
    const char *copies[] = {lb, pb};
    for (int c = 0; c < 2; c++) {
        sitr_video_t *v = vhash(copies[c], 1, 0, SITR_VIDEO_WANT_TRIMMED);
        assert_int_equal(v->count, orig->count);
        int sum_plain = 0, sum_trim = 0, max_trim = 0;
        for (size_t i = 0; i < v->count; i++) {
            const sitr_video_frame_t *f = &v->frames[i];
            assert_true(f->has_trimmed);
            int dp = sitr_pdq_distance(&f->pdq.hash, &orig->frames[i].pdq.hash);
            int dt = sitr_pdq_distance(&f->trimmed, &orig->frames[i].pdq.hash);
            sum_plain += dp;
            sum_trim += dt;
            if (dt > max_trim)
                max_trim = dt;
        }
        print_message("  %s: mean distance to the original %.1f plain, %.1f trimmed (max %d)\n",
                      c == 0 ? "letterbox" : "pillarbox", (double)sum_plain / (double)v->count,
                      (double)sum_trim / (double)v->count, max_trim);
        assert_true(max_trim <= 31);
        assert_true(sum_trim * 2 < sum_plain);
        sitr_video_free(v);
    }
    /* The original has no bars: no trimmed hash. */
    for (size_t i = 0; i < orig->count; i++)
        assert_false(orig->frames[i].has_trimmed);
    sitr_video_free(orig);
    vtmp_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_seconds),     cmocka_unit_test(test_period_float),
        cmocka_unit_test(test_format_line),       cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_digests),           cmocka_unit_test(test_thread_invariance),
        cmocka_unit_test(test_memory_bound),      cmocka_unit_test(test_progress_and_cancel),
        cmocka_unit_test(test_options_checked),   cmocka_unit_test(test_find_borders),
        cmocka_unit_test(test_trimmed_letterbox),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
