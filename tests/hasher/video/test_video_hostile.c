/* Hostile and broken videos: each gets a clear error, never a partial or
 * zero hash, and nothing crashes (the suite also runs this under ASan and
 * UBSan).  The files are derived in a temporary folder with the ffmpeg
 * program from a vendored sample. */
#include "video_support.h"
#include "video_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

static char dir[256], src[1024];

static int setup(void **state)
{
    (void)state;
    vtmp_make(dir);
    snprintf(src, sizeof(src), "%s/videos/test-padded-dimensions.mp4", vdata_dir());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vtmp_remove(dir);
    return 0;
}

static const char *tmp(const char *name)
{
    static char p[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

/* Hashes path expecting failure with code want; prints the message. */
static void expect_fail(const char *path, const sitr_video_options_t *opt, int want)
{
    sitr_video_t *v = (sitr_video_t *)1;
    sitr_err_t err = {0};
    int rc = sitr_video_hash_file(path, opt, &v, &err);
    print_message("  %-28s %s: %s\n", strrchr(path, '/') + 1, sitr_strerror(rc), err.msg);
    assert_int_equal(rc, want);
    assert_int_equal(err.code, want);
    assert_true(err.msg[0] != '\0');
    assert_null(v);
}

static void test_not_videos(void **state)
{
    (void)state;
    vwrite_file(tmp("empty.mp4"), "", 0);
    expect_fail(tmp("empty.mp4"), NULL, SITR_EEMPTY);
    expect_fail(tmp("missing.mp4"), NULL, SITR_ENOENT);
    expect_fail(dir, NULL, SITR_EISDIR);
    vwrite_file(tmp("text.mp4"), "hello, this is not a video\n", 27);
    expect_fail(tmp("text.mp4"), NULL, SITR_ECODEC);
    /* A playlist and a concat list pointing at a real video: neither
     * demuxer is allowed, so nothing else is ever opened. */
    char buf[2048];
    int n = snprintf(buf, sizeof(buf),
                     "#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:5,\nfile://%s\n"
                     "#EXT-X-ENDLIST\n",
                     src);
    vwrite_file(tmp("playlist.m3u8"), buf, (size_t)n);
    expect_fail(tmp("playlist.m3u8"), NULL, SITR_ECODEC);
    n = snprintf(buf, sizeof(buf), "ffconcat version 1.0\nfile '%s'\n", src);
    vwrite_file(tmp("list.ffconcat"), buf, (size_t)n);
    expect_fail(tmp("list.ffconcat"), NULL, SITR_ECODEC);
    /* An image2 pattern name is just a missing file to us. */
    expect_fail(tmp("frame%03d.png"), NULL, SITR_ENOENT);
    assert_int_equal(mkfifo(tmp("fifo.mp4"), 0600), 0);
    expect_fail(tmp("fifo.mp4"), NULL, SITR_EINVAL);
}

static void test_wrong_content(void **state)
{
    (void)state;
    assert_int_equal(vffmpeg("-f lavfi -i sine=d=1 -c:a aac '%s'", tmp("audio.m4a")), 0);
    expect_fail(tmp("audio.m4a"), NULL, SITR_ENOVIDEO);
    assert_int_equal(vffmpeg("-f lavfi -i testsrc=s=4x4:d=1:r=10 -pix_fmt yuv420p -c:v mpeg4 '%s'",
                             tmp("tiny.avi")),
                     0);
    expect_fail(tmp("tiny.avi"), NULL, SITR_ESMALLVIDEO);
    assert_int_equal(
        vffmpeg("-f lavfi -i testsrc=s=64x48:d=1:r=10 -c:v mpeg2video '%s'", tmp("mpeg2.ts")), 0);
    expect_fail(tmp("mpeg2.ts"), NULL, SITR_ECODEC);
    /* An allowed container we refuse anyway: raw H.264 is not on the list. */
    assert_int_equal(vffmpeg("-i '%s' -c copy -f h264 '%s'", src, tmp("raw.h264")), 0);
    expect_fail(tmp("raw.h264"), NULL, SITR_ECODEC);
}

/* Cuts at many points: always an error, never a shorter hash list. */
static void truncations(const char *name, int want_faststart)
{
    size_t len;
    uint8_t *data = vread_file(tmp(name), &len);
    const double cuts[] = {0.02, 0.1, 0.33, 0.5, 0.77, 0.9, 0.99};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        size_t n = (size_t)((double)len * cuts[i]) | 1; /* odd: never on a TS packet boundary */
        char out[64];
        snprintf(out, sizeof(out), "cut%zu-%s", i, name);
        vwrite_file(tmp(out), data, n);
        sitr_video_t *v = NULL;
        sitr_err_t err = {0};
        int rc = sitr_video_hash_file(tmp(out), NULL, &v, &err);
        print_message("  %-28s %s: %s\n", out, sitr_strerror(rc), err.msg);
        assert_null(v);
        /* Cut inside the header: not recognisable; after it: truncated. */
        if (want_faststart && cuts[i] >= 0.33)
            assert_int_equal(rc, SITR_EBADVIDEO);
        else
            assert_true(rc == SITR_EBADVIDEO || rc == SITR_ECODEC || rc == SITR_ENOVIDEO);
    }
    free(data);
}

static void test_truncated(void **state)
{
    (void)state;
    /* A small copy (240x240, 2 s) keeps the many decodes below quick. */
    const char *small = tmp("small.mp4");
    assert_int_equal(vffmpeg("-i '%s' -t 2 -vf scale=240:240 -c:v libx264 '%s'", src, small), 0);
    assert_int_equal(vffmpeg("-i '%s' -c copy -movflags +faststart '%s'", small, tmp("fs.mp4")), 0);
    assert_int_equal(vffmpeg("-i '%s' -c copy '%s'", small, tmp("v.mkv")), 0);
    assert_int_equal(vffmpeg("-i '%s' -c copy '%s'", small, tmp("v.ts")), 0);
    assert_int_equal(vffmpeg("-i '%s' -c:v mpeg4 -q:v 5 '%s'", small, tmp("v.avi")), 0);
    assert_int_equal(vffmpeg("-i '%s' -c copy '%s'", small, tmp("v.mp4")), 0);
    truncations("fs.mp4", 1);
    truncations("v.mkv", 1);
    truncations("v.ts", 1);
    truncations("v.avi", 0);
    truncations("v.mp4", 0);
}

/* Bit flips in the first 4 KB (the headers): success with whole frames,
 * or a clear error; never a crash, a zero hash or an empty result. */
static void test_header_bit_flips(void **state)
{
    (void)state;
    const char *files[] = {"fs.mp4", "v.mkv", "v.avi"};
    unsigned seed = 7;
    int ok = 0, failed = 0;
    for (size_t f = 0; f < 3; f++) {
        size_t len;
        uint8_t *data = vread_file(tmp(files[f]), &len);
        for (int round = 0; round < 40; round++) {
            uint8_t *m = malloc(len);
            assert_non_null(m);
            memcpy(m, data, len);
            for (int k = 0; k < 4; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t pos = (seed >> 8) % (len < 4096 ? len : 4096);
                m[pos] ^= (uint8_t)(1u << ((seed >> 4) & 7));
            }
            sitr_video_options_t o;
            sitr_video_options_default(&o);
            o.seconds_per_hash = 0;
            o.threads = 2;
            o.limits.max_frames = 10000;
            o.limits.max_decode_pixels = (uint64_t)10000 * 240 * 240;
            sitr_video_t *v = NULL;
            sitr_err_t err = {0};
            int rc = sitr_video_hash_memory(m, len, &o, &v, &err);
            if (rc == 0) {
                assert_non_null(v);
                assert_true(v->count >= 1);
                assert_int_equal(v->count, (size_t)v->decoded_frames);
                ok++;
                sitr_video_free(v);
            } else {
                assert_null(v);
                assert_true(rc < 0);
                assert_true(err.msg[0] != '\0');
                failed++;
            }
            free(m);
        }
        free(data);
    }
    print_message("  header bit flips: %d hashed, %d refused\n", ok, failed);
}

static void test_limits(void **state)
{
    (void)state;
    sitr_video_options_t o;
    sitr_video_options_default(&o);
    o.limits.max_file_bytes = 1000;
    expect_fail(src, &o, SITR_ETOOBIG);
    sitr_video_options_default(&o);
    o.limits.max_frame_pixels = 1000 * 1000; /* the video is 1080x1080 */
    expect_fail(src, &o, SITR_ETOOBIG);
    sitr_video_options_default(&o);
    o.limits.max_duration = 2; /* declared 5 s */
    expect_fail(src, &o, SITR_ETOOBIG);
    sitr_video_options_default(&o);
    o.limits.max_frames = 100; /* declared 150 */
    expect_fail(src, &o, SITR_ETOOBIG);
    sitr_video_options_default(&o);
    o.limits.max_decode_pixels = (uint64_t)50 * 1080 * 1080;
    expect_fail(src, &o, SITR_ETOOBIG);
    /* Limits found only while decoding: a TS declares neither frame count
     * nor a reliable duration. */
    sitr_video_options_default(&o);
    o.limits.max_frames = 30; /* the TS copy has 60 */
    expect_fail(tmp("v.ts"), &o, SITR_ETOOBIG);

    /* Many streams: 40 audio tracks beside the video. */
    char maps[1024] = "";
    for (int i = 0; i < 40; i++)
        strcat(maps, " -map 1:a");
    assert_int_equal(vffmpeg("-i '%s' -f lavfi -i sine=d=1 -map 0:v %s -c:v copy -c:a aac '%s'",
                             src, maps, tmp("streams.mkv")),
                     0);
    expect_fail(tmp("streams.mkv"), NULL, SITR_ETOOBIG);
}

/* A huge size declared in the frames themselves (MJPEG SOF patched to
 * 65000x65000): refused before any frame buffer is allocated. */
static void test_huge_declared_size(void **state)
{
    (void)state;
    assert_int_equal(vffmpeg("-f lavfi -i testsrc=s=64x48:d=1:r=10 -c:v mjpeg '%s'", tmp("mj.avi")),
                     0);
    size_t len;
    uint8_t *d = vread_file(tmp("mj.avi"), &len);
    int patched = 0;
    for (size_t i = 0; i + 9 < len; i++) {
        if (d[i] == 0xff && d[i + 1] == 0xc0) {
            d[i + 5] = 0xfd; /* height 65000 */
            d[i + 6] = 0xe8;
            d[i + 7] = 0xfd; /* width 65000 */
            d[i + 8] = 0xe8;
            patched++;
        }
    }
    assert_true(patched >= 10);
    vwrite_file(tmp("mj-huge.avi"), d, len);
    free(d);
    sitr_video_t *v = NULL;
    sitr_err_t err = {0};
    int rc = sitr_video_hash_file(tmp("mj-huge.avi"), NULL, &v, &err);
    print_message("  %-28s %s: %s\n", "mj-huge.avi", sitr_strerror(rc), err.msg);
    assert_true(rc == SITR_ETOOBIG || rc == SITR_EBADVIDEO);
    assert_null(v);
}

/* Cover art before the video, and audio as stream 0: the attached picture
 * is skipped and the decoder is drained, so the frames are exactly those
 * of the plain file (the reference would hash the cover, or lose the
 * decoder's last frames). */
static void test_stream_order(void **state)
{
    (void)state;
    assert_int_equal(
        vffmpeg("-f lavfi -i color=c=red:s=64x64:d=1 -frames:v 1 '%s'", tmp("cover.png")), 0);
    assert_int_equal(vffmpeg("-f lavfi -i sine=d=5 -i '%s' -map 0:a -map 1:v -c:v copy -c:a aac "
                             "'%s'",
                             src, tmp("audio-first.mp4")),
                     0);
    assert_int_equal(vffmpeg("-i '%s' -i '%s' -map 0:v -map 1:v -c:v:0 png -c:v:1 copy "
                             "-disposition:v:0 attached_pic '%s'",
                             tmp("cover.png"), src, tmp("cover-first.mp4")),
                     0);
    sitr_video_t *plain = vhash(src, 0, 0, 0);
    const char *variants[] = {"audio-first.mp4", "cover-first.mp4"};
    for (int k = 0; k < 2; k++) {
        sitr_video_t *v = vhash(tmp(variants[k]), 0, 0, 0);
        assert_int_equal(v->count, plain->count);
        for (size_t i = 0; i < v->count; i++) {
            assert_int_equal(v->frames[i].number, plain->frames[i].number);
            assert_memory_equal(&v->frames[i].pdq.hash, &plain->frames[i].pdq.hash,
                                sizeof(sitr_pdq_t));
        }
        sitr_video_free(v);
    }
    sitr_video_free(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_videos),   cmocka_unit_test(test_wrong_content),
        cmocka_unit_test(test_truncated),    cmocka_unit_test(test_header_bit_flips),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_huge_declared_size),
        cmocka_unit_test(test_stream_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
