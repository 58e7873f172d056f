/* Error classes end to end: a malformed request is the client's error, never
 * an outage.  Against a real sitrd and a fresh database of the pg fixture,
 * every route that takes a path parameter or a query string is sent what a
 * hostile or broken client sends there (invalid UTF-8: a lone 0xff, an
 * overlong form, a surrogate, a code point above U+10FFFF; NUL; control
 * characters; oversize values; non-numeric, zero, negative and overflowing
 * ids), plus bodies with invalid UTF-8 and escaped NULs.  Each must get its
 * 4xx answer, and afterwards:
 *   - /metrics shows no database failure (sitr_db_failures_total) and no
 *     refused statement (sitr_db_refused_total): nothing reached SQL that
 *     SQL could refuse;
 *   - the PostgreSQL server log holds no ERROR line for this database.
 * Then a well-formed request that the database answers with one of sitr's
 * own codes (an answer to a takedown that does not exist, SQLSTATE SIT03)
 * must be a 404 counted as refused, not as a failure.  This is the
 * regression test of issue 14's `DELETE /v1/uploads/%ff` (it answered 503 +
 * Retry-After and counted a database failure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "db_support.h"
#include "e2e_api.h"
#include "e2e_util.h"
#include "e2e_world.h"

#define TEST_DIGEST_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define DEADLINE_MS     20000

static struct {
    char *db_url;
    sitr_e2e_server_t srv;
    char key[80];
    char case_path[128], case_auth[96];
} W;

/* A counter of /metrics (0 when absent, which fails the test). */
static unsigned long long metric(const char *name)
{
    sitr_e2e_resp_t r;
    sitr_e2e_call(&W.srv, "GET", "/metrics", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *p = strstr(r.body, needle);
    if (!p)
        fail_msg("/metrics has no %s", name);
    unsigned long long v = strtoull(p + strlen(needle), NULL, 10);
    sitr_e2e_resp_free(&r);
    return v;
}

/* Sends one request (raw path, as the client wrote it) and expects status
 * and, when code is not NULL, that error code.  A 503 or 500 fails at once:
 * that is the bug this file is about. */
static void expect(const char *method, const char *path, const char *auth, const char *body,
                   int status, const char *code)
{
    sitr_e2e_resp_t r;
    sitr_e2e_call(&W.srv, method, path, auth, NULL, body, &r);
    if (r.status != status)
        fail_msg("%s %s: %d (want %d) %s", method, path, r.status, status, r.body);
    assert_null(sitr_e2e_header(&r, "Retry-After"));
    if (code) {
        json_t *j = sitr_e2e_json(r.body);
        const char *got = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
        if (!got || strcmp(got, code) != 0)
            fail_msg("%s %s: error %s (want %s)", method, path, got ? got : "(none)", code);
        json_decref(j);
    }
    sitr_e2e_resp_free(&r);
}

/* Raw bytes that JSON text must not hold (the client library would refuse to
 * build them), sent as is. */
static void expect_raw_body(const char *method, const char *path, const char *body, int status)
{
    char head[512];
    snprintf(head, sizeof head,
             "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             method, path, W.key, strlen(body));
    sitr_e2e_client_t c;
    assert_int_equal(sitr_e2e_connect(&W.srv, &c), 0);
    assert_int_equal(sitr_e2e_send_str(&c, head), 0);
    assert_int_equal(sitr_e2e_send_str(&c, body), 0);
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    if (r.status != status)
        fail_msg("%s %s with raw body: %d (want %d) %s", method, path, r.status, status, r.body);
    sitr_e2e_resp_free(&r);
    sitr_e2e_close(&c);
}

/* Path parameters that must never reach SQL, on the platform's routes. */
static const char *const bad_ids[] = {
    "%ff",          /* a lone byte that is not UTF-8 (the case) */
    "%c0%af",       /* an overlong "/" */
    "%ed%a0%80",    /* a UTF-16 surrogate */
    "%f4%90%80%80", /* above U+10FFFF */
    "%e2%82",       /* a truncated sequence */
    "a%ffb",        /* invalid in the middle */
    "%c2%85",       /* C1 control (NEL) */
    "%1b%5b31m",    /* an escape sequence */
    "%7f",          /* DEL */
};

static void test_upload_ids(void **state)
{
    (void)state;
    char path[1024];
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        snprintf(path, sizeof path, "/v1/uploads/%s", bad_ids[i]);
        expect("DELETE", path, W.key, NULL, 404, "upload_not_found");
    }
    /* 257 characters: one over the id's limit. */
    size_t o = (size_t)snprintf(path, sizeof path, "/v1/uploads/");
    for (int i = 0; i < 257; i++)
        path[o++] = 'a';
    path[o] = '\0';
    expect("DELETE", path, W.key, NULL, 404, "upload_not_found");
    /* 256 two-byte characters (512 bytes) are within the limit: the
     * database is asked and says no such upload, without an error. */
    o = (size_t)snprintf(path, sizeof path, "/v1/uploads/");
    char big[4096];
    memcpy(big, path, o);
    for (int i = 0; i < 256; i++)
        o += (size_t)sprintf(big + o, "%%c3%%a9");
    expect("DELETE", big, W.key, NULL, 404, "upload_not_found");
    /* NUL is refused by the URL decoder for every route. */
    expect("DELETE", "/v1/uploads/a%00b", W.key, NULL, 400, "bad_path");
}

static void test_takedown_ids(void **state)
{
    (void)state;
    static const char *const ids[] = {"abc",
                                      "0",
                                      "-1",
                                      "01",
                                      "1.5",
                                      "1e3",
                                      "%ff",
                                      "%31%00",
                                      "99999999999999999999",
                                      "9223372036854775808",
                                      " 1"};
    char path[256];
    const char *answer = "{\"status\":\"removed\"}";
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        snprintf(path, sizeof path, "/v1/takedowns/%s", ids[i]);
        if (strstr(ids[i], "%00"))
            expect("POST", path, W.key, answer, 400, "bad_path");
        else if (strchr(ids[i], ' '))
            continue; /* not a valid request line; the HTTP layer's business */
        else
            expect("POST", path, W.key, answer, 404, "takedown_not_found");
    }
}

static void test_takedown_queries(void **state)
{
    (void)state;
    expect("GET", "/v1/takedowns?status=%ff", W.key, NULL, 422, "invalid_status");
    expect("GET", "/v1/takedowns?status=pending%ff", W.key, NULL, 422, "invalid_status");
    expect("GET", "/v1/takedowns?after=%ff%fe", W.key, NULL, 422, "invalid_cursor");
    expect("GET", "/v1/takedowns?limit=abc", W.key, NULL, 422, "invalid_limit");
    expect("GET", "/v1/takedowns?limit=-1", W.key, NULL, 422, "invalid_limit");
    expect("GET", "/v1/takedowns?limit=99999999999999999999", W.key, NULL, 422, "invalid_limit");
    expect("GET", "/v1/takedowns?limit=%00", W.key, NULL, 400, "bad_query");
}

static void test_case_references(void **state)
{
    (void)state;
    char path[1024];
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        snprintf(path, sizeof path, "/v1/cases/%s", bad_ids[i]);
        expect("GET", path, W.case_auth, NULL, 400, "invalid_reference");
        expect("DELETE", path, W.case_auth, NULL, 400, "invalid_reference");
        snprintf(path, sizeof path, "/v1/cases/%s/report", bad_ids[i]);
        expect("GET", path, W.case_auth, NULL, 400, "invalid_reference");
        snprintf(path, sizeof path, "/v1/cases/%s/images", bad_ids[i]);
        expect("POST", path, W.case_auth, "{\"images\":[]}", 400, "invalid_reference");
    }
    size_t o = (size_t)snprintf(path, sizeof path, "/v1/cases/");
    for (int i = 0; i < 600; i++)
        path[o++] = 'A';
    path[o] = '\0';
    expect("GET", path, W.case_auth, NULL, 400, "invalid_reference");
    /* A malformed secret on a well-formed reference: refused before SQL. */
    expect("GET", W.case_path, "Case %ff", NULL, 400, "invalid_secret");
}

static void test_static_names(void **state)
{
    (void)state;
    char path[256];
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        snprintf(path, sizeof path, "/static/%s", bad_ids[i]);
        expect("GET", path, NULL, NULL, 404, "not_found");
    }
}

static void test_bodies(void **state)
{
    (void)state;
    /* Invalid UTF-8 inside a JSON string, and an escaped NUL: jansson
     * refuses both, before any SQL. */
    expect_raw_body(
        "POST", "/v1/uploads",
        "{\"uploads\":[{\"id\":\"\xff\",\"md5\":\"00112233445566778899aabbccddeeff\"}]}", 400);
    expect("POST", "/v1/uploads", W.key,
           "{\"uploads\":[{\"id\":\"a\\u0000b\",\"md5\":\"00112233445566778899aabbccddeeff\"}]}",
           400, "malformed_json");
    expect("POST", "/v1/uploads", W.key,
           "{\"uploads\":[{\"id\":\"a\\u0085b\",\"md5\":\"00112233445566778899aabbccddeeff\"}]}",
           422, "invalid_id");
    expect_raw_body("POST", "/v1/takedowns/1", "{\"status\":\"removed\",\"note\":\"\xc0\xaf\"}",
                    400);
    expect_raw_body("POST", "/v1/match", "{\"items\":[{\"md5\":\"\xed\xa0\x80\"}]}", 400);
}

/* Runs last: nothing above may have reached SQL in a way SQL refused. */
static void test_no_failure_no_sql_error(void **state)
{
    (void)state;
    assert_int_equal(metric("sitr_db_failures_total"), 0);
    assert_int_equal(metric("sitr_db_refused_total"), 0);
    assert_int_equal(pgt_server_errors(W.db_url), 0);
    /* A well-formed id of no takedown: the database answers with sitr's own
     * code; a 404, counted as refused, never as a failure. */
    expect("POST", "/v1/takedowns/4242", W.key, "{\"status\":\"removed\"}", 404,
           "takedown_not_found");
    assert_int_equal(metric("sitr_db_failures_total"), 0);
    assert_int_equal(metric("sitr_db_refused_total"), 1);
}

static int setup(void **state)
{
    (void)state;
    setenv("SITR_DIGEST_KEY", TEST_DIGEST_KEY, 1);
    W.db_url = sitr_e2e_migrated_db("errors_e2e");
    if (!W.db_url)
        return -1;
    if (sitr_e2e_admin_key(W.db_url, "platform add alpha", W.key, sizeof W.key, NULL, 0) < 0)
        return -1;
    static char url_var[1200];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    const char *env[] = {url_var, "SITR_CASE_RATE=0", "SITR_DIGEST_KEY=" TEST_DIGEST_KEY, NULL};
    if (sitr_e2e_start(&W.srv, env) < 0 || sitr_e2e_wait_ready(&W.srv, DEADLINE_MS) < 0)
        return -1;
    json_t *c =
        sitr_e2e_call_json(&W.srv, "POST", "/v1/cases", NULL,
                           "{\"images\":[{\"md5\":\"0123456789abcdef0123456789abcdef\"}]}", 201);
    snprintf(W.case_path, sizeof W.case_path, "/v1/cases/%s",
             json_string_value(json_object_get(c, "case")));
    snprintf(W.case_auth, sizeof W.case_auth, "Case %s",
             json_string_value(json_object_get(c, "secret")));
    json_decref(c);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *never[] = {W.key, NULL};
    int rc = sitr_e2e_stop_clean(&W.srv, never);
    free(W.db_url);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_ids),
        cmocka_unit_test(test_takedown_ids),
        cmocka_unit_test(test_takedown_queries),
        cmocka_unit_test(test_case_references),
        cmocka_unit_test(test_static_names),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_no_failure_no_sql_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
