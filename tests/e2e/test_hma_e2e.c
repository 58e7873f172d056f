/* End-to-end tests of the HMA-compatible routes (/m/..., docs/api-hma.md)
 * against a real sitrd, sitr-admin and a fresh, migrated PostgreSQL (the
 * `pg` fixture).
 *
 * Every request/answer pair is written from HMA's matching blueprint
 * (OpenMediaMatch blueprints/matching.py, utils/flask_utils.py,
 * python-threatexchange's signal types): the answer bodies are compared
 * whole, byte for byte once parsed, for lookups with and without distance,
 * raw lookups in both shapes, compare, index status, every error HMA words
 * (and the refusal of content: sitr never receives images or videos), both
 * authentications (Bearer, and Basic with the key as password), the
 * recording of a lookup match on the victim's timeline, the metrics, and an
 * index not yet loaded (a second sitrd whose initial load waits on a lock
 * the test holds on case_images, released at the end).  Then tests/e2e/hma_client.py, an
 * HMA client that knows nothing of sitr, runs its flow against both
 * servers and must pass unchanged.  No timing assertions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <libpq-fe.h>

#include "db_support.h"
#include "e2e_api.h"
#include "e2e_img.h"
#include "e2e_util.h"
#include "e2e_world.h"

#define TEST_DIGEST_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define DEADLINE_MS     20000
#define VFRAMES         8

typedef struct world {
    char *db_url, *db_url2;
    sitr_e2e_server_t srv, behind; /* behind: not ready while lock is held */
    PGconn *lock;
    char key_a[80], key_b[80], key_c[80];
    sitr_e2e_img_t img, far;
    char vframes[VFRAMES][65];
    char case_path[128], case_auth[96];
} world_t;

static world_t W;
static unsigned rng_state = 4242;

/* ---- helpers ---------------------------------------------------------------------- */

static void urlenc(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in && o + 4 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

static void b64(const char *in, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

/* One GET/POST with a key as Bearer (NULL: none); the answer parsed. */
static json_t *call(const sitr_e2e_server_t *s, const char *method, const char *path,
                    const char *key, const char *body, int status, sitr_e2e_resp_t *keep)
{
    sitr_e2e_resp_t r;
    sitr_e2e_call(s, method, path, key, NULL, body, &r);
    if (r.status != status)
        fail_msg("%s %s: %d, wanted %d: %s", method, path, r.status, status, r.body);
    sitr_e2e_assert_no_hash(r.body, &W.img, "an HMA answer");
    json_t *j = sitr_e2e_json(r.body);
    if (keep)
        *keep = r;
    else
        sitr_e2e_resp_free(&r);
    return j;
}

/* Expects exactly the JSON want (a literal) from the call. */
static void expect_exact(const sitr_e2e_server_t *s, const char *method, const char *path,
                         const char *key, const char *body, int status, const char *want)
{
    json_t *got = call(s, method, path, key, body, status, NULL);
    json_t *exp = sitr_e2e_json(want);
    if (!json_equal(got, exp)) {
        char *g = json_dumps(got, JSON_SORT_KEYS);
        fail_msg("%s %s: got %s, wanted %s", method, path, g, want);
    }
    json_decref(got);
    json_decref(exp);
}

static void expect_message(const char *method, const char *path, const char *body, int status,
                           const char *message)
{
    char want[600];
    snprintf(want, sizeof want, "{\"message\":\"%s\"}", message);
    expect_exact(&W.srv, method, path, W.key_a, body, status, want);
}

static json_int_t the_one_id(json_t *lookup)
{
    json_t *bank = json_object_get(lookup, "SITR");
    assert_int_equal(json_object_size(lookup), 1);
    assert_int_equal(json_array_size(bank), 1);
    json_t *id = json_object_get(json_array_get(bank, 0), "bank_content_id");
    assert_true(json_is_integer(id));
    json_int_t v = json_integer_value(id);
    assert_true(v > 0 && v < ((json_int_t)1 << 53));
    return v;
}

static void lookup_path(const char *signal, const char *type, const char *more, char *out,
                        size_t cap)
{
    char enc[4096];
    urlenc(signal, enc, sizeof enc);
    int n = snprintf(out, cap, "/m/lookup?signal=%s&signal_type=%s%s", enc, type, more ? more : "");
    assert_true(n > 0 && (size_t)n < cap); /* a cut path would test another request */
}

/* ---- fixture ------------------------------------------------------------------------ */

static int start(sitr_e2e_server_t *s, const char *db_url)
{
    static char url_var[2][1200];
    static int k;
    char *v = url_var[k++ % 2];
    snprintf(v, 1200, "SITR_DATABASE_URL=%s", db_url);
    const char *env[] = {v, "SITR_MATCH_THRESHOLD=31", "SITR_CASE_RATE=0",
                         "SITR_DIGEST_KEY=" TEST_DIGEST_KEY, NULL};
    return sitr_e2e_start(s, env);
}

static int setup(void **state)
{
    (void)state;
    setenv("SITR_DIGEST_KEY", TEST_DIGEST_KEY, 1);
    W.db_url = sitr_e2e_migrated_db("hma_e2e");
    W.db_url2 = sitr_e2e_migrated_db("hma_e2e_behind");
    if (!W.db_url || !W.db_url2)
        return -1;
    if (sitr_e2e_admin_key(W.db_url, "platform add alpha", W.key_a, sizeof W.key_a, NULL, 0) < 0 ||
        sitr_e2e_admin_key(W.db_url, "platform add beta", W.key_b, sizeof W.key_b, NULL, 0) < 0 ||
        sitr_e2e_admin_key(W.db_url2, "platform add gamma", W.key_c, sizeof W.key_c, NULL, 0) < 0)
        return -1;
    /* The second sitrd's initial load waits on this lock; authentication
     * (platforms) does not. */
    W.lock = PQconnectdb(W.db_url2);
    PGresult *res = PQexec(W.lock, "BEGIN; LOCK TABLE case_images IN ACCESS EXCLUSIVE MODE");
    int locked = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!locked) {
        fprintf(stderr, "lock: %s\n", PQerrorMessage(W.lock));
        return -1;
    }
    W.img = sitr_e2e_new_img(&rng_state);
    W.far = sitr_e2e_new_img(&rng_state);
    for (int i = 0; i < VFRAMES; i++)
        sitr_e2e_random_hex(&rng_state, W.vframes[i], 64);
    if (start(&W.srv, W.db_url) < 0 || sitr_e2e_wait_ready(&W.srv, DEADLINE_MS) < 0)
        return -1;
    if (start(&W.behind, W.db_url2) < 0)
        return -1;
    return 0;
}

static void unlock(void)
{
    if (W.lock) {
        PQclear(PQexec(W.lock, "COMMIT"));
        PQfinish(W.lock);
        W.lock = NULL;
    }
}

static int teardown(void **state)
{
    (void)state;
    unlock();
    const char *const never[] = {W.key_a, W.key_b, W.key_c, W.img.pdq, W.img.md5, NULL};
    int rc = sitr_e2e_stop_clean(&W.srv, never);
    if (sitr_e2e_stop_clean(&W.behind, never) < 0)
        rc = -1;
    free(W.db_url);
    free(W.db_url2);
    return rc;
}

/* ---- tests -------------------------------------------------------------------------- */

/* A case with one image and one video, created through the victims' API;
 * waits until the replica answers it. */
static void test_case_created(void **state)
{
    (void)state;
    json_t *frames = json_array();
    for (int i = 0; i < VFRAMES; i++)
        json_array_append_new(frames, json_pack("{s:i,s:f,s:s,s:i}", "n", i, "t", (double)i, "pdq",
                                                W.vframes[i], "quality", 90));
    json_t *body =
        json_pack("{s:[{s:s,s:i,s:s,s:s}],s:[{s:o}]}", "images", "pdq", W.img.pdq, "quality", 90,
                  "md5", W.img.md5, "sha256", W.img.sha, "videos", "frames", frames);
    char *text = json_dumps(body, 0);
    json_decref(body);
    json_t *made = call(&W.srv, "POST", "/v1/cases", NULL, text, 201, NULL);
    free(text);
    snprintf(W.case_path, sizeof W.case_path, "/v1/cases/%s",
             json_string_value(json_object_get(made, "case")));
    snprintf(W.case_auth, sizeof W.case_auth, "Case %s",
             json_string_value(json_object_get(made, "secret")));
    json_decref(made);
    char path[512];
    lookup_path(W.img.pdq, "pdq", NULL, path, sizeof path);
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        json_t *j = call(&W.srv, "GET", path, W.key_a, NULL, 200, NULL);
        size_t n = json_object_size(j);
        json_decref(j);
        if (n)
            break;
        if (sitr_e2e_now_ms() > end)
            fail_msg("the case never matched");
        sitr_e2e_sleep_ms(50);
    }
}

/* GET /m/lookup: {"SITR": [{"bank_content_id": int, "distance": "<n>"}]}. */
static void test_lookup(void **state)
{
    (void)state;
    char path[512], want[256], flipped[65];
    lookup_path(W.img.pdq, "pdq", NULL, path, sizeof path);
    json_t *a = call(&W.srv, "GET", path, W.key_a, NULL, 200, NULL);
    json_int_t id = the_one_id(a);
    snprintf(want, sizeof want, "{\"SITR\":[{\"bank_content_id\":%lld,\"distance\":\"0\"}]}",
             (long long)id);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    /* Stable per platform, another for another platform. */
    json_t *b = call(&W.srv, "GET", path, W.key_b, NULL, 200, NULL);
    assert_true(the_one_id(b) != id);
    json_decref(a);
    json_decref(b);
    /* Not the case image's row id. */
    long long row = pgt_scalar(W.db_url, "SELECT max(id) FROM case_images");
    assert_true(id != row);
    /* Distance as a string; 31 matches, 32 does not. */
    sitr_e2e_flip_bits(W.img.pdq, 31, flipped);
    lookup_path(flipped, "pdq", NULL, path, sizeof path);
    snprintf(want, sizeof want, "{\"SITR\":[{\"bank_content_id\":%lld,\"distance\":\"31\"}]}",
             (long long)id);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    sitr_e2e_flip_bits(W.img.pdq, 32, flipped);
    lookup_path(flipped, "pdq", NULL, path, sizeof path);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, "{}");
    /* Digests: HMA's "no distance" is "-"; md5 and video_md5 search the
     * same table; white space and capitals accepted as HMA does. */
    snprintf(want, sizeof want, "{\"SITR\":[{\"bank_content_id\":%lld,\"distance\":\"-\"}]}",
             (long long)id);
    lookup_path(W.img.md5, "md5", NULL, path, sizeof path);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    lookup_path(W.img.md5, "video_md5", NULL, path, sizeof path);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    lookup_path(W.img.sha, "sha256", NULL, path, sizeof path);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    char upper[40];
    snprintf(upper, sizeof upper, " %s ", W.img.md5);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    lookup_path(upper, "md5", NULL, path, sizeof path);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    /* banks: another bank only -> nothing; a list holding ours -> the match. */
    lookup_path(W.img.pdq, "pdq", "&banks=OTHER", path, sizeof path);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, "{}");
    lookup_path(W.img.pdq, "pdq", "&banks=OTHER,SITR&seed=7", path, sizeof path);
    snprintf(want, sizeof want, "{\"SITR\":[{\"bank_content_id\":%lld,\"distance\":\"0\"}]}",
             (long long)id);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
}

/* The quality rule of /v1/match: a PDQ given with quality < 50 is not
 * searched. */
static void test_quality(void **state)
{
    (void)state;
    char path[512];
    sitr_e2e_resp_t r;
    lookup_path(W.img.pdq, "pdq", "&quality=49", path, sizeof path);
    json_t *j = call(&W.srv, "GET", path, W.key_a, NULL, 200, &r);
    assert_int_equal(json_object_size(j), 0);
    assert_string_equal(sitr_e2e_header(&r, "X-Sitr-Pdq-Ignored"), "quality_too_low");
    sitr_e2e_resp_free(&r);
    json_decref(j);
    lookup_path(W.img.pdq, "pdq", "&quality=50", path, sizeof path);
    j = call(&W.srv, "GET", path, W.key_a, NULL, 200, NULL);
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);
    lookup_path(W.img.pdq, "pdq", "&quality=high", path, sizeof path);
    expect_message("GET", path, NULL, 400, "quality must be an integer from 0 to 100");
}

/* GET /m/raw_lookup: {"matches": [id]} and, with include_distance,
 * {"matches": [{"bank_content_id", "distance"}]}. */
static void test_raw_lookup(void **state)
{
    (void)state;
    char path[512], want[256], lpath[512];
    lookup_path(W.img.pdq, "pdq", NULL, lpath, sizeof lpath);
    json_t *a = call(&W.srv, "GET", lpath, W.key_a, NULL, 200, NULL);
    long long id = (long long)the_one_id(a);
    json_decref(a);
    snprintf(path, sizeof path, "/m/raw_lookup?signal=%s&signal_type=pdq", W.img.pdq);
    snprintf(want, sizeof want, "{\"matches\":[%lld]}", id);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    snprintf(path, sizeof path, "/m/raw_lookup?signal=%s&signal_type=pdq&include_distance=false",
             W.img.pdq);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    snprintf(path, sizeof path, "/m/raw_lookup?signal=%s&signal_type=pdq&include_distance=true",
             W.img.pdq);
    snprintf(want, sizeof want, "{\"matches\":[{\"bank_content_id\":%lld,\"distance\":\"0\"}]}",
             id);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    snprintf(path, sizeof path, "/m/raw_lookup?signal=%s&signal_type=pdq&include_distance=1",
             W.far.pdq);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, "{\"matches\":[]}");
    snprintf(path, sizeof path, "/m/raw_lookup?signal=%s&signal_type=pdq", W.far.pdq);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, "{\"matches\":[]}");
    snprintf(path, sizeof path, "/m/raw_lookup?signal=%s&signal_type=pdq&include_distance=maybe",
             W.img.pdq);
    expect_message("GET", path, NULL, 400, "invalid boolean parameter - prefer true/false");
}

/* vPDQ: HMA's compact features; a whole copy of the case video. */
static void test_vpdq(void **state)
{
    (void)state;
    char signal[2048], path[8192];
    size_t o = (size_t)snprintf(signal, sizeof signal, "[");
    for (int i = 0; i < VFRAMES; i++)
        o += (size_t)snprintf(signal + o, sizeof signal - o, "%s\"%s,90,%d.0\"", i ? "," : "",
                              W.vframes[i], i);
    snprintf(signal + o, sizeof signal - o, "]");
    lookup_path(signal, "vpdq", NULL, path, sizeof path);
    json_t *j = call(&W.srv, "GET", path, W.key_a, NULL, 200, NULL);
    json_int_t id = the_one_id(j);
    json_decref(j);
    char want[256];
    snprintf(want, sizeof want,
             "{\"SITR\":[{\"bank_content_id\":%lld,\"distance\":\"100%%[100%%]\"}]}",
             (long long)id);
    expect_exact(&W.srv, "GET", path, W.key_a, NULL, 200, want);
    /* The video's id is not the image's. */
    lookup_path(W.img.pdq, "pdq", NULL, path, sizeof path);
    j = call(&W.srv, "GET", path, W.key_a, NULL, 200, NULL);
    assert_true(the_one_id(j) != id);
    json_decref(j);
    lookup_path("[\"00,90,0.0\"]", "vpdq", NULL, path, sizeof path);
    expect_message("GET", path, NULL, 400,
                   "invalid signal: frame 0 is not \\\"hash,quality,seconds\\\"");
}

/* Every error HMA words, in its shape {"message": ...}. */
static void test_errors(void **state)
{
    (void)state;
    char path[512];
    expect_message("GET", "/m/lookup", NULL, 400,
                   "Either url or both signal and signal_type are required");
    expect_message("GET", "/m/lookup?signal_type=pdq", NULL, 400,
                   "Either url or both signal and signal_type are required");
    expect_message("GET", "/m/raw_lookup?signal_type=pdq", NULL, 400, "signal is required");
    snprintf(path, sizeof path, "/m/raw_lookup?signal=%s", W.img.pdq);
    expect_message("GET", path, NULL, 400, "signal_type is required");
    snprintf(path, sizeof path, "/m/lookup?signal=%s&signal_type=tmk_pdqf", W.img.pdq);
    expect_message("GET", path, NULL, 400, "No such SignalType 'tmk_pdqf'");
    snprintf(path, sizeof path, "/m/raw_lookup?signal=%s&signal_type=%%3Cb%%3E", W.img.pdq);
    expect_message("GET", path, NULL, 400, "No such SignalType");
    /* HMA's PDQ: 64 lower-case hex digits. */
    char upper[65];
    snprintf(upper, sizeof upper, "%s", W.img.pdq);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    snprintf(path, sizeof path, "/m/lookup?signal=%s&signal_type=pdq", upper);
    expect_message("GET", path, NULL, 400, "invalid signal: invalid PDQ hash");
    expect_message("GET", "/m/lookup?signal=abc&signal_type=md5", NULL, 400,
                   "invalid signal: not a valid MD5 hash");
    expect_message("GET", "/m/index/status?signal_type=nope", NULL, 400,
                   "No such signal type 'nope'");
}

static const char refusal[] =
    "sitr never receives images or videos: hash the file on your side and send the hash. "
    "`sitr hash FILE` prints its PDQ, quality, MD5 and SHA-256 (`sitr hash --format jsonl "
    "FILE` for a video's vPDQ frames); then GET /m/lookup?signal=<hash>&signal_type=pdq "
    "(or md5, video_md5, sha256, vpdq). HMA's own hashers (python-threatexchange) give the "
    "same PDQ.";

/* The forms that send content are refused; a large upload is refused
 * without being read. */
static void test_content_refused(void **state)
{
    (void)state;
    expect_message("GET", "/m/lookup?url=https%3A%2F%2Fexample.org%2Fa.jpg", NULL, 403, refusal);
    const char *multipart =
        "--x\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n\r\n"
        "JFIF\r\n--x--\r\n";
    expect_message("POST", "/m/lookup", multipart, 403, refusal);
    /* No authentication needed to be told no, and a file too large to be
     * read gets the same answer. */
    char want[600];
    snprintf(want, sizeof want, "{\"message\":\"%s\"}", refusal);
    expect_exact(&W.srv, "POST", "/m/lookup", NULL, multipart, 403, want);
    char *big = malloc(20001);
    memset(big, 'A', 20000);
    big[20000] = '\0';
    expect_exact(&W.srv, "POST", "/m/lookup", NULL, big, 403, want);
    free(big);
}

/* POST /m/compare: HMA's [match, detail] per signal type. */
static void test_compare(void **state)
{
    (void)state;
    char body[1024], want[512], flipped[65];
    sitr_e2e_flip_bits(W.img.pdq, 9, flipped);
    snprintf(body, sizeof body, "{\"pdq\":[\"%s\",\"%s\"],\"md5\":[\"%s\",\"%s\"]}", W.img.pdq,
             flipped, W.img.md5, W.far.md5);
    expect_exact(&W.srv, "POST", "/m/compare", W.key_a, body, 200,
                 "{\"pdq\":[true,{\"distance\":9}],\"md5\":[false,{}]}");
    sitr_e2e_flip_bits(W.img.pdq, 40, flipped);
    snprintf(body, sizeof body, "{\"pdq\":[\"%s\",\"%s\"],\"video_md5\":[\"%s\",\"%s\"]}",
             W.img.pdq, flipped, W.img.md5, W.img.md5);
    expect_exact(&W.srv, "POST", "/m/compare", W.key_a, body, 200,
                 "{\"pdq\":[false,{\"distance\":40}],\"video_md5\":[true,{}]}");
    /* vPDQ: the shares of HMA's brute-force matcher. */
    snprintf(body, sizeof body,
             "{\"vpdq\":[\"[\\\"%s,90,0.0\\\",\\\"%s,90,1.0\\\"]\",\"[\\\"%s,90,0.0\\\"]\"]}",
             W.vframes[0], W.vframes[1], W.vframes[0]);
    snprintf(want, sizeof want,
             "{\"vpdq\":[false,{\"query_match_percent\":50.0,\"compared_match_percent\":"
             "100.0}]}");
    expect_exact(&W.srv, "POST", "/m/compare", W.key_a, body, 200, want);
    expect_message("POST", "/m/compare", "[1,2]", 400, "Request input was not a dict");
    expect_message("POST", "/m/compare", "{\"pdq\":\"x\"}", 400,
                   "Comparison hashes for pdq was not a list");
    expect_message("POST", "/m/compare", "{\"pdq\":[\"a\",\"b\",\"c\"]}", 400,
                   "Comparison hash list length must be exactly 2");
    expect_message("POST", "/m/compare", "{\"tmk\":[\"a\",\"b\"]}", 400,
                   "No such SignalType 'tmk'");
    snprintf(body, sizeof body, "{\"pdq\":[\"%s\",\"zz\"]}", W.img.pdq);
    expect_message("POST", "/m/compare", body, 400, "Invalid pdq hash: invalid PDQ hash");
    expect_exact(&W.srv, "POST", "/m/compare", W.key_a, "{}", 200, "{}");
}

/* GET /m/index/status: HMA's shape per signal type. */
static void test_index_status(void **state)
{
    (void)state;
    json_t *st = call(&W.srv, "GET", "/m/index/status", W.key_a, NULL, 200, NULL);
    static const char *const types[] = {"pdq", "md5", "video_md5", "sha256", "vpdq"};
    assert_int_equal(json_object_size(st), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *t = json_object_get(st, types[i]);
        assert_non_null(t);
        assert_int_equal(json_object_size(t), 3);
        assert_true(json_is_true(json_object_get(t, "present")));
        assert_true(json_integer_value(json_object_get(t, "built_to")) > 1700000000);
        assert_true(json_integer_value(json_object_get(t, "size")) >= 1);
    }
    /* One image (its PDQ) and one video of VFRAMES frames. */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "vpdq"), "size")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "md5"), "size")), 1);
    json_decref(st);
    st = call(&W.srv, "GET", "/m/index/status?signal_type=pdq", W.key_a, NULL, 200, NULL);
    assert_int_equal(json_object_size(st), 1);
    assert_non_null(json_object_get(st, "pdq"));
    json_decref(st);
}

/* The platform key as Bearer or as the password of HTTP Basic. */
static void test_auth(void **state)
{
    (void)state;
    char path[512], hdr[256], pair[128], enc[200];
    snprintf(path, sizeof path, "/m/raw_lookup?signal=%s&signal_type=pdq", W.img.pdq);
    sitr_e2e_resp_t r;
    sitr_e2e_call(&W.srv, "GET", path, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    sitr_e2e_resp_free(&r);
    snprintf(pair, sizeof pair, "platform:%s", W.key_a);
    b64(pair, enc);
    snprintf(hdr, sizeof hdr, "Authorization: Basic %s\r\n", enc);
    sitr_e2e_call(&W.srv, "GET", path, NULL, hdr, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = sitr_e2e_json(r.body);
    assert_int_equal(json_array_size(json_object_get(j, "matches")), 1);
    json_decref(j);
    sitr_e2e_resp_free(&r);
    /* An empty user name works too; a wrong key does not. */
    snprintf(pair, sizeof pair, ":%s", W.key_b);
    b64(pair, enc);
    snprintf(hdr, sizeof hdr, "Authorization: Basic %s\r\n", enc);
    sitr_e2e_call(&W.srv, "GET", path, NULL, hdr, NULL, &r);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    b64("platform:sitr_0000000000000000000000000000000000000000000000000000", enc);
    snprintf(hdr, sizeof hdr, "Authorization: Basic %s\r\n", enc);
    sitr_e2e_call(&W.srv, "GET", path, NULL, hdr, NULL, &r);
    assert_int_equal(r.status, 401);
    sitr_e2e_resp_free(&r);
    snprintf(hdr, sizeof hdr, "Authorization: Basic %s\r\n", "!!notbase64");
    sitr_e2e_call(&W.srv, "GET", path, NULL, hdr, NULL, &r);
    assert_int_equal(r.status, 401);
    sitr_e2e_resp_free(&r);
}

/* A lookup match is an "upload blocked" on the victim's timeline, for the
 * platform that looked; and it counts in /metrics. */
static void test_recorded(void **state)
{
    (void)state;
    /* The blocks reach the database through sitrd's block queue. */
    assert_int_equal(sitr_e2e_wait_blocks_written(&W.srv, DEADLINE_MS), 0);
    json_t *st = call(&W.srv, "GET", W.case_path, W.case_auth, NULL, 200, NULL);
    size_t i;
    json_t *e;
    int alpha = 0, beta = 0;
    json_array_foreach(json_object_get(st, "timeline"), i, e)
    {
        const char *ev = json_string_value(json_object_get(e, "event"));
        const char *pl = json_string_value(json_object_get(e, "platform"));
        if (ev && pl && strcmp(ev, "upload_blocked") == 0) {
            alpha |= strcmp(pl, "alpha") == 0;
            beta |= strcmp(pl, "beta") == 0;
        }
    }
    json_decref(st);
    assert_true(alpha);
    assert_true(beta);
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_request(&W.srv, "GET", "/metrics", NULL, NULL, &r), 0);
    const char *l = strstr(r.body, "\nsitr_hma_lookups_total ");
    assert_non_null(l);
    assert_true(atol(l + strlen("\nsitr_hma_lookups_total ")) >= 10);
    l = strstr(r.body, "\nsitr_hma_content_refused_total ");
    assert_non_null(l);
    assert_true(atol(l + strlen("\nsitr_hma_content_refused_total ")) >= 4);
    l = strstr(r.body, "\nsitr_hma_pdq_ignored_total ");
    assert_non_null(l);
    assert_int_equal(atol(l + strlen("\nsitr_hma_pdq_ignored_total ")), 1);
    sitr_e2e_resp_free(&r);
}

/* An index not loaded yet: 503 "index not yet ready", status not present. */
static void test_not_ready(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "/m/lookup?signal=%s&signal_type=pdq", W.img.pdq);
    expect_exact(&W.behind, "GET", path, W.key_c, NULL, 503,
                 "{\"message\":\"index not yet ready\"}");
    json_t *st = call(&W.behind, "GET", "/m/index/status", W.key_c, NULL, 200, NULL);
    json_t *want = sitr_e2e_json("{\"present\":false,\"built_to\":-1,\"size\":0}");
    assert_true(json_equal(json_object_get(st, "pdq"), want));
    assert_true(json_equal(json_object_get(st, "vpdq"), want));
    json_decref(want);
    json_decref(st);
}

/* The client no one here wrote, unchanged, against both servers. */
static void test_hma_client(void **state)
{
    (void)state;
    const char *script = SITR_SOURCE_DIR "/tests/e2e/hma_client.py";
    assert_int_equal(pgt_run("python3 '%s' ready 'http://platform:%s@127.0.0.1:%d' %s", script,
                             W.key_a, W.srv.port, W.img.pdq),
                     0);
    assert_int_equal(pgt_run("python3 '%s' not-ready 'http://platform:%s@127.0.0.1:%d' %s", script,
                             W.key_c, W.behind.port, W.img.pdq),
                     0);
    /* And it notices when a server answers otherwise: the ready flow
     * fails against the server that is not ready. */
    assert_int_not_equal(pgt_run("python3 '%s' ready 'http://platform:%s@127.0.0.1:%d' %s "
                                 "2>/dev/null",
                                 script, W.key_c, W.behind.port, W.img.pdq),
                         0);
    /* Released, the second server loads and answers (an empty bank). */
    unlock();
    assert_int_equal(sitr_e2e_wait_ready(&W.behind, DEADLINE_MS), 0);
    char path[512];
    snprintf(path, sizeof path, "/m/lookup?signal=%s&signal_type=pdq", W.img.pdq);
    expect_exact(&W.behind, "GET", path, W.key_c, NULL, 200, "{}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_created),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_quality),
        cmocka_unit_test(test_raw_lookup),
        cmocka_unit_test(test_vpdq),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_content_refused),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_index_status),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_recorded),
        cmocka_unit_test(test_not_ready),
        cmocka_unit_test(test_hma_client),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
