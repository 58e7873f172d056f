/* Videos end to end (issue 9): two sitrd processes (A and B) on one
 * PostgreSQL.  A test video is made with ffmpeg (a 20-s Mandelbrot zoom:
 * every frame differs a little from the last, like filmed content) and
 * hashed here with libsitrvideo as the victim's side does (5 frames a
 * second, dihedral and trimmed hashes); a case holding it is created on A.
 * On B a platform checks, hashed as platforms do (one frame a second, plain
 * hashes): a re-encode (smaller, stronger compression), a 6-s excerpt, a
 * mirrored copy (hflip) and a still frame (a PNG, an image item): all match
 * with the right signals, an unrelated video does not.  A reported excerpt
 * (POST /v1/uploads) becomes a takedown with signal vpdq_excerpt that the
 * platform lists; the victim's status and evidence report show it.
 * Withdrawal on A erases every frame hash (pg_dump of the database holds
 * none of several frames' hex) and B stops matching within 1 s.  No answer
 * to a platform ever holds a victim's hash.  Waiting loops poll with a
 * deadline; nothing else asserts on time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <sitr/hex.h>
#include <sitr/image.h>
#include <sitr/pdq.h>
#include <sitr/video.h>

#include "db_support.h"
#include "e2e_api.h"
#include "e2e_img.h"
#include "e2e_util.h"
#include "e2e_world.h"

#define DKEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
/* The promise: a withdrawal stops matching on every replica within
 * a second. */
#define WITHDRAW_DEADLINE_MS 1000
/* The signal of an uncut re-encode (and its mirror) of the case video. */
#define WHOLE_COPY_SIGNAL "vpdq_copy"

static char *url;
static char dburl_env[1024];
static char dir[512];
static sitr_e2e_server_t A, B;
static char key1[128], key2[128];

/* ---- files -------------------------------------------------------------- */

static void path_of(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Runs ffmpeg quietly; fails the test on an error. */
static void ffmpeg(const char *args)
{
    int rc = pgt_run("cd '%s' && ffmpeg -nostdin -v error -y %s", dir, args);
    if (rc != 0)
        fail_msg("ffmpeg %s: status %d", args, rc);
}

/* ---- hashing, as the victim's side and a platform do ------------------------ */

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    sitr_hex_encode(b, n, out);
}

static sitr_video_t *hash_video(const char *name, double seconds_per_hash, unsigned flags)
{
    char path[600];
    path_of(name, path, sizeof path);
    sitr_video_options_t opt;
    sitr_video_options_default(&opt);
    opt.seconds_per_hash = seconds_per_hash;
    opt.flags = flags;
    opt.threads = 2;
    sitr_video_t *v = NULL;
    sitr_err_t err;
    memset(&err, 0, sizeof err);
    if (sitr_video_hash_file(path, &opt, &v, &err) < 0)
        fail_msg("hashing %s: %s", name, err.msg);
    return v;
}

/* What `sitr case create` sends for a video (sitr hash --format jsonl
 * --dihedral, without the path). */
static json_t *case_video_json(const sitr_video_t *v)
{
    char md5[33], sha[65], hex[65];
    hex_of(v->md5, 16, md5);
    hex_of(v->sha256, 32, sha);
    json_t *frames = json_array();
    for (size_t i = 0; i < v->count; i++) {
        const sitr_video_frame_t *f = &v->frames[i];
        json_t *dih = json_array();
        for (int k = 0; k < SITR_PDQ_DIHEDRAL_COUNT; k++) {
            sitr_pdq_to_hex(&f->pdq.dihedral[k], hex);
            json_array_append_new(dih, json_string(hex));
        }
        sitr_pdq_to_hex(&f->pdq.hash, hex);
        json_t *o = json_pack("{s:I,s:f,s:s,s:i,s:o}", "n", (json_int_t)f->number, "t",
                              f->timestamp, "pdq", hex, "quality", f->pdq.quality, "dihedral", dih);
        if (f->has_trimmed) {
            sitr_pdq_to_hex(&f->trimmed, hex);
            json_object_set_new(o, "trimmed",
                                json_pack("{s:s,s:i}", "pdq", hex, "quality", f->trimmed_quality));
        }
        json_array_append_new(frames, o);
    }
    return json_pack("{s:s,s:s,s:s,s:f,s:f,s:i,s:i,s:o}", "type", "video", "md5", md5, "sha256",
                     sha, "duration", v->duration, "fps", v->fps, "width", v->width, "height",
                     v->height, "frames", frames);
}

/* A platform's query video: Meta's line format (n, quality, hex, t) as JSON,
 * no md5/sha256 (so only the frames can match). */
static json_t *query_video_json(const sitr_video_t *v)
{
    json_t *frames = json_array();
    char hex[65];
    for (size_t i = 0; i < v->count; i++) {
        const sitr_video_frame_t *f = &v->frames[i];
        sitr_pdq_to_hex(&f->pdq.hash, hex);
        json_array_append_new(frames,
                              json_pack("{s:I,s:f,s:s,s:i}", "n", (json_int_t)f->number, "t",
                                        f->timestamp, "pdq", hex, "quality", f->pdq.quality));
    }
    return json_pack("{s:o}", "frames", frames);
}

/* ---- the victim's secrets in answers -------------------------------------- */

/* Some of the case video's hashes, for "never in an answer". */
enum { WATCHED = 6 };
static sitr_e2e_img_t watched[WATCHED];

static void watch_case_video(const sitr_video_t *v)
{
    for (int i = 0; i < WATCHED; i++) {
        const sitr_video_frame_t *f = &v->frames[(size_t)i * (v->count - 1) / (WATCHED - 1)];
        sitr_pdq_to_hex(&f->pdq.hash, watched[i].pdq);
        hex_of(v->md5, 16, watched[i].md5);
        hex_of(v->sha256, 32, watched[i].sha);
    }
}

static void assert_no_victim_hash(const char *text, const char *where)
{
    for (int i = 0; i < WATCHED; i++)
        sitr_e2e_assert_no_hash(text, &watched[i], where);
}

/* ---- API ------------------------------------------------------------------ */

/* POST /v1/match with one item on s; returns the answer's item (the whole
 * answer in *whole, caller decrefs) after checking it holds no victim hash. */
static json_t *match_item(const sitr_e2e_server_t *s, const char *key, json_t *item, json_t **whole)
{
    json_t *body = json_pack("{s:[O]}", "items", item);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    sitr_e2e_resp_t r;
    sitr_e2e_call(s, "POST", "/v1/match", key, NULL, text, &r);
    free(text);
    if (r.status != 200)
        fail_msg("POST /v1/match: %d %s", r.status, r.body);
    assert_no_victim_hash(r.body, "a /v1/match answer");
    *whole = sitr_e2e_json(r.body);
    sitr_e2e_resp_free(&r);
    return json_array_get(json_object_get(*whole, "items"), 0);
}

/* The signal of the first match of an item answer, or NULL. */
static const char *first_signal(const json_t *it)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(it, "matches"), 0), "signal"));
}

/* Polls match_item until it matches (want 1) or not (want 0), at most
 * deadline_ms.  Returns the last item answer (caller decrefs *whole). */
static json_t *poll_match(const sitr_e2e_server_t *s, const char *key, json_t *item, int want,
                          int deadline_ms, json_t **whole)
{
    long long end = sitr_e2e_now_ms() + deadline_ms;
    for (;;) {
        json_t *it = match_item(s, key, item, whole);
        int matched = json_is_true(json_object_get(it, "matched"));
        if (matched == want || sitr_e2e_now_ms() > end)
            return it;
        json_decref(*whole);
        sitr_e2e_sleep_ms(20);
    }
}

/* A whole copy: the signal and, whatever the signal, evidence that the
 * whole case video was found (coverage near 1, a run of most of it). */
static void check_whole_copy(const json_t *m)
{
    const char *sig = json_string_value(json_object_get(m, "signal"));
    if (strcmp(sig, "vpdq_copy") != 0)
        fprintf(stderr, "# a whole copy answered %s (coverage %.3f, run %.1f s)\n", sig,
                json_number_value(json_object_get(m, "coverage")),
                json_number_value(json_object_get(m, "run_seconds")));
    assert_true(json_number_value(json_object_get(m, "coverage")) >= 0.9);
    assert_true(json_number_value(json_object_get(m, "run_seconds")) >= 15);
}

/* Checks one video match entry's members. */
static void check_video_match(const json_t *m, const char *signal)
{
    assert_string_equal(json_string_value(json_object_get(m, "signal")), signal);
    const char *ref = json_string_value(json_object_get(m, "ref"));
    assert_non_null(ref);
    assert_int_equal(strlen(ref), 32);
    assert_true(json_is_integer(json_object_get(m, "distance")));
    if (strcmp(signal, "vpdq_copy") == 0 || strcmp(signal, "vpdq_excerpt") == 0) {
        double cov = json_number_value(json_object_get(m, "coverage"));
        assert_true(json_is_number(json_object_get(m, "coverage")));
        assert_true(cov > 0 && cov <= 1);
        assert_true(json_number_value(json_object_get(m, "run_seconds")) >= 5);
    }
    /* Nothing else: no time list, no hash. */
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v)
    {
        if (strcmp(k, "ref") && strcmp(k, "signal") && strcmp(k, "distance") &&
            strcmp(k, "coverage") && strcmp(k, "run_seconds"))
            fail_msg("unexpected member %s in a match", k);
    }
}

static void wait_matcher_caught_up(void)
{
    for (int i = 0; i < 600; i++) {
        if (pgt_scalar(url, "SELECT ((SELECT last_seq FROM matcher_progress) >= "
                            "(SELECT coalesce(max(seq), 0) FROM changes))::int") == 1)
            return;
        sitr_e2e_sleep_ms(100);
    }
    fail_msg("the matcher did not catch up");
}

/* ---- fixture ------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s/video_e2e_%d", SITR_BINARY_DIR, (int)getpid());
    assert_int_equal(pgt_run("rm -rf '%s' && mkdir -p '%s'", dir, dir), 0);
    /* The case video, and what platforms find of it: a re-encode (smaller,
     * stronger compression), a 6-s excerpt re-encoded, a mirrored copy, a
     * still frame; and an unrelated video. */
    ffmpeg("-f lavfi -i mandelbrot=size=320x240:rate=25 -t 20 -c:v libx264 -pix_fmt yuv420p "
           "-crf 18 orig.mp4");
    ffmpeg("-i orig.mp4 -vf scale=240:180 -c:v libx264 -crf 32 reenc.mp4");
    ffmpeg("-ss 7 -i orig.mp4 -t 6 -c:v libx264 -crf 26 excerpt.mp4");
    ffmpeg("-i reenc.mp4 -vf hflip -c:v libx264 -crf 26 mirror.mp4");
    ffmpeg("-ss 9.5 -i orig.mp4 -frames:v 1 still.png");
    ffmpeg("-f lavfi -i life=size=320x240:rate=25:mold=10:ratio=0.5 -t 20 -c:v libx264 "
           "-pix_fmt yuv420p other.mp4");

    url = sitr_e2e_migrated_db("tvide2e");
    assert_non_null(url);
    setenv("SITR_DIGEST_KEY", DKEY, 1);
    assert_int_equal(sitr_e2e_admin_key(url, "platform add alpha", key1, sizeof key1, NULL, 0), 0);
    assert_int_equal(sitr_e2e_admin_key(url, "platform add beta", key2, sizeof key2, NULL, 0), 0);
    snprintf(dburl_env, sizeof dburl_env, "SITR_DATABASE_URL=%s", url);
    const char *env[] = {dburl_env, "SITR_DIGEST_KEY=" DKEY, "SITR_CASE_RATE=0",
                         "SITR_WEBHOOKS=off", NULL};
    assert_int_equal(sitr_e2e_start(&A, env), 0);
    assert_int_equal(sitr_e2e_start(&B, env), 0);
    assert_int_equal(sitr_e2e_wait_ready(&A, 30000), 0);
    assert_int_equal(sitr_e2e_wait_ready(&B, 30000), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (A.pid > 0)
        sitr_e2e_stop(&A);
    if (B.pid > 0)
        sitr_e2e_stop(&B);
    free(url);
    pgt_run("rm -rf '%s'", dir);
    return 0;
}

/* ---- the story ------------------------------------------------------------------ */

static void test_video_story(void **state)
{
    (void)state;
    /* The victim hashes her video on her device and opens a case on A. */
    sitr_video_t *orig =
        hash_video("orig.mp4", 0.2, SITR_PDQ_WANT_DIHEDRAL | SITR_VIDEO_WANT_TRIMMED);
    assert_true(orig->count >= 90);
    watch_case_video(orig);
    json_t *cbody = json_pack("{s:[o]}", "videos", case_video_json(orig));
    char *ctext = json_dumps(cbody, JSON_COMPACT);
    json_decref(cbody);
    json_t *created = sitr_e2e_call_json(&A, "POST", "/v1/cases", NULL, ctext, 201);
    free(ctext);
    assert_int_equal(json_integer_value(json_object_get(created, "videos")), 1);
    assert_int_equal(json_integer_value(json_object_get(created, "images")), 0);
    char ref[128], auth[200];
    snprintf(ref, sizeof ref, "%s", json_string_value(json_object_get(created, "case")));
    snprintf(auth, sizeof auth, "Case %s", json_string_value(json_object_get(created, "secret")));
    json_decref(created);

    /* A platform on B checks its uploads, hashed as platforms do. */
    sitr_video_t *reenc = hash_video("reenc.mp4", 1, 0);
    sitr_video_t *excerpt = hash_video("excerpt.mp4", 1, 0);
    sitr_video_t *mirror = hash_video("mirror.mp4", 1, 0);
    sitr_video_t *other = hash_video("other.mp4", 1, 0);
    json_t *q_reenc = json_pack("{s:o}", "video", query_video_json(reenc));
    json_t *q_excerpt = json_pack("{s:o}", "video", query_video_json(excerpt));
    json_t *q_mirror = json_pack("{s:o}", "video", query_video_json(mirror));
    json_t *q_other = json_pack("{s:o}", "video", query_video_json(other));

    json_t *whole;
    json_t *it = poll_match(&B, key1, q_reenc, 1, 30000, &whole);
    assert_true(json_is_true(json_object_get(it, "matched")));
    assert_int_equal(json_array_size(json_object_get(it, "matches")), 1);
    check_whole_copy(json_array_get(json_object_get(it, "matches"), 0));
    check_video_match(json_array_get(json_object_get(it, "matches"), 0), WHOLE_COPY_SIGNAL);
    char vref[40];
    snprintf(vref, sizeof vref, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(it, "matches"), 0), "ref")));
    json_decref(whole);

    it = match_item(&B, key1, q_excerpt, &whole);
    assert_true(json_is_true(json_object_get(it, "matched")));
    check_video_match(json_array_get(json_object_get(it, "matches"), 0), "vpdq_excerpt");
    /* The same case video: the same ref for this platform. */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(it, "matches"), 0), "ref")),
                        vref);
    json_decref(whole);

    it = match_item(&B, key1, q_mirror, &whole);
    assert_true(json_is_true(json_object_get(it, "matched")));
    check_whole_copy(json_array_get(json_object_get(it, "matches"), 0));
    check_video_match(json_array_get(json_object_get(it, "matches"), 0), WHOLE_COPY_SIGNAL);
    json_decref(whole);

    /* Another platform gets another ref for the same video. */
    it = match_item(&B, key2, q_reenc, &whole);
    assert_true(json_is_true(json_object_get(it, "matched")));
    assert_string_not_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(it, "matches"), 0), "ref")),
                            vref);
    json_decref(whole);

    /* A screenshot: an image item within 31 of a frame of the case video. */
    char still_path[600];
    path_of("still.png", still_path, sizeof still_path);
    assert_int_equal(sitr_image_init("test_video_e2e"), 0);
    sitr_image_t img;
    sitr_err_t err;
    assert_int_equal(sitr_image_hash_file(still_path, 0, NULL, &img, &err), 0);
    sitr_image_shutdown();
    char still_hex[65];
    sitr_pdq_to_hex(&img.pdq.hash, still_hex);
    json_t *q_still = json_pack("{s:s,s:i}", "pdq", still_hex, "quality", img.pdq.quality);
    it = match_item(&B, key1, q_still, &whole);
    assert_true(json_is_true(json_object_get(it, "matched")));
    assert_string_equal(first_signal(it), "video_frame");
    check_video_match(json_array_get(json_object_get(it, "matches"), 0), "video_frame");
    json_decref(whole);

    /* An unrelated video does not match. */
    it = match_item(&B, key1, q_other, &whole);
    assert_false(json_is_true(json_object_get(it, "matched")));
    assert_int_equal(json_array_size(json_object_get(it, "matches")), 0);
    json_decref(whole);

    /* The platform reports the excerpt it published: a takedown with signal
     * vpdq_excerpt that it lists. */
    json_t *ub =
        json_pack("{s:[{s:s,s:s,s:O}]}", "uploads", "id", "clip-7", "url",
                  "https://beta.example/v/clip-7", "video", json_object_get(q_excerpt, "video"));
    char *utext = json_dumps(ub, JSON_COMPACT);
    json_decref(ub);
    json_decref(sitr_e2e_call_json(&B, "POST", "/v1/uploads", key2, utext, 202));
    free(utext);
    wait_matcher_caught_up();
    json_t *tds = NULL;
    json_t *td = NULL;
    for (int i = 0; i < 300 && !td; i++) {
        sitr_e2e_resp_t r;
        sitr_e2e_call(&B, "GET", "/v1/takedowns?status=pending", key2, NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_no_victim_hash(r.body, "GET /v1/takedowns");
        json_decref(tds);
        tds = sitr_e2e_json(r.body);
        sitr_e2e_resp_free(&r);
        json_t *list = json_object_get(tds, "takedowns");
        for (size_t k = 0; k < json_array_size(list); k++) {
            json_t *t = json_array_get(list, k);
            const char *cid =
                json_string_value(json_object_get(json_object_get(t, "upload"), "id"));
            if (!cid)
                cid = json_string_value(json_object_get(t, "upload_id"));
            if (cid && strcmp(cid, "clip-7") == 0)
                td = t;
        }
        if (!td)
            sitr_e2e_sleep_ms(20);
    }
    if (!td) {
        char *dump = json_dumps(tds, 0);
        fail_msg("no takedown for clip-7 in %s", dump);
    }
    assert_string_equal(json_string_value(json_object_get(td, "signal")), "vpdq_excerpt");
    json_decref(tds);

    /* The victim sees it: status on A, and the evidence report. */
    char path[256];
    snprintf(path, sizeof path, "/v1/cases/%s", ref);
    json_t *st = sitr_e2e_call_json(&A, "GET", path, auth, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(st, "videos")), 1);
    assert_true(json_integer_value(json_object_get(st, "matches")) >= 1);
    assert_true(json_integer_value(json_object_get(json_object_get(st, "takedowns"), "pending")) >=
                1);
    json_decref(st);
    snprintf(path, sizeof path, "/v1/cases/%s/report", ref);
    sitr_e2e_resp_t r;
    sitr_e2e_call(&A, "GET", path, auth, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_no_victim_hash(r.body, "the report");
    json_t *rep = sitr_e2e_json(r.body);
    sitr_e2e_resp_free(&r);
    json_t *rtd = json_array_get(json_object_get(rep, "takedowns"), 0);
    assert_non_null(rtd);
    assert_string_equal(json_string_value(json_object_get(rtd, "signal")), "vpdq_excerpt");
    assert_string_equal(json_string_value(json_object_get(json_object_get(rtd, "upload"), "kind")),
                        "video");
    assert_true(json_number_value(json_object_get(rtd, "run_seconds")) >= 5);
    assert_true(json_number_value(json_object_get(rtd, "coverage")) > 0);
    json_decref(rep);
    snprintf(path, sizeof path, "/v1/cases/%s/report?format=html&lang=en", ref);
    sitr_e2e_call(&A, "GET", path, auth, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_no_victim_hash(r.body, "the report page");
    assert_non_null(strstr(r.body, "clip-7"));
    sitr_e2e_resp_free(&r);

    /* Withdrawal on A: every frame hash is erased ... */
    snprintf(path, sizeof path, "/v1/cases/%s", ref);
    json_decref(sitr_e2e_call_json(&A, "DELETE", path, auth, NULL, 200));
    long long withdrawn_at = sitr_e2e_now_ms();
    /* ... and B stops matching within a second. */
    it = poll_match(&B, key1, q_reenc, 0, WITHDRAW_DEADLINE_MS, &whole);
    assert_false(json_is_true(json_object_get(it, "matched")));
    json_decref(whole);
    it = poll_match(&B, key1, q_still, 0, WITHDRAW_DEADLINE_MS, &whole);
    assert_false(json_is_true(json_object_get(it, "matched")));
    json_decref(whole);
    (void)withdrawn_at;
    char dump_path[600];
    path_of("dump.sql", dump_path, sizeof dump_path);
    assert_int_equal(pgt_run("pg_dump '%s' > '%s'", url, dump_path), 0);
    FILE *f = fopen(dump_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *dump = malloc((size_t)len + 1);
    assert_int_equal(fread(dump, 1, (size_t)len, f), (size_t)len);
    dump[len] = '\0';
    fclose(f);
    assert_true(len > 1000);
    assert_no_victim_hash(dump, "pg_dump after the withdrawal");
    /* Every stored variant of those frames too (FLIPY, trimmed). */
    for (size_t i = 0; i < orig->count; i += orig->count / 7) {
        char hex[65];
        sitr_pdq_to_hex(&orig->frames[i].pdq.dihedral[SITR_PDQ_FLIPY], hex);
        assert_null(strstr(dump, hex));
        if (orig->frames[i].has_trimmed) {
            sitr_pdq_to_hex(&orig->frames[i].trimmed, hex);
            assert_null(strstr(dump, hex));
        }
    }
    free(dump);

    json_decref(q_reenc);
    json_decref(q_excerpt);
    json_decref(q_mirror);
    json_decref(q_other);
    json_decref(q_still);
    sitr_video_free(orig);
    sitr_video_free(reenc);
    sitr_video_free(excerpt);
    sitr_video_free(mirror);
    sitr_video_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_video_story),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
