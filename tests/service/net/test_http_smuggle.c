/* Request framing that a proxy in front of sitrd could read differently
 * (request smuggling), through the connection's real parsing path
 * (sitr_conn_parse_buffer: conn.c's buffer and parser callbacks, http.c,
 * the router) without a socket.  Each ambiguous request must be refused
 * with 400 and nothing after it may be parsed as another request; the
 * unambiguous forms still work.  Single-threaded, no loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "net/conn.h"
#include "net/dispatch.h"
#include "net/framing.h"
#include "net/http.h"
#include "core/log.h"
#include "core/metrics.h"
#include "net/router.h"
#include "net/server.h"

static sitr_config_t cfg;
static sitr_server_t srv;

typedef struct seen {
    int n;
    int status[8];
    int closes[8];
    size_t body_len[8];
    char path[8][32];
    char msg[8][96]; /* the reason of a refusal */
} seen_t;

static void sink_send(sitr_req_t *req, char *buf, size_t len, int close)
{
    (void)req;
    (void)len;
    (void)close;
    free(buf);
}

static int sink_will_close(sitr_req_t *req)
{
    return !req->keep_alive || req->early_status;
}

static const sitr_req_io_t sink = {sink_send, sink_will_close, NULL};

static int h_ok(sitr_req_t *req)
{
    sitr_req_reply(req, 200, "text/plain", "ok", 2);
    return 0;
}

static const sitr_route_t routes[] = {
    {SITR_POST, "/a", SITR_AUTH_NONE, SITR_COST_ONE, h_ok, 0},
    {SITR_GET, "/b", SITR_AUTH_NONE, SITR_COST_ONE, h_ok, 0},
};

static void on_req(sitr_req_t *req, void *arg)
{
    seen_t *s = arg;
    sitr_dispatch(req);
    assert_true(sitr_req_answered(req));
    if (s->n < 8) {
        s->status[s->n] = req->status;
        s->body_len[s->n] = req->body_len;
        snprintf(s->path[s->n], sizeof s->path[s->n], "%s", req->path ? req->path : "");
        snprintf(s->msg[s->n], sizeof s->msg[s->n], "%s", req->early_msg ? req->early_msg : "");
        s->closes[s->n] = sink_will_close(req);
        s->n++;
    }
    sitr_http_req_release(req);
}

static seen_t parse_n(const char *bytes, size_t len)
{
    seen_t s = {0};
    sitr_conn_parse_buffer(&srv, "192.0.2.9", bytes, &len, 1, &sink, on_req, &s);
    return s;
}

static seen_t parse(const char *bytes)
{
    return parse_n(bytes, strlen(bytes));
}

/* The same bytes, one per read: the checks hold across reads. */
static seen_t parse_bytewise(const char *bytes, size_t len)
{
    seen_t s = {0};
    size_t *lens = malloc(len * sizeof *lens);
    assert_non_null(lens);
    for (size_t i = 0; i < len; i++)
        lens[i] = 1;
    sitr_conn_parse_buffer(&srv, "192.0.2.9", bytes, lens, len, &sink, on_req, &s);
    free(lens);
    return s;
}

static int setup(void **state)
{
    (void)state;
    sitr_log_set_level(SITR_LOG_ERROR);
    cfg.max_header_bytes = 16384;
    cfg.max_body_bytes = 1 << 20;
    cfg.idle_timeout_ms = 1000;
    srv.cfg = &cfg;
    memcpy(srv.instance, "test01", 7);
    srv.router = sitr_router_new();
    srv.metrics = sitr_metrics_new();
    assert_non_null(srv.router);
    assert_non_null(srv.metrics);
    assert_int_equal(sitr_router_add(srv.router, routes, sizeof routes / sizeof routes[0]), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sitr_router_free(srv.router);
    sitr_metrics_free(srv.metrics);
    return 0;
}

/* "Content-Length : 5": http-parser would frame the body by it, a proxy
 * may ignore the malformed field and forward the body bytes as the next
 * request.  Refused, and the bytes after it are not a request. */
static void test_space_before_colon(void **state)
{
    (void)state;
    seen_t s = parse("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length : 18\r\n\r\n"
                     "GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(s.n, 1);
    assert_int_equal(s.status[0], 400);

    s = parse("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n"
              "0\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(s.n, 1);
    assert_int_equal(s.status[0], 400);
}

/* One refused request: the bytes on the wire, and the reason the answer
 * must give (a part of its message). */
typedef struct bad_case {
    const char *bytes;
    size_t len;
    const char *why;
} bad_case_t;

/* A literal and its length (one case holds a NUL). */
#define B(lit) lit, sizeof(lit) - 1

#define NEXT "GET /b HTTP/1.1\r\nHost: t\r\n\r\n"

static const bad_case_t bad_cases[] = {
    /* framing http-parser refuses itself; kept so a parser change shows */
    {B("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 19\r\n\r\na" NEXT),
     "HTTP/1.1"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nabcde" NEXT), "HTTP/1.1"},
    /* obsolete line folding, which http-parser silently joins */
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" NEXT),
     "folding"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n" NEXT),
     "folding"},
    {B("GET /b HTTP/1.1\r\n Host: t\r\n\r\n" NEXT), "folding"},
    /* transfer codings: only a lone chunked */
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" NEXT),
     "lone chunked"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n"
       "0\r\n\r\n" NEXT),
     "lone chunked"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" NEXT),
     "lone chunked"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" NEXT),
     "lone chunked"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n" NEXT), "lone chunked"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n" NEXT),
     ""},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
       "0\r\n\r\n" NEXT),
     ""},
    {B("POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" NEXT), "HTTP/1.0"},
    /* chunk framing */
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n" NEXT),
     "followed by CRLF"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\n0\r\n\r\n" NEXT),
     "followed by CRLF"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2 "
       "\r\n{}\r\n0\r\n\r\n" NEXT),
     "chunk size"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n "
       "2\r\n{}\r\n0\r\n\r\n" NEXT),
     "chunk size"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
       "chunked\r\n\r\n2\t\r\n{}\r\n0\r\n\r\n" NEXT),
     "chunk size"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2 "
       ";x=y\r\n{}\r\n0\r\n\r\n" NEXT),
     "chunk size"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;x = "
       "y\r\n{}\r\n0\r\n\r\n" NEXT),
     "chunk size"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n" NEXT),
     "chunk size"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\n{}\r\n0\r\n\r\n" NEXT),
     "CRLF"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "fffffffffffffffffffffffff\r\n" NEXT),
     "chunk size"},
    /* trailers obey the field line rules too */
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n "
       "b\r\n\r\n" NEXT),
     "folding"},
    {B("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n" NEXT), "CRLF"},
    /* bare LF and bare CR */
    {B("GET /b HTTP/1.1\nHost: t\r\n\r\n" NEXT), "CRLF"},
    {B("GET /b HTTP/1.1\r\nHost: t\n\r\n" NEXT), "CRLF"},
    {B("GET /b HTTP/1.1\r\nHost: t\r\n\n" NEXT), "CRLF"},
    {B("\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n" NEXT), "CRLF"},
    {B("GET /b HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n" NEXT), "CRLF"},
    /* Host: exactly one in HTTP/1.1, well-formed */
    {B("GET /b HTTP/1.1\r\n\r\n" NEXT), "needs a Host"},
    {B("GET /b HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n" NEXT), "more than one Host"},
    {B("GET /b HTTP/1.0\r\nHost: t\r\nhost: t\r\n\r\n" NEXT), "more than one Host"},
    {B("GET /b HTTP/1.1\r\nHost: a b\r\n\r\n" NEXT), "Host header is malformed"},
    {B("GET /b HTTP/1.1\r\nHost: t/x\r\n\r\n" NEXT), "Host header is malformed"},
    {B("GET /b HTTP/1.1\r\nHost: t:80x\r\n\r\n" NEXT), "Host header is malformed"},
    {B("GET /b HTTP/1.1\r\nHost: [::1\r\n\r\n" NEXT), "Host header is malformed"},
    /* versions: HTTP/1.1 and HTTP/1.0 only */
    {B("GET /b HTTP/9.9\r\nHost: t\r\n\r\n" NEXT), "only HTTP/1.1 and HTTP/1.0"},
    {B("GET /b HTTP/2.0\r\nHost: t\r\n\r\n" NEXT), "only HTTP/1.1 and HTTP/1.0"},
    {B("GET /b HTTP/1.2\r\nHost: t\r\n\r\n" NEXT), "only HTTP/1.1 and HTTP/1.0"},
    {B("GET /b HTTP/1.10\r\nHost: t\r\n\r\n" NEXT), "only HTTP/1.1 and HTTP/1.0"},
    {B("GET /b\r\n\r\n" NEXT), "request line"},
    {B("GET /b http/1.1\r\nHost: t\r\n\r\n" NEXT), "request line"},
    /* request line and field syntax */
    {B("GET  /b HTTP/1.1\r\nHost: t\r\n\r\n" NEXT), "request line"},
    {B("GET /b  HTTP/1.1\r\nHost: t\r\n\r\n" NEXT), "request line"},
    {B("GET /b\t HTTP/1.1\r\nHost: t\r\n\r\n" NEXT), "request line"},
    {B("GET /b HTTP/1.1 \r\nHost: t\r\n\r\n" NEXT), "request line"},
    {B("GET /b HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n" NEXT), "header field"},
    {B("GET /b HTTP/1.1\r\nHost: t\r\nX-A: a\x7f\r\n\r\n" NEXT), "header field"},
    {B("GET /b HTTP/1.1\r\nHost: t\r\nX(A): a\r\n\r\n" NEXT), "header field"},
    {B("GET /b HTTP/1.1\r\nHost: t\r\n: a\r\n\r\n" NEXT), "header field"},
};

/* Each case, in one read and one byte per read: exactly one answer, 400
 * with the expected reason, closing, and the request after it never
 * parsed. */
static void test_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const char *b = bad_cases[i].bytes;
        size_t len = bad_cases[i].len;
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            seen_t s = bytewise ? parse_bytewise(b, len) : parse_n(b, len);
            if (s.n != 1 || s.status[0] != 400 || !s.closes[0] ||
                !strstr(s.msg[0], bad_cases[i].why))
                fail_msg("case %zu (%s): %d answers, first %d \"%s\"", i,
                         bytewise ? "byte by byte" : "one read", s.n, s.status[0], s.msg[0]);
        }
    }
}

/* The well-formed forms still work and pipeline: lengths, chunks with an
 * extension and a trailer, "Chunked" in any case, empty lines before a
 * request, HTTP/1.0 without Host, an IP literal with a port. */
static void test_good_framing(void **state)
{
    (void)state;
    static const char good[] =
        "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"
        "POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        "GET /b HTTP/1.1\r\nHost: t\r\nX-Odd_Name.1: v\r\n\r\n"
        "\r\n\r\nPOST /a HTTP/1.1\r\nHost: [::1]:8080\r\nTransfer-Encoding: Chunked\r\n\r\n"
        "2;name=\"v\"\r\nab\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
        "GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        "GET /b HTTP/1.1\r\nHost: sitr.example.org\r\nX-A: caf\xc3\xa9\t\r\n\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        seen_t s =
            bytewise ? parse_bytewise(good, sizeof good - 1) : parse_n(good, sizeof good - 1);
        assert_int_equal(s.n, 6);
        for (int i = 0; i < 6; i++) {
            assert_int_equal(s.status[i], 200);
            assert_false(s.closes[i]);
        }
        assert_int_equal(s.body_len[0], 5);
        assert_int_equal(s.body_len[1], 3);
        assert_string_equal(s.path[2], "/b");
        assert_int_equal(s.body_len[3], 12);
        assert_string_equal(s.path[5], "/b");
    }
}

/* A refused byte is reported after the requests ahead of it, which are
 * answered in order. */
static void test_refused_after_good(void **state)
{
    (void)state;
    seen_t s = parse("GET /b HTTP/1.1\r\nHost: t\r\n\r\n"
                     "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab"
                     "GET /b HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n" NEXT);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.status[0], 200);
    assert_int_equal(s.status[1], 200);
    assert_int_equal(s.body_len[1], 2);
    assert_int_equal(s.status[2], 400);
    assert_non_null(strstr(s.msg[2], "folding"));
}

/* Chunk extensions are bounded: a size line longer than
 * SITR_FRAMING_MAX_CHUNK_LINE is refused. */
static void test_chunk_line_bound(void **state)
{
    (void)state;
    static const char head[] =
        "POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;";
    size_t n = sizeof head - 1 + SITR_FRAMING_MAX_CHUNK_LINE + 32;
    char *b = malloc(n + 1);
    assert_non_null(b);
    memcpy(b, head, sizeof head - 1);
    memset(b + sizeof head - 1, 'x', n - (sizeof head - 1));
    b[n] = '\0';
    seen_t s = parse(b);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.status[0], 400);
    assert_non_null(strstr(s.msg[0], "chunk size"));
    /* just under the bound is fine */
    size_t ok = sizeof head - 1 + SITR_FRAMING_MAX_CHUNK_LINE - 3;
    memcpy(b + ok, "\r\na\r\n0\r\n\r\n", 11);
    s = parse_n(b, ok + 10);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.status[0], 200);
    assert_int_equal(s.body_len[0], 1);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_space_before_colon), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_good_framing),       cmocka_unit_test(test_refused_after_good),
        cmocka_unit_test(test_chunk_line_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
