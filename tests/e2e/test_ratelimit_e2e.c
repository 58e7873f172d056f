/* End-to-end tests of the rate limits in front of the API, against a real
 * sitrd, sitr-admin and a fresh, migrated PostgreSQL database (the `pg`
 * fixture).
 *
 * One sitrd runs with a tiny per-platform budget (1 request a second, burst
 * 2) and checks, in order: a platform sending requests back to back is
 * refused with 429 rate_limited, Retry-After and the error JSON, while
 * another platform's key is unaffected; a /v1/match batch costs its number
 * of items, so one batch larger than the burst leaves the platform in debt
 * and its next request is refused; the refusals show in /metrics; failed
 * failed logins count per (address, target): a wrong secret tried for one
 * case locks out that case from that address only, a wrong API key only
 * that key, until the address's ten-times-higher ceiling is spent and even a
 * valid key from it gets 429 too_many_failures (last, since it locks the
 * address out).  A second sitrd with a tiny per-address
 * budget refuses requests before authentication with 429 rate_limited.
 *
 * Requests are sent back to back and counted until the first 429 within a
 * generous bound, so a slow machine (more refill between requests) changes
 * how many get through, never the outcome.  No timing assertions. */
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
#include "e2e_util.h"
#include "e2e_world.h"
#include "db_support.h"

#define TEST_DIGEST_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define DEADLINE_MS     20000
#define BURST           2
#define BATCH           10
/* Requests sent at most while waiting for the first 429: at 1 a second
 * with a burst of 2, refusal comes at the third unless those 50 requests
 * took more than 48 s. */
#define MAX_TRIES 50

typedef struct world {
    char *db_url;
    char url_var[1200];
    sitr_e2e_server_t srv;
    char key_a[80], key_b[80], key_c[80], key_d[80];
    int case_failures; /* failed logins spent by test_failed_logins_per_case */
} world_t;

static world_t W;

/* One request on a fresh connection; key NULL = no Authorization. */
static void call(const sitr_e2e_server_t *s, const char *method, const char *path, const char *key,
                 const char *body, sitr_e2e_resp_t *r)
{
    sitr_e2e_call(s, method, path, key, NULL, body, r);
}

/* The error code of a JSON error answer (copied into code). */
static void error_code(const sitr_e2e_resp_t *r, char *code, size_t cap)
{
    json_t *j = sitr_e2e_json(r->body);
    json_t *err = json_object_get(j, "error");
    const char *c = json_string_value(json_object_get(err, "code"));
    const char *m = json_string_value(json_object_get(err, "message"));
    if (!c || !m || !m[0])
        fail_msg("no error code and message in: %s", r->body);
    snprintf(code, cap, "%s", c);
    json_decref(j);
}

/* A 429 with the given code and a Retry-After of whole seconds >= 1. */
static void assert_429(const sitr_e2e_resp_t *r, const char *code)
{
    assert_int_equal(r->status, 429);
    const char *ra = sitr_e2e_header(r, "Retry-After");
    assert_non_null(ra);
    char *end;
    long secs = strtol(ra, &end, 10);
    if (end == ra || *end || secs < 1)
        fail_msg("Retry-After \"%s\" is not a whole number of seconds >= 1", ra);
    const char *ct = sitr_e2e_header(r, "Content-Type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "application/json"));
    char got[64];
    error_code(r, got, sizeof got);
    assert_string_equal(got, code);
}

/* Sends method/path as key until the first 429; returns how many were
 * answered want_status before it (fails if another status comes or no 429
 * within MAX_TRIES).  The 429 is left in *last. */
static int until_429(const sitr_e2e_server_t *s, const char *method, const char *path,
                     const char *key, const char *body, int want_status, sitr_e2e_resp_t *last)
{
    for (int i = 0; i < MAX_TRIES; i++) {
        call(s, method, path, key, body, last);
        if (last->status == 429)
            return i;
        if (last->status != want_status)
            fail_msg("%s %s: status %d, want %d or 429: %s", method, path, last->status,
                     want_status, last->body);
        sitr_e2e_resp_free(last);
    }
    fail_msg("%s %s: no 429 after %d requests", method, path, MAX_TRIES);
    return -1;
}

static int setup(void **state)
{
    (void)state;
    setenv("SITR_DIGEST_KEY", TEST_DIGEST_KEY, 1);
    W.db_url = sitr_e2e_migrated_db("ratelimit_e2e");
    if (!W.db_url)
        return -1;
    if (sitr_e2e_admin_key(W.db_url, "platform add alpha", W.key_a, sizeof W.key_a, NULL, 0) < 0 ||
        sitr_e2e_admin_key(W.db_url, "platform add beta", W.key_b, sizeof W.key_b, NULL, 0) < 0 ||
        sitr_e2e_admin_key(W.db_url, "platform add gamma", W.key_c, sizeof W.key_c, NULL, 0) < 0 ||
        sitr_e2e_admin_key(W.db_url, "platform add delta", W.key_d, sizeof W.key_d, NULL, 0) < 0)
        return -1;
    snprintf(W.url_var, sizeof W.url_var, "SITR_DATABASE_URL=%s", W.db_url);
    static char burst[64], batch[64];
    snprintf(burst, sizeof burst, "SITR_PLATFORM_BURST=%d", BURST);
    snprintf(batch, sizeof batch, "SITR_MATCH_BATCH=%d", BATCH);
    const char *env[] = {W.url_var,
                         "SITR_PLATFORM_RATE=1",
                         burst,
                         batch,
                         "SITR_CASE_RATE=0",
                         "SITR_DIGEST_KEY=" TEST_DIGEST_KEY,
                         "SITR_TRUSTED_PROXY=127.0.0.1",
                         NULL};
    if (sitr_e2e_start(&W.srv, env) < 0)
        return -1;
    return sitr_e2e_wait_ready(&W.srv, DEADLINE_MS);
}

static int teardown(void **state)
{
    (void)state;
    /* The log must never carry an API key. */
    const char *const never[] = {W.key_a, W.key_b, W.key_c, W.key_d, NULL};
    int rc = sitr_e2e_stop_clean(&W.srv, never);
    free(W.db_url);
    return rc;
}

static void test_per_key_limit(void **state)
{
    (void)state;
    sitr_e2e_resp_t r;
    int ok = until_429(&W.srv, "GET", "/v1/takedowns", W.key_a, NULL, 200, &r);
    /* At least the burst got through first. */
    assert_true(ok >= BURST);
    assert_429(&r, "rate_limited");
    assert_non_null(strstr(r.body, "API key"));
    sitr_e2e_resp_free(&r);

    /* Another platform's key has its own budget: its burst is untouched. */
    for (int i = 0; i < BURST; i++) {
        call(&W.srv, "GET", "/v1/takedowns", W.key_b, NULL, &r);
        if (r.status != 200)
            fail_msg("beta's request %d: status %d: %s", i, r.status, r.body);
        sitr_e2e_resp_free(&r);
    }
}

static void test_batch_counts_items(void **state)
{
    (void)state;
    /* BATCH items with a burst of BURST: allowed (the bucket is full), but
     * it leaves a debt of BATCH - BURST tokens, so gamma's next request is
     * refused although it is only its second. */
    char body[BATCH * 64 + 32];
    size_t o = (size_t)snprintf(body, sizeof body, "{\"items\":[");
    for (int i = 0; i < BATCH; i++)
        o += (size_t)snprintf(body + o, sizeof body - o, "%s{\"md5\":\"%032x\"}", i ? "," : "",
                              0x5a17 + i);
    snprintf(body + o, sizeof body - o, "]}");
    sitr_e2e_resp_t r;
    call(&W.srv, "POST", "/v1/match", W.key_c, body, &r);
    if (r.status != 200)
        fail_msg("batch: status %d: %s", r.status, r.body);
    sitr_e2e_resp_free(&r);
    call(&W.srv, "GET", "/v1/takedowns", W.key_c, NULL, &r);
    assert_429(&r, "rate_limited");
    sitr_e2e_resp_free(&r);
    /* A refused batch is refused before its handler: no 200, no 422. */
    call(&W.srv, "POST", "/v1/match", W.key_c, "{\"items\":[]}", &r);
    assert_429(&r, "rate_limited");
    sitr_e2e_resp_free(&r);
}

/* A video item costs one token more per 10 frames: 29 frames cost 1 + 3 =
 * 4 with a burst of 2, so delta ends 2 tokens in debt (at 1 a second, a
 * Retry-After of a few seconds), not 30 as if each frame were an item. */
static void test_video_costs_frames(void **state)
{
    (void)state;
    char body[29 * 128 + 64];
    size_t o = (size_t)snprintf(body, sizeof body, "{\"items\":[{\"video\":{\"frames\":[");
    for (int i = 0; i < 29; i++)
        o += (size_t)snprintf(body + o, sizeof body - o,
                              "%s{\"t\":%d,\"pdq\":\"%064x\",\"quality\":90}", i ? "," : "", i,
                              0x7e57 + i);
    snprintf(body + o, sizeof body - o, "]}}]}");
    sitr_e2e_resp_t r;
    call(&W.srv, "POST", "/v1/match", W.key_d, body, &r);
    if (r.status != 200)
        fail_msg("video item: status %d: %s", r.status, r.body);
    sitr_e2e_resp_free(&r);
    call(&W.srv, "GET", "/v1/takedowns", W.key_d, NULL, &r);
    assert_429(&r, "rate_limited");
    long wait = strtol(sitr_e2e_header(&r, "Retry-After"), NULL, 10);
    if (wait > 10)
        fail_msg("Retry-After %ld: the video cost more than 1 + 29/10 tokens", wait);
    sitr_e2e_resp_free(&r);
}

static void test_metrics(void **state)
{
    (void)state;
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_request(&W.srv, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    const char *line = strstr(r.body, "\nsitr_platform_rate_limited_total ");
    assert_non_null(line);
    long n = strtol(line + strlen("\nsitr_platform_rate_limited_total "), NULL, 10);
    /* alpha once, gamma twice, delta once. */
    assert_int_equal(n, 4);
    sitr_e2e_resp_free(&r);
}

/* A case created through the API: its path and "Case <secret>". */
typedef struct made {
    char path[96], auth[96];
} made_t;

static made_t make_case(unsigned seed)
{
    sitr_e2e_img_t m = sitr_e2e_new_img(&seed);
    char body[512];
    snprintf(body, sizeof body,
             "{\"images\":[{\"pdq\":\"%s\",\"quality\":90,\"md5\":\"%s\",\"sha256\":\"%s\"}]}",
             m.pdq, m.md5, m.sha);
    json_t *j = sitr_e2e_call_json(&W.srv, "POST", "/v1/cases", NULL, body, 201);
    made_t c;
    snprintf(c.path, sizeof c.path, "/v1/cases/%s", json_string_value(json_object_get(j, "case")));
    snprintf(c.auth, sizeof c.auth, "Case %s", json_string_value(json_object_get(j, "secret")));
    json_decref(j);
    return c;
}

/* Failed logins count per (address, case): someone mistyping a secret at a
 * shared address (a NAT, a helpline's office) locks out that case from
 * that address, not the other victims there, and not that case from
 * elsewhere. */
static void test_failed_logins_per_case(void **state)
{
    (void)state;
    made_t a = make_case(101), b = make_case(202);
    sitr_e2e_resp_t r;
    /* b's secret is well-formed, wrong for a: looked up, 404, until the
     * (address, a) budget is spent */
    int failed = until_429(&W.srv, "GET", a.path, b.auth, NULL, 404, &r);
    assert_true(failed >= 20);
    W.case_failures = failed;
    assert_429(&r, "too_many_failures");
    assert_non_null(strstr(r.body, "this case"));
    sitr_e2e_resp_free(&r);
    /* a itself, even with its right secret, waits from this address */
    call(&W.srv, "GET", a.path, a.auth, NULL, &r);
    assert_429(&r, "too_many_failures");
    sitr_e2e_resp_free(&r);
    /* another victim at the same address is not locked out */
    call(&W.srv, "GET", b.path, b.auth, NULL, &r);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    /* nor is a from another address (behind the trusted proxy) */
    sitr_e2e_call(&W.srv, "GET", a.path, a.auth, "X-Forwarded-For: 198.51.100.20\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
}

/* Last: it spends this address's whole failure budget. */
static void test_failed_keys_spend_failure_budget(void **state)
{
    (void)state;
    /* Well-formed but unknown: each one is looked up and fails. */
    char bad[80];
    snprintf(bad, sizeof bad, "%s", W.key_b);
    size_t n = strlen(bad);
    bad[n - 1] = bad[n - 1] == 'a' ? 'b' : 'a';
    sitr_e2e_resp_t r;
    int failed = until_429(&W.srv, "GET", "/v1/takedowns", bad, NULL, 401, &r);
    /* The burst (20) of failures for this key at least (more only if a
     * token refilled meanwhile: one a minute), then refusal without a
     * lookup. */
    assert_true(failed >= 20);
    assert_429(&r, "too_many_failures");
    assert_non_null(strstr(r.body, "this API key"));
    sitr_e2e_resp_free(&r);
    /* A valid key from this address is still served: one client stuck
     * with a wrong key does not lock out its neighbours.  test_per_key_limit
     * spent beta's request burst (BURST at SITR_PLATFORM_RATE=1 per second):
     * let it refill first, so that only the failure limit can refuse. */
    sitr_e2e_sleep_ms(BURST * 1000 + 100);
    call(&W.srv, "GET", "/v1/takedowns", W.key_b, NULL, &r);
    if (r.status != 200)
        fprintf(stderr, "valid key answered %d: %s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    /* A guesser trying ever new keys meets the address's ceiling (200 at
     * once, counting the failures above); then even a valid key waits. */
    int total = failed + W.case_failures; /* the address's failures so far */
    for (int i = 0; i < 400; i++) {
        snprintf(bad + n - 3, 4, "%03d", i);
        call(&W.srv, "GET", "/v1/takedowns", bad, NULL, &r);
        if (r.status == 429)
            break;
        assert_int_equal(r.status, 401);
        sitr_e2e_resp_free(&r);
        total++;
    }
    assert_429(&r, "too_many_failures");
    assert_non_null(strstr(r.body, "from this address"));
    sitr_e2e_resp_free(&r);
    assert_true(total >= 200);
    call(&W.srv, "GET", "/v1/takedowns", W.key_b, NULL, &r);
    assert_429(&r, "too_many_failures");
    sitr_e2e_resp_free(&r);
}

/* A second sitrd whose per-address budget is tiny: requests are refused
 * before their key is even looked at. */
static void test_per_address_limit(void **state)
{
    (void)state;
    sitr_e2e_server_t s2;
    const char *env[] = {W.url_var, "SITR_CLIENT_RATE=1", "SITR_CLIENT_BURST=3",
                         "SITR_DIGEST_KEY=" TEST_DIGEST_KEY, NULL};
    assert_int_equal(sitr_e2e_start(&s2, env), 0);
    assert_int_equal(sitr_e2e_wait_ready(&s2, DEADLINE_MS), 0);
    sitr_e2e_resp_t r;
    /* Without a key: 401 until the address's budget is gone. */
    int ok = until_429(&s2, "GET", "/v1/takedowns", NULL, NULL, 401, &r);
    assert_true(ok >= 3);
    assert_429(&r, "rate_limited");
    assert_non_null(strstr(r.body, "address"));
    sitr_e2e_resp_free(&r);
    /* A valid key does not help: the address is checked first. */
    call(&s2, "GET", "/v1/takedowns", W.key_a, NULL, &r);
    assert_429(&r, "rate_limited");
    sitr_e2e_resp_free(&r);
    /* Unauthenticated endpoints are not behind this limit. */
    assert_int_equal(sitr_e2e_request(&s2, "GET", "/healthz", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_stop(&s2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_key_limit),
        cmocka_unit_test(test_batch_counts_items),
        cmocka_unit_test(test_video_costs_frames),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_per_address_limit),
        cmocka_unit_test(test_failed_logins_per_case),
        cmocka_unit_test(test_failed_keys_spend_failure_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
