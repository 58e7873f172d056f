/* End-to-end tests of sitrd's defences against slow and greedy clients,
 * over real TCP, each with its own sitrd and small configured deadlines:
 *
 *   - request heads trickled one byte at a time, each byte well inside the
 *     idle timeout, are cut by the head deadline (408, close);
 *   - bodies trickled below the minimum rate are cut after the grace period
 *     (408, close), while a body sent at once is taken;
 *   - many connections from one address: beyond the per-address cap each
 *     new one is answered 429 and closed;
 *   - behind the trusted proxy, the cap counts the forwarded address of the
 *     requests under way, not the proxy;
 *
 * and through all of it a normal client, from another loopback address,
 * gets its answers.  The counters of /metrics must say what happened.  No
 * timing is asserted: loops wait for the server's verdict with a generous
 * bound that only stops a hung test. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e_util.h"

#define GET_HEALTH "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
/* How long the loops below wait for sitrd before calling it hung. */
#define HUNG_MS 120000

static void start(sitr_e2e_server_t *s, const char *const *env)
{
    if (sitr_e2e_start(s, env) < 0)
        fail_msg("sitrd did not start");
}

static void normal_request_ok(const sitr_e2e_server_t *s)
{
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_request(s, "GET", "/healthz", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
}

/* The value of a metric line "name value" in /metrics (-1 if absent). */
static long long metric(const sitr_e2e_server_t *s, const char *name)
{
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_request(s, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    long long v = -1;
    size_t n = strlen(name);
    for (const char *p = r.body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            v = strtoll(p + n + 1, NULL, 10);
            break;
        }
    }
    sitr_e2e_resp_free(&r);
    return v;
}

static int readable(const sitr_e2e_client_t *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return c->len > 0 || poll(&p, 1, 0) > 0;
}

/* Expects the answer the server gives a cut request: status and code,
 * Connection: close, and the close itself. */
static void expect_cut(sitr_e2e_client_t *c, int status, const char *code)
{
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_read(c, &r, 0), 0);
    if (r.status != status || !strstr(r.body, code))
        fail_msg("expected %d %s, got %d %s", status, code, r.status, r.body);
    assert_string_equal(sitr_e2e_header(&r, "Connection"), "close");
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_wait_closed(c, 10000), 1);
}

/* n connections, one per address 127.0.0.(first+i), each sending head and
 * then one byte of filler every 100 ms (far inside the idle timeout) until
 * the server answers; each answer must be a 408 that closes.  A normal
 * client is served on every round. */
static void trickle(const sitr_e2e_server_t *s, int n, int first, const char *head)
{
    sitr_e2e_client_t *c = calloc((size_t)n, sizeof *c);
    assert_non_null(c);
    for (int i = 0; i < n; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", first + i);
        assert_int_equal(sitr_e2e_connect_from(s, &c[i], src), 0);
        assert_int_equal(sitr_e2e_send_str(&c[i], head), 0);
    }
    int open = n;
    long long t0 = sitr_e2e_now_ms();
    while (open > 0) {
        if (sitr_e2e_now_ms() - t0 > HUNG_MS)
            fail_msg("%d slow connections still open after %d ms", open, HUNG_MS);
        sitr_e2e_sleep_ms(100);
        for (int i = 0; i < n; i++) {
            if (c[i].fd < 0)
                continue;
            if (readable(&c[i])) {
                expect_cut(&c[i], 408, "\"request_timeout\"");
                sitr_e2e_close(&c[i]);
                open--;
            } else {
                assert_int_equal(sitr_e2e_send(&c[i], "a", 1), 0);
            }
        }
        normal_request_ok(s);
    }
    free(c);
}

static void test_head_trickle(void **state)
{
    (void)state;
    sitr_e2e_server_t s;
    const char *env[] = {"SITR_HEAD_TIMEOUT_MS=1000", "SITR_IDLE_TIMEOUT_MS=30000", NULL};
    start(&s, env);
    trickle(&s, 40, 10, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    /* a head that starts with empty lines is timed from them */
    trickle(&s, 5, 60, "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    assert_int_equal(metric(&s, "sitr_http_slow_requests_total{reason=\"head\"}"), 45);
    assert_int_equal(metric(&s, "sitr_http_slow_requests_total{reason=\"body\"}"), 0);
    assert_int_equal(sitr_e2e_stop(&s), 0);
}

static void test_body_trickle(void **state)
{
    (void)state;
    sitr_e2e_server_t s;
    const char *env[] = {"SITR_BODY_GRACE_MS=500", "SITR_MIN_BODY_RATE=1000",
                         "SITR_IDLE_TIMEOUT_MS=30000", NULL};
    start(&s, env);
    trickle(&s, 20, 10,
            "POST /v1/cases HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n{\"images\":[");
    /* A body that comes at once is taken and handled (no database here:
     * the handler's 503), not cut. */
    static const char body[] = "{\"images\":[]}";
    char req[256];
    snprintf(req, sizeof req,
             "POST /v1/cases HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             sizeof body - 1, body);
    sitr_e2e_client_t c;
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_connect(&s, &c), 0);
    assert_int_equal(sitr_e2e_send_str(&c, req), 0);
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    assert_int_not_equal(r.status, 408);
    sitr_e2e_resp_free(&r);
    sitr_e2e_close(&c);
    assert_int_equal(metric(&s, "sitr_http_slow_requests_total{reason=\"body\"}"), 20);
    assert_int_equal(metric(&s, "sitr_http_slow_requests_total{reason=\"head\"}"), 0);
    assert_int_equal(sitr_e2e_stop(&s), 0);
}

/* Opens a connection from src and has one request answered on it (so the
 * server has surely counted it). */
static void connect_served(const sitr_e2e_server_t *s, sitr_e2e_client_t *c, const char *src)
{
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_connect_from(s, c, src), 0);
    assert_int_equal(sitr_e2e_send_str(c, GET_HEALTH), 0);
    assert_int_equal(sitr_e2e_read(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
}

static void expect_limited(const sitr_e2e_server_t *s, const char *src, const char *request)
{
    sitr_e2e_client_t c;
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_connect_from(s, &c, src), 0);
    assert_int_equal(sitr_e2e_send_str(&c, request), 0);
    assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
    if (r.status != 429 || !strstr(r.body, "\"too_many_connections\""))
        fail_msg("expected 429 too_many_connections, got %d %s", r.status, r.body);
    assert_non_null(sitr_e2e_header(&r, "Retry-After"));
    assert_string_equal(sitr_e2e_header(&r, "Connection"), "close");
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_wait_closed(&c, 10000), 1);
    sitr_e2e_close(&c);
}

static void test_many_from_one_address(void **state)
{
    (void)state;
    sitr_e2e_server_t s;
    const char *env[] = {"SITR_MAX_CONNECTIONS_PER_ADDRESS=4", NULL};
    start(&s, env);
    sitr_e2e_client_t held[4];
    for (int i = 0; i < 4; i++)
        connect_served(&s, &held[i], "127.0.0.9");
    /* 50 more from the same address, one after the other: each refused */
    for (int i = 0; i < 50; i++) {
        expect_limited(&s, "127.0.0.9", GET_HEALTH);
        if (i % 10 == 0)
            normal_request_ok(&s); /* another address is served meanwhile */
    }
    assert_int_equal(metric(&s, "sitr_http_connections_address_limited_total"), 50);
    assert_int_equal(metric(&s, "sitr_http_client_addresses"), 2); /* 127.0.0.9 and this one */
    /* once one of the four closes, the address is served again */
    sitr_e2e_close(&held[0]);
    int served = 0;
    for (long long t0 = sitr_e2e_now_ms(); !served && sitr_e2e_now_ms() - t0 < HUNG_MS;) {
        sitr_e2e_client_t c;
        sitr_e2e_resp_t r;
        assert_int_equal(sitr_e2e_connect_from(&s, &c, "127.0.0.9"), 0);
        assert_int_equal(sitr_e2e_send_str(&c, GET_HEALTH), 0);
        assert_int_equal(sitr_e2e_read(&c, &r, 0), 0);
        served = r.status == 200;
        if (!served)
            assert_int_equal(r.status, 429);
        sitr_e2e_resp_free(&r);
        sitr_e2e_close(&c);
        if (!served)
            sitr_e2e_sleep_ms(20);
    }
    assert_true(served);
    for (int i = 1; i < 4; i++)
        sitr_e2e_close(&held[i]);
    assert_int_equal(sitr_e2e_stop(&s), 0);
}

static void test_behind_trusted_proxy(void **state)
{
    (void)state;
    sitr_e2e_server_t s;
    const char *env[] = {"SITR_TRUSTED_PROXY=127.0.0.1", "SITR_MAX_CONNECTIONS_PER_ADDRESS=2",
                         "SITR_LOG_LEVEL=debug", NULL};
    start(&s, env);
    /* The proxy itself is not capped: many idle connections of its own. */
    sitr_e2e_client_t idle[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(sitr_e2e_connect(&s, &idle[i]), 0);
    /* Two requests of 192.0.2.7 under way (their bodies not in yet). */
    static const char half7[] = "POST /v1/cases HTTP/1.1\r\nHost: t\r\n"
                                "X-Forwarded-For: 192.0.2.7\r\nContent-Type: application/json\r\n"
                                "Content-Length: 20\r\n\r\n{";
    sitr_e2e_client_t p[2];
    int before = sitr_e2e_log_count(&s, "state idle -> receiving");
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sitr_e2e_connect(&s, &p[i]), 0);
        assert_int_equal(sitr_e2e_send_str(&p[i], half7), 0);
    }
    for (long long t0 = sitr_e2e_now_ms();
         sitr_e2e_log_count(&s, "state idle -> receiving") < before + 2 &&
         sitr_e2e_now_ms() - t0 < HUNG_MS;)
        sitr_e2e_sleep_ms(10);
    assert_int_equal(sitr_e2e_log_count(&s, "state idle -> receiving"), before + 2);
    /* A third request for 192.0.2.7 is refused; 192.0.2.8 is served. */
    expect_limited(&s, "127.0.0.1",
                   "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n");
    sitr_e2e_resp_t r;
    assert_int_equal(
        sitr_e2e_request(&s, "GET", "/healthz", "X-Forwarded-For: 192.0.2.8\r\n", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    /* The first finishes its request: its connection, idle again, no
     * longer counts for 192.0.2.7, which is served again. */
    assert_int_equal(sitr_e2e_send_str(&p[0], "\"images\":[]}       "), 0);
    assert_int_equal(sitr_e2e_read(&p[0], &r, 0), 0);
    assert_int_not_equal(r.status, 429);
    sitr_e2e_resp_free(&r);
    assert_int_equal(sitr_e2e_send_str(&p[0], "GET /healthz HTTP/1.1\r\nHost: t\r\n"
                                              "X-Forwarded-For: 192.0.2.7\r\n\r\n"),
                     0);
    assert_int_equal(sitr_e2e_read(&p[0], &r, 0), 0);
    assert_int_equal(r.status, 200);
    sitr_e2e_resp_free(&r);
    assert_int_equal(metric(&s, "sitr_http_connections_address_limited_total"), 1);
    for (int i = 0; i < 4; i++)
        sitr_e2e_close(&idle[i]);
    sitr_e2e_close(&p[0]);
    sitr_e2e_close(&p[1]);
    assert_int_equal(sitr_e2e_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_trickle),
        cmocka_unit_test(test_body_trickle),
        cmocka_unit_test(test_many_from_one_address),
        cmocka_unit_test(test_behind_trusted_proxy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
