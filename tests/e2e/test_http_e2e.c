/* End-to-end tests of sitrd's HTTP layer over real TCP: keep-alive,
 * pipelining, the limits (431, 413, 400, 408, connections), 404/405 error
 * JSON, X-Request-Id on every answer, idle timeout, graceful shutdown and
 * /readyz against the `pg` fixture.  Each test starts its own sitrd. */
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

#include "e2e_util.h"
#include "db_support.h"

#define GET_HEALTH "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"

static void start(sitr_e2e_server_t *s, const char *const *env)
{
    if (sitr_e2e_start(s, env) < 0)
        fail_msg("sitrd did not start");
}

static void stop_ok(sitr_e2e_server_t *s)
{
    assert_int_equal(sitr_e2e_stop(s), 0);
}

/* Every answer: a request id, and the error shape for errors. */
static void check_answer(const sitr_e2e_resp_t *r, int status, const char *code)
{
    assert_int_equal(r->status, status);
    const char *id = sitr_e2e_header(r, "X-Request-Id");
    assert_non_null(id);
    assert_true(strlen(id) > 3);
    if (code) {
        char want[128];
        snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\",", code);
        if (strncmp(r->body, want, strlen(want)) != 0)
            fail_msg("body %s does not start with %s", r->body, want);
        assert_string_equal(sitr_e2e_header(r, "Content-Type"), "application/json");
    }
}

static unsigned long id_seq(const sitr_e2e_resp_t *r)
{
    const char *id = sitr_e2e_header(r, "X-Request-Id");
    const char *dash = strrchr(id, '-');
    assert_non_null(dash);
    return strtoul(dash + 1, NULL, 10);
}

static void test_keepalive_and_pipelining(void **state)
{
    (void)state;
    sitr_e2e_server_t s;
    start(&s, NULL);
    sitr_e2e_client_t c;
    assert_int_equal(sitr_e2e_connect(&s, &c), 0);
    /* keep-alive: five requests, one connection */
    for (int i = 0; i < 5; i++) {
        sitr_e2e_resp_t r;
        assert_int_equal(sitr_e2e_send_str(&c, GET_HEALTH), 0);
        assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
        check_answer(&r, 200, NULL);
        assert_string_equal(r.body, "{\"status\":\"ok\"}");
        assert_null(sitr_e2e_header(&r, "Connection"));
        sitr_e2e_resp_free(&r);
    }
    /* pipelining: three requests in one send, answers in order */
    const char three[] =
        GET_HEALTH "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
                   "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                   "PUT /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    assert_int_equal(sitr_e2e_send(&c, three, sizeof three - 1), 0);
    sitr_e2e_resp_t r[4];
    assert_int_equal(sitr_e2e_read(&c, &r[0], 0), 0);
    assert_int_equal(sitr_e2e_read(&c, &r[1], 0), 0);
    assert_int_equal(sitr_e2e_read(&c, &r[2], 1), 0);
    assert_int_equal(sitr_e2e_read(&c, &r[3], 0), 0);
    check_answer(&r[0], 200, NULL);
    check_answer(&r[1], 404, "not_found");
    check_answer(&r[2], 200, NULL);
    assert_string_equal(sitr_e2e_header(&r[2], "Content-Length"), "15");
    assert_int_equal(r[2].body_len, 0);
    check_answer(&r[3], 405, "method_not_allowed");
    assert_string_equal(sitr_e2e_header(&r[3], "Allow"), "GET, HEAD");
    for (int i = 1; i < 4; i++)
        assert_int_equal(id_seq(&r[i]), id_seq(&r[i - 1]) + 1);
    for (int i = 0; i < 4; i++)
        sitr_e2e_resp_free(&r[i]);
    /* still usable afterwards */
    sitr_e2e_resp_t last;
    assert_int_equal(sitr_e2e_send_str(&c, GET_HEALTH), 0);
    assert_int_equal(sitr_e2e_read(&c, &last, 0), 0);
    check_answer(&last, 200, NULL);
    sitr_e2e_resp_free(&last);

    /* 40 pipelined requests (more than the queue holds) all answered */
    char *many = malloc(40 * sizeof GET_HEALTH);
    many[0] = '\0';
    for (int i = 0; i < 40; i++)
        strcat(many, GET_HEALTH);
    assert_int_equal(sitr_e2e_send_str(&c, many), 0);
    free(many);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(sitr_e2e_read(&c, &last, 0), 0);
        check_answer(&last, 200, NULL);
        sitr_e2e_resp_free(&last);
    }
    sitr_e2e_close(&c);

    /* HTTP/1.0 without keep-alive closes after the answer */
    assert_int_equal(sitr_e2e_connect(&s, &c), 0);
    assert_int_equal(sitr_e2e_send_str(&c, "GET /healthz HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(sitr_e2e_read(&c, &last, 0), 0);
    check_answer(&last, 200, NULL);
    assert_string_equal(sitr_e2e_header(&last, "Connection"), "close");
    sitr_e2e_resp_free(&last);
    assert_int_equal(sitr_e2e_wait_closed(&c, 10000), 1);
    sitr_e2e_close(&c);

    /* Expect: 100-continue gets the interim answer first */
    assert_int_equal(sitr_e2e_connect(&s, &c), 0);
    assert_int_equal(sitr_e2e_send_str(&c, "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                                           "Expect: 100-continue\r\n\r\n"),
                     0);
    assert_int_equal(sitr_e2e_read(&c, &last, 0), 0);
    assert_int_equal(last.status, 100);
    sitr_e2e_resp_free(&last);
    assert_int_equal(sitr_e2e_send_str(&c, "{}"), 0);
    assert_int_equal(sitr_e2e_read(&c, &last, 0), 0);
    check_answer(&last, 404, "not_found");
    sitr_e2e_resp_free(&last);
    sitr_e2e_close(&c);
    stop_ok(&s);
}

/* Sends raw bytes on a new connection and expects one error answer followed
 * by the connection closing. */
static void expect_refusal(sitr_e2e_server_t *s, const char *bytes, size_t len, int status,
                           const char *code)
{
    sitr_e2e_client_t c;
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_connect(s, &c), 0);
    assert_int_equal(sitr_e2e_send(&c, bytes, len), 0);
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    check_answer(&r, status, code);
    assert_string_equal(sitr_e2e_header(&r, "Connection"), "close");
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_wait_closed(&c, 10000), 1);
    sitr_e2e_close(&c);
}

static void test_limits(void **state)
{
    (void)state;
    sitr_e2e_server_t s;
    const char *env[] = {"SITR_MAX_BODY_BYTES=4096", NULL};
    start(&s, env);

    /* 431: one 20 kB header (limit 16384) */
    size_t big = 20000;
    char *req = malloc(big + 100);
    int n = sprintf(req, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + n, 'a', big);
    strcpy(req + n + big, "\r\n\r\n");
    expect_refusal(&s, req, strlen(req), 431, "headers_too_large");
    free(req);

    /* 413 from Content-Length, before the body is sent: the global cap and
     * the /healthz route's own 1 KiB cap */
    const char cl_big[] = "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n";
    expect_refusal(&s, cl_big, sizeof cl_big - 1, 413, "body_too_large");
    const char cl_route[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n";
    expect_refusal(&s, cl_route, sizeof cl_route - 1, 413, "body_too_large");

    /* 413 for a chunked body that grows past the cap, sent in full */
    size_t cap = 8 * 1100 + 200;
    char *chunked = malloc(cap);
    n = sprintf(chunked, "POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 8; i++) {
        n += sprintf(chunked + n, "400\r\n");
        memset(chunked + n, 'x', 1024);
        n += 1024;
        n += sprintf(chunked + n, "\r\n");
    }
    n += sprintf(chunked + n, "0\r\n\r\n");
    expect_refusal(&s, chunked, (size_t)n, 413, "body_too_large");
    free(chunked);

    /* a chunked body under the cap is fine */
    sitr_e2e_client_t c;
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_connect(&s, &c), 0);
    assert_int_equal(sitr_e2e_send_str(&c, "POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                                           "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" GET_HEALTH),
                     0);
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    check_answer(&r, 404, "not_found");
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    check_answer(&r, 200, NULL);
    sitr_e2e_resp_free(&r);
    sitr_e2e_close(&c);

    /* 400: not HTTP, a bad chunk size, two lengths; after a good request the
     * bad one is answered in its turn */
    const char garbage[] = "HELLO THERE\r\n\r\n";
    expect_refusal(&s, garbage, sizeof garbage - 1, 400, "bad_request");
    const char badchunk[] =
        "POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    expect_refusal(&s, badchunk, sizeof badchunk - 1, 400, "bad_request");
    const char twolen[] =
        "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    expect_refusal(&s, twolen, sizeof twolen - 1, 400, "bad_request");
    const char badquery[] = "GET /healthz?x=%zz HTTP/1.1\r\nHost: t\r\n\r\n";
    expect_refusal(&s, badquery, sizeof badquery - 1, 400, "bad_query");
    /* strict HTTP/1.1 (RFC 9112): what http-parser alone lets through, over
     * a real socket; the unit test http_smuggle holds every case */
    const char folded[] = "POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n"
                          "\r\n0\r\n\r\n" GET_HEALTH;
    expect_refusal(&s, folded, sizeof folded - 1, 400, "bad_request");
    const char gzipchunked[] = "POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked"
                               "\r\n\r\n0\r\n\r\n" GET_HEALTH;
    expect_refusal(&s, gzipchunked, sizeof gzipchunked - 1, 400, "bad_request");
    const char junkcrlf[] = "POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "2\r\n{}XX0\r\n\r\n" GET_HEALTH;
    expect_refusal(&s, junkcrlf, sizeof junkcrlf - 1, 400, "bad_request");
    const char barelf[] = "GET /healthz HTTP/1.1\nHost: t\n\n" GET_HEALTH;
    expect_refusal(&s, barelf, sizeof barelf - 1, 400, "bad_request");
    const char nohost[] = "GET /healthz HTTP/1.1\r\n\r\n" GET_HEALTH;
    expect_refusal(&s, nohost, sizeof nohost - 1, 400, "bad_request");
    const char twohosts[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n" GET_HEALTH;
    expect_refusal(&s, twohosts, sizeof twohosts - 1, 400, "bad_request");
    const char v99[] = "GET /healthz HTTP/9.9\r\nHost: t\r\n\r\n" GET_HEALTH;
    expect_refusal(&s, v99, sizeof v99 - 1, 400, "bad_request");

    assert_int_equal(sitr_e2e_connect(&s, &c), 0);
    assert_int_equal(sitr_e2e_send_str(&c, GET_HEALTH "GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 0);
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    check_answer(&r, 200, NULL);
    assert_null(sitr_e2e_header(&r, "Connection"));
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    check_answer(&r, 400, "bad_request");
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_wait_closed(&c, 10000), 1);
    sitr_e2e_close(&c);

    /* 404 and 405 carry the error JSON and the id */
    assert_int_equal(sitr_e2e_request(&s, "GET", "/v1/nothing", NULL, NULL, &r), 0);
    check_answer(&r, 404, "not_found");
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_request(&s, "DELETE", "/metrics", NULL, NULL, &r), 0);
    check_answer(&r, 405, "method_not_allowed");
    sitr_e2e_resp_free(&r);

    /* /readyz without a database: 503 with the reason */
    assert_int_equal(sitr_e2e_request(&s, "GET", "/readyz", NULL, NULL, &r), 0);
    check_answer(&r, 503, "database_unreachable");
    sitr_e2e_resp_free(&r);

    /* /metrics counts by route pattern */
    assert_int_equal(sitr_e2e_request(&s, "GET", "/metrics", NULL, NULL, &r), 0);
    check_answer(&r, 200, NULL);
    assert_non_null(
        strstr(r.body, "sitr_http_requests_total{route=\"unmatched\",status=\"431\"} 1\n"));
    assert_non_null(
        strstr(r.body, "sitr_http_requests_total{route=\"/healthz\",status=\"413\"} 1\n"));
    assert_non_null(strstr(r.body, "sitr_http_request_duration_seconds_count{route=\"/healthz\"}"));
    assert_non_null(strstr(r.body, "sitr_db_connections 8\n"));
    assert_non_null(strstr(r.body, "\nsitr_db_queue "));
    assert_null(strstr(r.body, "/v1/nothing"));
    sitr_e2e_resp_free(&r);
    stop_ok(&s);
    /* the log never holds raw paths of requests (they can carry case references) */
    assert_false(sitr_e2e_log_contains(&s, "/v1/nothing"));
    assert_true(sitr_e2e_log_contains(&s, "GET /healthz 200"));
}

/* Opens a connection that the server serves.  Connections closed just
 * before (the start-up probe) are released by the server asynchronously, so
 * a 503 for being over the limit is retried a bounded number of times. */
static void connect_served(sitr_e2e_server_t *s, sitr_e2e_client_t *c)
{
    for (int i = 0; i < 200; i++) {
        sitr_e2e_resp_t r;
        assert_int_equal(sitr_e2e_connect(s, c), 0);
        assert_int_equal(sitr_e2e_send_str(c, GET_HEALTH), 0);
        assert_int_equal(sitr_e2e_read(c, &r, 0), 0);
        int status = r.status;
        sitr_e2e_resp_free(&r);
        if (status == 200)
            return;
        assert_int_equal(status, 503);
        sitr_e2e_close(c);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("no connection was served");
}

static void test_timeouts_and_connections(void **state)
{
    (void)state;
    sitr_e2e_server_t s;
    const char *env[] = {"SITR_IDLE_TIMEOUT_MS=300", "SITR_MAX_CONNECTIONS=2", NULL};
    start(&s, env);
    sitr_e2e_client_t a, b, c;
    sitr_e2e_resp_t r;

    /* an idle connection is closed */
    assert_int_equal(sitr_e2e_connect(&s, &a), 0);
    assert_int_equal(sitr_e2e_wait_closed(&a, 15000), 1);
    sitr_e2e_close(&a);

    /* a request that does not finish in time gets 408 and a close */
    assert_int_equal(sitr_e2e_connect(&s, &a), 0);
    assert_int_equal(sitr_e2e_send_str(&a, "GET /healthz HTTP/1.1\r\nHost: t\r\n"), 0);
    assert_int_equal(sitr_e2e_read(&a, &r, 0), 0);
    check_answer(&r, 408, "request_timeout");
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_wait_closed(&a, 15000), 1);
    sitr_e2e_close(&a);
    stop_ok(&s);

    /* connection limit: with both connections part-way through a request
     * body, the third gets 503 and is closed */
    const char *env2[] = {"SITR_MAX_CONNECTIONS=2", "SITR_LOG_LEVEL=debug", NULL};
    start(&s, env2);
    static const char half[] = "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234";
    connect_served(&s, &a);
    connect_served(&s, &b);
    int before = sitr_e2e_log_count(&s, "state idle -> receiving");
    assert_int_equal(sitr_e2e_send_str(&a, half), 0);
    assert_int_equal(sitr_e2e_send_str(&b, half), 0);
    for (int i = 0; i < 1000 && sitr_e2e_log_count(&s, "state idle -> receiving") < before + 2; i++)
        sitr_e2e_sleep_ms(10);
    assert_int_equal(sitr_e2e_log_count(&s, "state idle -> receiving"), before + 2);
    assert_int_equal(sitr_e2e_connect(&s, &c), 0);
    assert_int_equal(sitr_e2e_send_str(&c, GET_HEALTH), 0);
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    check_answer(&r, 503, "overloaded");
    assert_non_null(sitr_e2e_header(&r, "Retry-After"));
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_wait_closed(&c, 10000), 1);
    sitr_e2e_close(&c);
    /* a finishes its request and is idle: a new client takes its place,
     * and a is closed */
    assert_int_equal(sitr_e2e_send_str(&a, "56789"), 0);
    assert_int_equal(sitr_e2e_read(&a, &r, 0), 0);
    check_answer(&r, 404, "not_found");
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_connect(&s, &c), 0);
    assert_int_equal(sitr_e2e_send_str(&c, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    check_answer(&r, 200, NULL);
    assert_non_null(strstr(r.body, "sitr_http_connections_evicted_total{reason=\"idle\"} 1\n"));
    assert_non_null(strstr(r.body, "sitr_http_connections_rejected_total 1\n"));
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_wait_closed(&a, 10000), 1);
    sitr_e2e_close(&a);
    sitr_e2e_close(&b);
    sitr_e2e_close(&c);
    stop_ok(&s);
}

static void test_graceful_shutdown(void **state)
{
    (void)state;
    sitr_e2e_server_t s;
    const char *env[] = {"SITR_LOG_LEVEL=debug", NULL};
    start(&s, env);
    sitr_e2e_client_t idle, busy;
    sitr_e2e_resp_t r;
    /* an idle keep-alive connection and a request half-way through its body */
    assert_int_equal(sitr_e2e_connect(&s, &idle), 0);
    assert_int_equal(sitr_e2e_send_str(&idle, GET_HEALTH), 0);
    assert_int_equal(sitr_e2e_read(&idle, &r, 0), 0);
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_connect(&s, &busy), 0);
    int before = sitr_e2e_log_count(&s, "state idle -> receiving");
    assert_int_equal(sitr_e2e_send_str(&busy, "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: "
                                              "10\r\n\r\n01234"),
                     0);
    /* SIGTERM only once the server has the first half of the request */
    for (int i = 0; i < 1000 && sitr_e2e_log_count(&s, "state idle -> receiving") == before; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(sitr_e2e_log_count(&s, "state idle -> receiving") > before);
    sitr_e2e_signal(&s, SIGTERM);
    assert_true(sitr_e2e_wait_log(&s, "shutting down", 15000));
    /* the idle connection is closed; the request in flight is finished */
    assert_int_equal(sitr_e2e_wait_closed(&idle, 15000), 1);
    assert_int_equal(sitr_e2e_send_str(&busy, "56789"), 0);
    assert_int_equal(sitr_e2e_read(&busy, &r, 0), 0);
    check_answer(&r, 404, "not_found");
    assert_string_equal(sitr_e2e_header(&r, "Connection"), "close");
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_wait_closed(&busy, 15000), 1);
    assert_int_equal(sitr_e2e_wait_exit(&s, 30000), 0);
    sitr_e2e_close(&idle);
    sitr_e2e_close(&busy);
    /* nothing listens any more */
    sitr_e2e_client_t late;
    assert_int_equal(sitr_e2e_connect(&s, &late), -1);
}

static void test_readyz_with_database(void **state)
{
    (void)state;
    char *url = pgt_create_db("http_e2e");
    assert_int_equal(pgt_run("'%s' --database-url '%s' migrate >/dev/null", pgt_admin(), url), 0);
    char var[1200];
    snprintf(var, sizeof var, "SITR_DATABASE_URL=%s", url);
    const char *env[] = {var, NULL};
    sitr_e2e_server_t s;
    start(&s, env);
    int ready = 0;
    for (int i = 0; i < 400 && !ready; i++) {
        sitr_e2e_resp_t r;
        assert_int_equal(sitr_e2e_request(&s, "GET", "/readyz", NULL, NULL, &r), 0);
        ready = r.status == 200;
        if (ready)
            assert_string_equal(r.body, "{\"status\":\"ready\"}");
        else
            check_answer(&r, 503, NULL);
        sitr_e2e_resp_free(&r);
        if (!ready) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    assert_true(ready);
    stop_ok(&s);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_and_pipelining), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_timeouts_and_connections), cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_readyz_with_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
