/* Two sitrd processes (A and B) on one PostgreSQL: what is written through
 * one replica is matched by the other; the one matcher turns matches into
 * takedowns exactly once; withdrawal on A stops matching on B; boundary
 * distances 31/32 and quality < 50 end to end; platform keys added,
 * rotated and revoked with sitr-admin reach both replicas' memory through
 * the change log; and SIGKILL of the matcher
 * holder during a burst of uploads, after which the other process takes
 * over and every expected takedown exists exactly once.  Assertions go
 * through the API and through SQL.  Waiting loops poll with a deadline so
 * a broken build fails instead of hanging; nothing asserts on time. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "e2e_util.h"
#include "e2e_world.h"
#include "db_support.h"

#define DKEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static char *url;
static char dburl_env[1024];
static sitr_e2e_server_t A, B;
static char key1[128], key2[128];

/* ---- hashes ------------------------------------------------------------ */

static uint64_t rng = 0x243f6a8885a308d3ULL;
static uint8_t rnd8(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

static void rand_bytes(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = rnd8();
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* q = p with exactly d distinct bits flipped. */
static void flip_bits(const uint8_t *p, int d, uint8_t *q)
{
    memcpy(q, p, 32);
    int flipped[256] = {0};
    for (int k = 0; k < d;) {
        int bit = (int)((rnd8() << 8 | rnd8()) % 256);
        if (flipped[bit])
            continue;
        flipped[bit] = 1;
        q[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        k++;
    }
}

/* ---- HTTP helpers ------------------------------------------------------ */

static json_t *call(sitr_e2e_server_t *s, const char *method, const char *path, const char *auth,
                    const char *body, int *status)
{
    char headers[512];
    snprintf(headers, sizeof headers, "%s%s%sContent-Type: application/json\r\n",
             auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_request(s, method, path, headers, body, &r), 0);
    *status = r.status;
    json_t *j = r.body_len ? json_loads(r.body, 0, NULL) : NULL;
    sitr_e2e_resp_free(&r);
    return j;
}

typedef struct vcase {
    char ref[128], secret[128];
} vcase_t;

static void create_case(sitr_e2e_server_t *s, const char *pdq_hex, const char *dihedral_hex,
                        vcase_t *out)
{
    char body[1024];
    if (dihedral_hex)
        snprintf(body, sizeof body,
                 "{\"images\":[{\"pdq\":\"%s\",\"quality\":90,\"dihedral\":[\"%s\"]}]}", pdq_hex,
                 dihedral_hex);
    else
        snprintf(body, sizeof body, "{\"images\":[{\"pdq\":\"%s\",\"quality\":90}]}", pdq_hex);
    int st;
    json_t *j = call(s, "POST", "/v1/cases", NULL, body, &st);
    assert_int_equal(st, 201);
    snprintf(out->ref, sizeof out->ref, "%s", json_string_value(json_object_get(j, "case")));
    snprintf(out->secret, sizeof out->secret, "%s",
             json_string_value(json_object_get(j, "secret")));
    json_decref(j);
}

/* POST /v1/match with one item; returns the number of matches (-1 if the
 * status is not 200) and the smallest distance in *dist. */
static int match_one(sitr_e2e_server_t *s, const char *key, const char *pdq_hex, int quality,
                     int *dist)
{
    char body[512], auth[200];
    snprintf(body, sizeof body, "{\"items\":[{\"pdq\":\"%s\",\"quality\":%d}]}", pdq_hex, quality);
    snprintf(auth, sizeof auth, "Bearer %s", key);
    int st;
    json_t *j = call(s, "POST", "/v1/match", auth, body, &st);
    if (st != 200) {
        json_decref(j);
        return -1;
    }
    json_t *item = json_array_get(json_object_get(j, "items"), 0);
    json_t *ms = json_object_get(item, "matches");
    int n = (int)json_array_size(ms);
    assert_int_equal(json_is_true(json_object_get(item, "matched")), n > 0);
    if (dist) {
        *dist = 999;
        for (int i = 0; i < n; i++) {
            int d =
                (int)json_integer_value(json_object_get(json_array_get(ms, (size_t)i), "distance"));
            if (d < *dist)
                *dist = d;
        }
    }
    json_decref(j);
    return n;
}

static void report_upload(sitr_e2e_server_t *s, const char *key, const char *content,
                          const char *pdq_hex)
{
    char body[512], auth[200];
    snprintf(body, sizeof body,
             "{\"uploads\":[{\"id\":\"%s\",\"url\":\"https://x.example/%s\",\"pdq\":\"%s\","
             "\"quality\":80}]}",
             content, content, pdq_hex);
    snprintf(auth, sizeof auth, "Bearer %s", key);
    int st;
    json_t *j = call(s, "POST", "/v1/uploads", auth, body, &st);
    if (st != 200 && st != 201 && st != 202) {
        char *dump = j ? json_dumps(j, 0) : NULL;
        fprintf(stderr, "POST /v1/uploads: %d %s\n", st, dump ? dump : "");
        free(dump);
    }
    assert_true(st == 200 || st == 201 || st == 202);
    json_decref(j);
}

/* Waits until the matcher has consumed the whole change log. */
static void wait_matcher_caught_up(void)
{
    for (int i = 0; i < 600; i++) {
        if (pgt_scalar(url, "SELECT ((SELECT last_seq FROM matcher_progress) >= "
                            "(SELECT coalesce(max(seq), 0) FROM changes WHERE kind IN "
                            "('case_image_added','upload_added')))::int") == 1)
            return;
        sitr_e2e_sleep_ms(100);
    }
    fail_msg("the matcher did not catch up");
}

static long long takedowns_for(const char *content)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM takedowns t JOIN uploads u ON u.id = t.upload_id "
             "WHERE u.content_id = '%s'",
             content);
    return pgt_scalar(url, sql);
}

static int setup(void **state)
{
    (void)state;
    url = sitr_e2e_migrated_db("trepe2e");
    assert_non_null(url);
    /* sitr-admin derives the keys' digests with the servers' key. */
    setenv("SITR_DIGEST_KEY", DKEY, 1);
    assert_int_equal(sitr_e2e_admin_key(url, "platform add alpha", key1, sizeof key1, NULL, 0), 0);
    assert_int_equal(sitr_e2e_admin_key(url, "platform add beta", key2, sizeof key2, NULL, 0), 0);
    snprintf(dburl_env, sizeof dburl_env, "SITR_DATABASE_URL=%s", url);
    const char *env[] = {dburl_env, "SITR_DIGEST_KEY=" DKEY, "SITR_CASE_RATE=0", NULL};
    assert_int_equal(sitr_e2e_start(&A, env), 0);
    assert_int_equal(sitr_e2e_start(&B, env), 0);
    assert_true(sitr_e2e_wait_log(&A, "match index loaded", 30000));
    assert_true(sitr_e2e_wait_log(&B, "match index loaded", 30000));
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
    return 0;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_cross_replica(void **state)
{
    (void)state;
    uint8_t p[32], q[32];
    char ph[65], qh[65];
    rand_bytes(p, 32);
    to_hex(p, 32, ph);

    /* A case created through A is matched by /v1/match on B. */
    vcase_t c;
    create_case(&A, ph, NULL, &c);
    int n = 0, d = -1;
    flip_bits(p, 31, q);
    to_hex(q, 32, qh);
    for (int i = 0; i < 300 && (n = match_one(&B, key1, qh, 80, &d)) <= 0; i++)
        sitr_e2e_sleep_ms(20);
    assert_int_equal(n, 1);
    assert_int_equal(d, 31);
    /* Boundary: 32 bits away is not a match; quality < 50 never matches. */
    flip_bits(p, 32, q);
    to_hex(q, 32, qh);
    assert_int_equal(match_one(&B, key1, qh, 80, NULL), 0);
    n = match_one(&B, key1, ph, 49, NULL);
    assert_true(n <= 0); /* refused (422) or not matched */
    /* A follows the change log like B does: it matches once it has caught
     * up, which need not have happened yet. */
    for (int i = 0; i < 300 && (n = match_one(&A, key2, ph, 50, &d)) <= 0; i++)
        sitr_e2e_sleep_ms(20);
    assert_int_equal(n, 1);
    assert_int_equal(d, 0);

    /* An upload reported on B yields one takedown for the case from A; an
     * upload 32 bits away yields none. */
    flip_bits(p, 30, q);
    to_hex(q, 32, qh);
    report_upload(&B, key2, "b-near", qh);
    flip_bits(p, 32, q);
    to_hex(q, 32, qh);
    report_upload(&B, key2, "b-far", qh);
    wait_matcher_caught_up();
    assert_int_equal(takedowns_for("b-near"), 1);
    assert_int_equal(takedowns_for("b-far"), 0);

    /* Vice versa: an upload reported on A, then a case on B whose only
     * matching hash is a dihedral variant. */
    uint8_t u[32], v[32], w[32];
    char uh[65], vh[65], wh[65];
    rand_bytes(u, 32);
    to_hex(u, 32, uh);
    report_upload(&A, key1, "a-up", uh);
    rand_bytes(w, 32);
    to_hex(w, 32, wh);
    flip_bits(u, 12, v);
    to_hex(v, 32, vh);
    vcase_t c2;
    create_case(&B, wh, vh, &c2);
    wait_matcher_caught_up();
    assert_int_equal(takedowns_for("a-up"), 1);
    assert_int_equal(pgt_scalar(url, "SELECT distance FROM takedowns t JOIN uploads u ON "
                                     "u.id = t.upload_id WHERE u.content_id = 'a-up'"),
                     12);
    /* Replays of the log change nothing (the matcher's commit is
     * idempotent). */
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedowns"), 2);

    /* Withdrawal on A: B stops matching; the pending takedown is gone with
     * the case's links. */
    char path[256], auth[256];
    snprintf(path, sizeof path, "/v1/cases/%s", c.ref);
    snprintf(auth, sizeof auth, "Case %s", c.secret);
    int st;
    json_decref(call(&A, "DELETE", path, auth, NULL, &st));
    assert_true(st == 200 || st == 204);
    for (int i = 0; i < 300 && (n = match_one(&B, key1, ph, 80, NULL)) != 0; i++)
        sitr_e2e_sleep_ms(20);
    assert_int_equal(n, 0);
    /* A learns of its own withdrawal the same way, from the change log. */
    for (int i = 0; i < 300 && (n = match_one(&A, key1, ph, 80, NULL)) != 0; i++)
        sitr_e2e_sleep_ms(20);
    assert_int_equal(n, 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedowns t JOIN uploads u ON "
                                     "u.id = t.upload_id WHERE u.content_id = 'b-near'"),
                     0);
    /* The other case still matches on both. */
    for (int i = 0; i < 300 && (n = match_one(&A, key1, vh, 80, NULL)) != 1; i++)
        sitr_e2e_sleep_ms(20);
    assert_int_equal(n, 1);
    for (int i = 0; i < 300 && (n = match_one(&B, key1, vh, 80, NULL)) != 1; i++)
        sitr_e2e_sleep_ms(20);
    assert_int_equal(n, 1);
}

static sitr_e2e_server_t *holder(void)
{
    for (int i = 0; i < 300; i++) {
        if (sitr_e2e_log_contains(&A, "matcher role acquired"))
            return &A;
        if (sitr_e2e_log_contains(&B, "matcher role acquired"))
            return &B;
        sitr_e2e_sleep_ms(20);
    }
    return NULL;
}

/* The status of a one-item /v1/match on s with this key. */
static int match_status(sitr_e2e_server_t *s, const char *key)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Bearer %s", key);
    int st;
    json_decref(call(s, "POST", "/v1/match", auth,
                     "{\"items\":[{\"md5\":\"00000000000000000000000000000000\"}]}", &st));
    return st;
}

/* Polls until both replicas answer want to this key (a key change reaches
 * them through the change log); fails after 10 s. */
static void wait_both(const char *key, int want)
{
    int a = 0, b = 0;
    for (int i = 0; i < 500; i++) {
        a = match_status(&A, key);
        b = match_status(&B, key);
        if (a == want && b == want)
            return;
        sitr_e2e_sleep_ms(20);
    }
    fail_msg("key change not seen: A answered %d, B %d, want %d", a, b, want);
}

/* Platform keys are checked from each replica's memory, kept current by
 * the change log: a key added, rotated or revoked with sitr-admin works or
 * stops working on both replicas, with no restart. */
static void test_platform_keys(void **state)
{
    (void)state;
    char k1[128], k2[128];
    /* Both replicas loaded before this platform existed. */
    assert_int_equal(match_status(&A, key1), 200);
    assert_int_equal(sitr_e2e_admin_key(url, "platform add delta", k1, sizeof k1, NULL, 0), 0);
    wait_both(k1, 200);
    /* Rotated: the new key works on both, the old one nowhere. */
    assert_int_equal(sitr_e2e_admin_key(url, "platform rotate-key delta", k2, sizeof k2, NULL, 0),
                     0);
    wait_both(k2, 200);
    assert_int_equal(match_status(&A, k1), 401);
    assert_int_equal(match_status(&B, k1), 401);
    /* Revoked: refused on both. */
    assert_int_equal(
        pgt_run("'%s' --database-url '%s' platform revoke delta 2>/dev/null", pgt_admin(), url), 0);
    wait_both(k2, 401);
    /* The other platforms were never disturbed. */
    assert_int_equal(match_status(&A, key1), 200);
    assert_int_equal(match_status(&B, key2), 200);
    assert_true(sitr_e2e_log_contains(&A, "platform keys reloaded"));
    assert_true(sitr_e2e_log_contains(&B, "platform keys reloaded"));
}

static void test_matcher_failover(void **state)
{
    (void)state;
    enum { CASES = 20, UPLOADS = 200 };
    uint8_t p[CASES][32];
    char h[65];
    for (int i = 0; i < CASES; i++) {
        rand_bytes(p[i], 32);
        to_hex(p[i], 32, h);
        vcase_t c;
        create_case(&A, h, NULL, &c);
    }
    wait_matcher_caught_up();
    long long before = pgt_scalar(url, "SELECT count(*) FROM takedowns");
    sitr_e2e_server_t *hold = holder();
    assert_non_null(hold);
    sitr_e2e_server_t *other = hold == &A ? &B : &A;
    assert_int_equal(sitr_e2e_log_count(other, "matcher role acquired"), 0);

    /* A burst of uploads straight into the database (one statement each, as
     * the API would), each matching one case; SIGKILL the holder midway. */
    long long plat = pgt_scalar(url, "SELECT id FROM platforms WHERE name = 'beta'");
    for (int i = 0; i < UPLOADS; i++) {
        uint8_t q[32];
        flip_bits(p[i % CASES], i % 32, q);
        to_hex(q, 32, h);
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sitr_uploads_report(%lld, '[{\"id\":\"burst-%d\","
                 "\"pdq\":\"%s\",\"quality\":70}]'::jsonb)",
                 plat, i, h);
        assert_int_equal(pgt_scalar(url, sql), 1);
        if (i == UPLOADS / 2)
            sitr_e2e_signal(hold, SIGKILL);
    }
    assert_int_equal(sitr_e2e_wait_exit(hold, 10000), -1);
    hold->pid = 0;
    assert_true(sitr_e2e_wait_log(other, "matcher role acquired", 30000));
    wait_matcher_caught_up();
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedowns") - before, UPLOADS);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedowns t JOIN uploads u ON "
                                     "u.id = t.upload_id WHERE u.content_id LIKE 'burst-%'"),
                     UPLOADS);
    assert_int_equal(pgt_scalar(url, "SELECT count(DISTINCT upload_id) FROM takedowns t JOIN "
                                     "uploads u ON u.id = t.upload_id WHERE u.content_id LIKE "
                                     "'burst-%'"),
                     UPLOADS);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM matches m JOIN uploads u ON "
                                     "u.id = m.upload_id WHERE u.content_id LIKE 'burst-%'"),
                     UPLOADS);
    /* Each takedown has one history row and one "requested" event. */
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedown_history h JOIN takedowns t "
                                     "ON t.id = h.takedown_id JOIN uploads u ON u.id = "
                                     "t.upload_id WHERE u.content_id LIKE 'burst-%'"),
                     UPLOADS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_replica),
        cmocka_unit_test(test_platform_keys),
        cmocka_unit_test(test_matcher_failover),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
