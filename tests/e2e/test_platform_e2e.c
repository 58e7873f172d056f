/* End-to-end tests of the platforms' API against a real sitrd, sitr-admin
 * and a fresh, migrated PostgreSQL database (the `pg` fixture).
 *
 * Default run (platform_e2e): Bearer authentication (missing, wrong,
 * malformed, revoked key), /v1/match validation and batch limits, a case
 * created through POST /v1/cases found by /v1/match once the replica has
 * caught up (polled with a deadline), refs stable per platform and
 * different across platforms, no victim hash in any answer, the threshold
 * boundary (31 matches, 32 does not), quality < 50 never matching
 * perceptually while its MD5 still does, "upload blocked" on the victim's
 * timeline, uploads reported and removed, takedowns listed (own only, status
 * filter, cursor pages) and answered (409 on a second answer, 404 for
 * another platform), and the outcome on the victim's timeline.  The
 * takedowns of this run are created by calling the matcher's commit
 * function (sitr_matcher_commit) directly, so they do not depend on the
 * matcher.
 *
 * `test_platform_e2e matcher` (platform_matcher_e2e) runs only the flows
 * through the real matcher: an upload reported after a case, and a case
 * created after an upload, each yield exactly one takedown, polled with a
 * deadline.  No timing assertions anywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "e2e_api.h"
#include "e2e_img.h"
#include "e2e_matches.h"
#include "e2e_util.h"
#include "e2e_world.h"
#include "db_support.h"

#define TEST_DIGEST_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define BATCH           10
#define DEADLINE_MS     20000

typedef struct world {
    char *db_url;
    sitr_e2e_server_t srv;
    char key_a[80], key_b[80]; /* platforms alpha and beta */
} world_t;

static world_t W;
static unsigned rng_state = 12345;

typedef sitr_e2e_img_t img_t;

static img_t new_img(void)
{
    return sitr_e2e_new_img(&rng_state);
}

/* One request; key NULL = no Authorization; key starting with "Case " is
 * sent as is. */
static void call(const char *method, const char *path, const char *key, const char *body,
                 sitr_e2e_resp_t *r)
{
    sitr_e2e_call(&W.srv, method, path, key, NULL, body, r);
}

/* Calls and expects status; returns the parsed body (caller decrefs). */
static json_t *call_json(const char *method, const char *path, const char *key, const char *body,
                         int status)
{
    return sitr_e2e_call_json(&W.srv, method, path, key, body, status);
}

static void expect_error(const char *method, const char *path, const char *key, const char *body,
                         int status, const char *code, const char *field)
{
    sitr_e2e_expect_error(&W.srv, method, path, key, body, status, code, field);
}

typedef struct made {
    char ref[64], secret[64], path[128], auth[96];
} made_t;

static made_t create_case(const img_t *imgs, int n, int quality)
{
    char *body = malloc(64 + (size_t)n * 256);
    size_t o = (size_t)sprintf(body, "{\"images\":[");
    for (int i = 0; i < n; i++)
        o += (size_t)sprintf(body + o,
                             "%s{\"pdq\":\"%s\",\"quality\":%d,\"md5\":\"%s\","
                             "\"sha256\":\"%s\"}",
                             i ? "," : "", imgs[i].pdq, quality, imgs[i].md5, imgs[i].sha);
    sprintf(body + o, "]}");
    json_t *j = call_json("POST", "/v1/cases", NULL, body, 201);
    free(body);
    made_t m;
    snprintf(m.ref, sizeof m.ref, "%s", json_string_value(json_object_get(j, "case")));
    snprintf(m.secret, sizeof m.secret, "%s", json_string_value(json_object_get(j, "secret")));
    snprintf(m.path, sizeof m.path, "/v1/cases/%s", m.ref);
    snprintf(m.auth, sizeof m.auth, "Case %s", m.secret);
    json_decref(j);
    return m;
}

/* POST /v1/match with one item; returns the parsed answer. */
static json_t *match_one(const char *key, const char *item)
{
    char body[512];
    snprintf(body, sizeof body, "{\"items\":[%s]}", item);
    sitr_e2e_resp_t r;
    call("POST", "/v1/match", key, body, &r);
    if (r.status != 200)
        fail_msg("match: %d %s", r.status, r.body);
    json_t *j = sitr_e2e_json(r.body);
    sitr_e2e_resp_free(&r);
    return j;
}

static json_t *item_at(json_t *answer, size_t i)
{
    return json_array_get(json_object_get(answer, "items"), i);
}

static int matched(json_t *answer, size_t i)
{
    return json_is_true(json_object_get(item_at(answer, i), "matched"));
}

static json_t *first_match(json_t *answer, size_t i)
{
    return json_array_get(json_object_get(item_at(answer, i), "matches"), 0);
}

/* Polls /v1/match until the item matches (the replica follows the change
 * log); fails after the deadline. */
static json_t *match_eventually(const char *key, const char *item)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        json_t *j = match_one(key, item);
        if (matched(j, 0))
            return j;
        json_decref(j);
        if (sitr_e2e_now_ms() > end)
            fail_msg("the case never matched");
        sitr_e2e_sleep_ms(50);
    }
}

/* Polls until POST /v1/match with key answers status (a key added or
 * revoked reaches sitrd through the change log); fails after the deadline. */
static void wait_key_status(const char *key, const char *body, int status)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        sitr_e2e_resp_t r;
        call("POST", "/v1/match", key, body, &r);
        int got = r.status;
        sitr_e2e_resp_free(&r);
        if (got == status)
            return;
        if (sitr_e2e_now_ms() > end)
            fail_msg("the key change never reached sitrd: %d, want %d", got, status);
        sitr_e2e_sleep_ms(20);
    }
}

static char *pdq_item(const char *pdq, int quality)
{
    static char buf[4][160];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 160, "{\"pdq\":\"%s\",\"quality\":%d}", pdq, quality);
    return b;
}

/* The victim's timeline holds an event of kind for platform (count >= n). */
static int timeline_has(const made_t *c, const char *event, const char *platform)
{
    json_t *st = call_json("GET", c->path, c->auth, NULL, 200);
    json_t *tl = json_object_get(st, "timeline");
    size_t i;
    json_t *e;
    int found = 0;
    json_array_foreach(tl, i, e)
    {
        const char *ev = json_string_value(json_object_get(e, "event"));
        const char *pl = json_string_value(json_object_get(e, "platform"));
        if (ev && strcmp(ev, event) == 0 && (!platform || (pl && strcmp(pl, platform) == 0)))
            found = 1;
    }
    json_decref(st);
    return found;
}

/* The timeline's upload_blocked entries of platform: one per UTC day of
 * its case_blocks rows, each with the sum of that day's counts. */
static void check_blocked_entries(const made_t *c, const char *platform)
{
    char sql[512];
    json_t *st = call_json("GET", c->path, c->auth, NULL, 200);
    json_t *tl = json_object_get(st, "timeline");
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(tl, i, e)
    {
        const char *ev = json_string_value(json_object_get(e, "event"));
        const char *pl = json_string_value(json_object_get(e, "platform"));
        if (!ev || strcmp(ev, "upload_blocked") != 0 || !pl || strcmp(pl, platform) != 0)
            continue;
        n++;
        const char *date = json_string_value(json_object_get(e, "date"));
        assert_non_null(date);
        assert_non_null(json_string_value(json_object_get(e, "last_at")));
        snprintf(sql, sizeof sql,
                 "SELECT sum(b.count) FROM case_blocks b JOIN platforms p ON p.id = b.platform_id "
                 "JOIN cases k ON k.id = b.case_id WHERE k.reference = '%s' AND p.name = '%s' "
                 "AND b.day = '%s'",
                 c->ref, platform, date);
        assert_int_equal(json_integer_value(json_object_get(e, "count")),
                         pgt_scalar(W.db_url, sql));
    }
    snprintf(sql, sizeof sql,
             "SELECT count(DISTINCT b.day) FROM case_blocks b JOIN platforms p ON "
             "p.id = b.platform_id JOIN cases k ON k.id = b.case_id WHERE k.reference = '%s' "
             "AND p.name = '%s'",
             c->ref, platform);
    assert_int_equal(n, pgt_scalar(W.db_url, sql));
    assert_true(n >= 1);
    json_decref(st);
}

static void report(const char *key, const char *content_id, const char *pdq, const char *extra)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"uploads\":[{\"id\":\"%s\",\"url\":\"https://p.example/%s\",\"pdq\":\"%s\","
             "\"quality\":80%s}]}",
             content_id, content_id, pdq, extra ? extra : "");
    json_decref(call_json("POST", "/v1/uploads", key, body, 202));
}

/* ---- fixture --------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    setenv("SITR_DIGEST_KEY", TEST_DIGEST_KEY, 1);
    W.db_url = sitr_e2e_migrated_db("platform_e2e");
    if (!W.db_url)
        return -1;
    if (sitr_e2e_admin_key(W.db_url, "platform add alpha", W.key_a, sizeof W.key_a, NULL, 0) < 0 ||
        sitr_e2e_admin_key(W.db_url, "platform add beta", W.key_b, sizeof W.key_b, NULL, 0) < 0)
        return -1;
    static char url_var[1200], batch[64];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    snprintf(batch, sizeof batch, "SITR_MATCH_BATCH=%d", BATCH);
    const char *env[] = {url_var,
                         batch,
                         "SITR_MATCH_THRESHOLD=31",
                         "SITR_CASE_RATE=0",
                         "SITR_DIGEST_KEY=" TEST_DIGEST_KEY,
                         NULL};
    if (sitr_e2e_start(&W.srv, env) < 0)
        return -1;
    /* Ready means the schema is current and the match index loaded. */
    return sitr_e2e_wait_ready(&W.srv, DEADLINE_MS);
}

static int teardown(void **state)
{
    (void)state;
    /* The log must never carry an API key. */
    const char *const never[] = {W.key_a, W.key_b, NULL};
    int rc = sitr_e2e_stop_clean(&W.srv, never);
    free(W.db_url);
    return rc;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_auth(void **state)
{
    (void)state;
    const char *body = "{\"items\":[{\"md5\":\"00000000000000000000000000000000\"}]}";
    expect_error("POST", "/v1/match", NULL, body, 401, "api_key_required", NULL);
    expect_error("GET", "/v1/takedowns", NULL, NULL, 401, "api_key_required", NULL);
    expect_error("DELETE", "/v1/uploads/x", NULL, NULL, 401, "api_key_required", NULL);
    expect_error("POST", "/v1/uploads", NULL, "{}", 401, "api_key_required", NULL);
    expect_error("POST", "/v1/takedowns/1", NULL, "{}", 401, "api_key_required", NULL);
    /* Well-formed but unknown, and malformed. */
    expect_error("POST", "/v1/match", "sitr_0000000000000000000000000000000000000000000000000000",
                 body, 401, "invalid_api_key", NULL);
    expect_error("POST", "/v1/match", "nope", body, 401, "invalid_api_key", NULL);
    /* A case secret is not a platform credential. */
    expect_error("POST", "/v1/match", "Case 12345", body, 401, "api_key_required", NULL);

    /* A key added while sitrd runs starts working, and once revoked stops,
     * as soon as the change log reaches sitrd's in-memory keys (polled
     * with a 10 s deadline; no restart). */
    char key_c[80];
    assert_int_equal(
        sitr_e2e_admin_key(W.db_url, "platform add gamma", key_c, sizeof key_c, NULL, 0), 0);
    wait_key_status(key_c, body, 200);
    json_decref(call_json("POST", "/v1/match", key_c, body, 200));
    assert_int_equal(pgt_run("'%s' --database-url '%s' platform revoke gamma 2>/dev/null",
                             pgt_admin(), W.db_url),
                     0);
    wait_key_status(key_c, body, 401);
    expect_error("POST", "/v1/match", key_c, body, 401, "invalid_api_key", NULL);
    expect_error("GET", "/v1/takedowns", key_c, NULL, 401, "invalid_api_key", NULL);
}

static void test_match_validation(void **state)
{
    (void)state;
    char body[8192];
    const char *m = "{\"md5\":\"00000000000000000000000000000000\"}";
    /* BATCH items pass, BATCH + 1 do not. */
    for (int n = BATCH; n <= BATCH + 1; n++) {
        size_t o = (size_t)sprintf(body, "{\"items\":[");
        for (int i = 0; i < n; i++)
            o += (size_t)sprintf(body + o, "%s%s", i ? "," : "", m);
        sprintf(body + o, "]}");
        if (n == BATCH) {
            json_t *j = call_json("POST", "/v1/match", W.key_a, body, 200);
            assert_int_equal(json_array_size(json_object_get(j, "items")), BATCH);
            json_decref(j);
        } else {
            expect_error("POST", "/v1/match", W.key_a, body, 422, "too_many_items", "items");
        }
    }
    expect_error("POST", "/v1/match", W.key_a, "{\"items\":[]}", 422, "empty_batch", "items");
    expect_error("POST", "/v1/match", W.key_a, "{\"items\":[{\"md5\":\"0\"}]}", 422, "invalid_hex",
                 "items[0].md5");
    expect_error("POST", "/v1/match", W.key_a,
                 "{\"items\":[{\"md5\":\"00000000000000000000000000000000\"},{\"url\":\"x\"}]}",
                 422, "unknown_field", "items[1].url");
    expect_error("POST", "/v1/match", W.key_a,
                 "{\"items\":[{\"pdq\":\""
                 "0000000000000000000000000000000000000000000000000000000000000000"
                 "\"}]}",
                 422, "quality_required", "items[0].quality");
    expect_error("POST", "/v1/match", W.key_a, "{\"items\":[{}]}", 422, "no_hash", "items[0]");
    expect_error("POST", "/v1/match", W.key_a, "{\"items\":", 400, "malformed_json", NULL);
}

static void test_match_case(void **state)
{
    (void)state;
    img_t imgs[2] = {new_img(), new_img()};
    made_t c = create_case(imgs, 2, 90);

    /* The exact PDQ matches once the replica has applied the change. */
    json_t *a1 = match_eventually(W.key_a, pdq_item(imgs[0].pdq, 90));
    json_t *hit = first_match(a1, 0);
    assert_string_equal(json_string_value(json_object_get(hit, "signal")), "pdq");
    assert_int_equal(json_integer_value(json_object_get(hit, "distance")), 0);
    const char *ref = json_string_value(json_object_get(hit, "ref"));
    assert_non_null(ref);
    assert_int_equal(strlen(ref), 32);
    assert_true(json_is_true(json_object_get(a1, "recorded")));
    char *dump = json_dumps(a1, 0);
    sitr_e2e_assert_no_hash(dump, &imgs[0], "an answer");
    sitr_e2e_assert_no_hash(dump, &imgs[1], "an answer");
    free(dump);

    /* Stable for alpha; another ref for beta; another for the other image. */
    json_t *a2 = match_one(W.key_a, pdq_item(imgs[0].pdq, 90));
    assert_string_equal(json_string_value(json_object_get(first_match(a2, 0), "ref")), ref);
    json_t *b1 = match_one(W.key_b, pdq_item(imgs[0].pdq, 90));
    assert_true(matched(b1, 0));
    assert_string_not_equal(json_string_value(json_object_get(first_match(b1, 0), "ref")), ref);
    json_t *a3 = match_eventually(W.key_a, pdq_item(imgs[1].pdq, 90));
    assert_string_not_equal(json_string_value(json_object_get(first_match(a3, 0), "ref")), ref);

    /* Threshold 31: a query 31 bits away matches at 31, 32 bits does not. */
    char q31[65], q32[65];
    sitr_e2e_flip_bits(imgs[0].pdq, 31, q31);
    sitr_e2e_flip_bits(imgs[0].pdq, 32, q32);
    char body[1024];
    snprintf(body, sizeof body, "{\"items\":[%s,%s]}", pdq_item(q31, 90), pdq_item(q32, 90));
    json_t *t = call_json("POST", "/v1/match", W.key_a, body, 200);
    assert_true(matched(t, 0));
    assert_int_equal(json_integer_value(json_object_get(first_match(t, 0), "distance")), 31);
    assert_string_equal(json_string_value(json_object_get(first_match(t, 0), "ref")), ref);
    assert_false(matched(t, 1));
    assert_int_equal(json_array_size(json_object_get(item_at(t, 1), "matches")), 0);

    /* Quality 49: even the exact PDQ never matches; its MD5 does. */
    snprintf(body, sizeof body,
             "{\"items\":[%s,{\"pdq\":\"%s\",\"quality\":49,\"md5\":\"%s\"},{\"sha256\":\"%s\"}]}",
             pdq_item(imgs[0].pdq, 49), imgs[0].pdq, imgs[0].md5, imgs[0].sha);
    json_t *lq = call_json("POST", "/v1/match", W.key_a, body, 200);
    assert_false(matched(lq, 0));
    assert_string_equal(json_string_value(json_object_get(item_at(lq, 0), "pdq_ignored")),
                        "quality_too_low");
    assert_true(matched(lq, 1));
    assert_string_equal(json_string_value(json_object_get(first_match(lq, 1), "signal")), "md5");
    assert_string_equal(json_string_value(json_object_get(first_match(lq, 1), "ref")), ref);
    assert_true(matched(lq, 2));
    assert_string_equal(json_string_value(json_object_get(first_match(lq, 2), "signal")), "sha256");

    /* A batch big enough for the thread pool keeps the item order. */
    size_t o = (size_t)sprintf(body, "{\"items\":[");
    for (int i = 0; i < BATCH; i++) {
        img_t other = new_img();
        o += (size_t)sprintf(body + o, "%s{\"md5\":\"%s\"}", i ? "," : "",
                             i % 3 == 1 ? imgs[1].md5 : other.md5);
    }
    sprintf(body + o, "]}");
    json_t *big = call_json("POST", "/v1/match", W.key_b, body, 200);
    for (int i = 0; i < BATCH; i++)
        assert_int_equal(matched(big, (size_t)i), i % 3 == 1);
    dump = json_dumps(big, 0);
    sitr_e2e_assert_no_hash(dump, &imgs[1], "an answer");
    free(dump);

    /* The victim sees "upload blocked" by platform name, once sitrd's
     * block queue has reached the database; the database holds no hash of
     * any query (only counts per case image, platform and day). */
    assert_int_equal(sitr_e2e_wait_blocks_written(&W.srv, DEADLINE_MS), 0);
    assert_true(timeline_has(&c, "upload_blocked", "alpha"));
    assert_true(timeline_has(&c, "upload_blocked", "beta"));
    /* Every block sitrd queued is in the database, summed into one row per
     * (case image, platform, UTC day), and the timeline shows one entry per
     * (platform, day) carrying that day's sum. */
    long long queued = sitr_e2e_metric(&W.srv, "sitr_blocks_queued_total");
    assert_true(queued >= 10);
    assert_int_equal(sitr_e2e_metric(&W.srv, "sitr_blocks_written_total"), queued);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT sum(count) FROM case_blocks"), queued);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM case_blocks"),
                     pgt_scalar(W.db_url, "SELECT count(DISTINCT (case_image_id, case_video_id, "
                                          "platform_id, day)) FROM case_blocks"));
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM case_events "
                                          "WHERE kind = 'upload_blocked'"),
                     0);
    check_blocked_entries(&c, "alpha");
    check_blocked_entries(&c, "beta");
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM uploads"), 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM case_images WHERE pdq = decode('%s', 'hex')",
             q31);
    assert_int_equal(pgt_scalar(W.db_url, sql), 0);

    /* /metrics counts the checks (and carries no hash). */
    sitr_e2e_resp_t mr;
    call("GET", "/metrics", NULL, NULL, &mr);
    assert_int_equal(mr.status, 200);
    const char *line = strstr(mr.body, "\nsitr_match_items_matched_total ");
    assert_non_null(line);
    assert_true(atoll(line + strlen("\nsitr_match_items_matched_total ")) >= 5);
    sitr_e2e_assert_no_hash(mr.body, &imgs[0], "an answer");
    sitr_e2e_resp_free(&mr);

    json_decref(a1);
    json_decref(a2);
    json_decref(a3);
    json_decref(b1);
    json_decref(t);
    json_decref(lq);
    json_decref(big);
}

static void test_uploads(void **state)
{
    (void)state;
    img_t u = new_img();
    char body[1024];
    snprintf(body, sizeof body,
             "{\"uploads\":[{\"id\":\"up-1\",\"url\":\"https://p.example/1\",\"pdq\":\"%s\","
             "\"quality\":80},{\"id\":\"up-2\",\"pdq\":\"%s\",\"quality\":20,\"md5\":\"%s\"}]}",
             u.pdq, u.pdq, u.md5);
    json_t *j = call_json("POST", "/v1/uploads", W.key_b, body, 202);
    json_t *l = json_object_get(j, "uploads");
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "id")), "up-1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "status")),
                        "created");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "pdq_ignored")),
                        "quality_too_low");
    json_decref(j);
    /* The low-quality PDQ was not stored; the MD5 was. */
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM uploads WHERE content_id = "
                                          "'up-2' AND pdq IS NULL AND md5 IS NOT NULL"),
                     1);
    /* Same report again: unchanged; a new hash: updated. */
    j = call_json("POST", "/v1/uploads", W.key_b, body, 202);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "uploads"), 0), "status")),
                        "unchanged");
    json_decref(j);
    img_t u2 = new_img();
    report(W.key_b, "up-1", u2.pdq, NULL);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM uploads WHERE content_id = 'up-1'"),
                     1);
    /* Faults store nothing. */
    long long before = pgt_scalar(W.db_url, "SELECT count(*) FROM uploads");
    expect_error(
        "POST", "/v1/uploads", W.key_b,
        "{\"uploads\":[{\"id\":\"ok\",\"md5\":\"00000000000000000000000000000000\"},"
        "{\"id\":\"bad\",\"url\":\"ftp://x\",\"md5\":\"00000000000000000000000000000000\"}]}",
        422, "invalid_url", "uploads[1].url");
    expect_error("POST", "/v1/uploads", W.key_b,
                 "{\"uploads\":[{\"id\":\"d\",\"md5\":\"00000000000000000000000000000000\"},"
                 "{\"id\":\"d\",\"md5\":\"00000000000000000000000000000000\"}]}",
                 422, "duplicate_id", "uploads[1].id");
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM uploads"), before);

    /* DELETE: another platform's upload is unknown to alpha; beta removes
     * it once. */
    expect_error("DELETE", "/v1/uploads/up-2", W.key_a, NULL, 404, "upload_not_found", "id");
    j = call_json("DELETE", "/v1/uploads/up-2", W.key_b, NULL, 200);
    assert_true(json_is_true(json_object_get(j, "removed")));
    json_decref(j);
    expect_error("DELETE", "/v1/uploads/up-2", W.key_b, NULL, 404, "upload_not_found", "id");
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM uploads WHERE content_id = "
                                          "'up-2' AND removed_at IS NOT NULL"),
                     1);
    /* ... and keeps none of its hashes. */
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM uploads WHERE content_id = 'up-2' "
                                          "AND (pdq IS NOT NULL OR md5 IS NOT NULL OR sha256 IS "
                                          "NOT NULL OR quality IS NOT NULL)"),
                     0);
    /* A content id with a slash travels percent-encoded. */
    report(W.key_b, "a/b", u.pdq, NULL);
    json_decref(call_json("DELETE", "/v1/uploads/a%2Fb", W.key_b, NULL, 200));
}

static json_t *find_takedown(json_t *list, const char *upload_id)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(list, "takedowns"), i, t)
    {
        const char *u = json_string_value(json_object_get(json_object_get(t, "upload"), "id"));
        if (u && strcmp(u, upload_id) == 0)
            return t;
    }
    return NULL;
}

static void test_takedowns(void **state)
{
    (void)state;
    img_t img = new_img();
    made_t c = create_case(&img, 1, 90);
    char near[65];
    sitr_e2e_flip_bits(img.pdq, 5, near);
    report(W.key_b, "td-1", near, NULL);
    sitr_e2e_commit_match(W.db_url, sitr_e2e_image_id(W.db_url, img.md5),
                          sitr_e2e_upload_id(W.db_url, "beta", "td-1"), 5);

    json_t *lb = call_json("GET", "/v1/takedowns?status=pending", W.key_b, NULL, 200);
    json_t *t = find_takedown(lb, "td-1");
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "status")), "pending");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "upload"), "url")),
                        "https://p.example/td-1");
    assert_string_equal(json_string_value(json_object_get(t, "signal")), "pdq");
    /* The band of 5, not 5 (docs/SECURITY.md "The match oracle"). */
    assert_int_equal(json_integer_value(json_object_get(t, "distance")), 15);
    assert_int_equal(json_integer_value(json_object_get(t, "quality")), 80);
    assert_int_equal(strlen(json_string_value(json_object_get(t, "case"))), 32);
    char *dump = json_dumps(lb, 0);
    sitr_e2e_assert_no_hash(dump, &img, "an answer");
    assert_null(strstr(dump, c.ref)); /* nor the case reference */
    free(dump);
    char id[32], path[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(t, "id")));
    snprintf(path, sizeof path, "/v1/takedowns/%s", id);
    json_decref(lb);
    assert_true(timeline_has(&c, "takedown_requested", "beta"));

    /* Alpha sees none of it and cannot answer it. */
    json_t *la = call_json("GET", "/v1/takedowns", W.key_a, NULL, 200);
    assert_null(find_takedown(la, "td-1"));
    json_decref(la);
    expect_error("POST", path, W.key_a, "{\"status\":\"removed\"}", 404, "takedown_not_found",
                 NULL);
    expect_error("POST", "/v1/takedowns/999999999", W.key_b, "{\"status\":\"removed\"}", 404,
                 "takedown_not_found", NULL);
    expect_error("POST", "/v1/takedowns/abc", W.key_b, "{\"status\":\"removed\"}", 404,
                 "takedown_not_found", NULL);
    expect_error("POST", path, W.key_b, "{\"status\":\"pending\"}", 422, "invalid_status",
                 "status");

    /* Beta answers; the victim sees the outcome; a second answer is 409. */
    json_t *ans =
        call_json("POST", path, W.key_b, "{\"status\":\"removed\",\"note\":\"gone\"}", 200);
    assert_string_equal(json_string_value(json_object_get(ans, "status")), "removed");
    assert_string_equal(json_string_value(json_object_get(ans, "id")), id);
    json_decref(ans);
    assert_true(timeline_has(&c, "takedown_removed", "beta"));
    expect_error("POST", path, W.key_b, "{\"status\":\"rejected\"}", 409, "invalid_transition",
                 NULL);
    /* The status filter. */
    lb = call_json("GET", "/v1/takedowns?status=pending", W.key_b, NULL, 200);
    assert_null(find_takedown(lb, "td-1"));
    json_decref(lb);
    lb = call_json("GET", "/v1/takedowns?status=removed", W.key_b, NULL, 200);
    t = find_takedown(lb, "td-1");
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "note")), "gone");
    json_decref(lb);
    expect_error("GET", "/v1/takedowns?status=bogus", W.key_b, NULL, 422, "invalid_status",
                 "status");
    expect_error("GET", "/v1/takedowns?limit=0", W.key_b, NULL, 422, "invalid_limit", "limit");
    expect_error("GET", "/v1/takedowns?limit=1001", W.key_b, NULL, 422, "invalid_limit", "limit");
}

static void test_pagination(void **state)
{
    (void)state;
    img_t img = new_img();
    made_t c = create_case(&img, 1, 90);
    (void)c;
    long long image = sitr_e2e_image_id(W.db_url, img.md5);
    char want[5][16];
    for (int i = 0; i < 5; i++) {
        img_t u = new_img();
        snprintf(want[i], sizeof want[i], "pg-%d", i);
        report(W.key_a, want[i], u.pdq, NULL);
        sitr_e2e_commit_match(W.db_url, image, sitr_e2e_upload_id(W.db_url, "alpha", want[i]), 3);
    }
    /* Pages of 2 over alpha's pending takedowns: 2, 2, 1, then no cursor. */
    char path[256] = "/v1/takedowns?status=pending&limit=2";
    int seen = 0, pages = 0;
    long long last = 0;
    char first_cursor[64] = "";
    for (;;) {
        json_t *p = call_json("GET", path, W.key_a, NULL, 200);
        json_t *list = json_object_get(p, "takedowns");
        size_t i;
        json_t *t;
        json_array_foreach(list, i, t)
        {
            long long tid = atoll(json_string_value(json_object_get(t, "id")));
            assert_true(tid > last); /* ascending, no repeats */
            last = tid;
            const char *u = json_string_value(json_object_get(json_object_get(t, "upload"), "id"));
            assert_string_equal(u, want[seen]);
            seen++;
        }
        pages++;
        json_t *next = json_object_get(p, "next_cursor");
        if (json_is_null(next)) {
            assert_int_equal(json_array_size(list), 1);
            json_decref(p);
            break;
        }
        assert_int_equal(json_array_size(list), 2);
        if (!first_cursor[0])
            snprintf(first_cursor, sizeof first_cursor, "%s", json_string_value(next));
        snprintf(path, sizeof path, "/v1/takedowns?status=pending&limit=2&after=%s",
                 json_string_value(next));
        json_decref(p);
        assert_true(pages < 10);
    }
    assert_int_equal(seen, 5);
    assert_int_equal(pages, 3);
    /* A cursor is alpha's: beta cannot use it, nor an altered one. */
    snprintf(path, sizeof path, "/v1/takedowns?after=%s", first_cursor);
    expect_error("GET", path, W.key_b, NULL, 422, "invalid_cursor", "after");
    first_cursor[5] = first_cursor[5] == '0' ? '1' : '0';
    snprintf(path, sizeof path, "/v1/takedowns?after=%s", first_cursor);
    expect_error("GET", path, W.key_a, NULL, 422, "invalid_cursor", "after");
    /* The same case groups under one token for alpha. */
    json_t *p = call_json("GET", "/v1/takedowns?status=pending&limit=5", W.key_a, NULL, 200);
    json_t *list = json_object_get(p, "takedowns");
    const char *tok = json_string_value(json_object_get(json_array_get(list, 0), "case"));
    for (size_t i = 1; i < 5; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "case")),
                            tok);
    json_decref(p);
}

/* ---- the flows through the real matcher -------------------------------------------- */

static json_t *takedown_eventually(const char *key, const char *upload_id)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        json_t *l = call_json("GET", "/v1/takedowns?status=all&limit=1000", key, NULL, 200);
        json_t *t = find_takedown(l, upload_id);
        if (t) {
            json_incref(t);
            json_decref(l);
            return t;
        }
        json_decref(l);
        if (sitr_e2e_now_ms() > end)
            fail_msg("no takedown for upload %s before the deadline (is the matcher running?)",
                     upload_id);
        sitr_e2e_sleep_ms(100);
    }
}

static void test_matcher_flows(void **state)
{
    (void)state;
    /* Case first, then the upload. */
    img_t img = new_img();
    made_t c = create_case(&img, 1, 90);
    char near[65];
    sitr_e2e_flip_bits(img.pdq, 9, near);
    report(W.key_b, "m-1", near, NULL);
    json_t *t = takedown_eventually(W.key_b, "m-1");
    assert_int_equal(json_integer_value(json_object_get(t, "distance")), 15); /* band of 9 */
    char path[64];
    snprintf(path, sizeof path, "/v1/takedowns/%s", json_string_value(json_object_get(t, "id")));
    json_decref(t);
    json_decref(call_json("POST", path, W.key_b, "{\"status\":\"removed\"}", 200));
    assert_true(timeline_has(&c, "takedown_removed", "beta"));

    /* Upload first, then the case (matched by MD5). */
    img_t img2 = new_img();
    char extra[128];
    snprintf(extra, sizeof extra, ",\"md5\":\"%s\"", img2.md5);
    img_t other = new_img();
    report(W.key_a, "m-2", other.pdq, extra);
    made_t c2 = create_case(&img2, 1, 90);
    t = takedown_eventually(W.key_a, "m-2");
    assert_string_equal(json_string_value(json_object_get(t, "signal")), "md5");
    json_decref(t);
    assert_true(timeline_has(&c2, "takedown_requested", "alpha"));
    /* Exactly one takedown per (upload, case). */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM takedowns WHERE upload_id = %lld",
             sitr_e2e_upload_id(W.db_url, "alpha", "m-2"));
    assert_int_equal(pgt_scalar(W.db_url, sql), 1);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "matcher") == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_matcher_flows),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth),       cmocka_unit_test(test_match_validation),
        cmocka_unit_test(test_match_case), cmocka_unit_test(test_uploads),
        cmocka_unit_test(test_takedowns),  cmocka_unit_test(test_pagination),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
