/* Unit tests of sitrd's HTTP core without sockets: route matching, query
 * and path decoding, the exact bytes of error answers, JSON bodies,
 * configuration parsing, the arena and the metrics text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sitr/err_service.h>

#include "core/arena.h"
#include "core/config.h"
#include "net/dispatch.h"
#include "net/http.h"
#include "net/url.h"
#include "core/log.h"
#include "core/metrics.h"
#include "net/router.h"
#include "net/server.h"

/* ---- a response sink standing in for the connection ---- */

static char *sent;
static size_t sent_len;
static int sent_close;

static void sink_send(sitr_req_t *req, char *buf, size_t len, int close)
{
    (void)req;
    free(sent);
    sent = buf;
    sent_len = len;
    sent_close = close;
}

static int sink_will_close(sitr_req_t *req)
{
    return !req->keep_alive;
}

static const sitr_req_io_t sink = {sink_send, sink_will_close, NULL};

static sitr_req_t *make_req(sitr_server_t *srv, sitr_method_t m, const char *url)
{
    sitr_req_t *req = sitr_http_req_new(srv, &sink, 7, "abc123-9", "192.0.2.1");
    assert_non_null(req);
    req->method = m;
    req->url = sitr_arena_strdup(req->arena, url);
    return req;
}

static void add_header(sitr_req_t *req, const char *name, const char *value)
{
    req->headers[req->nheaders].name = name;
    req->headers[req->nheaders].value = value;
    req->nheaders++;
}

static int h_ok(sitr_req_t *req)
{
    sitr_req_reply(req, 200, "text/plain", "ok", 2);
    return 0;
}

static int h_other(sitr_req_t *req)
{
    sitr_req_reply(req, 204, NULL, NULL, 0);
    return 0;
}

static int h_silent(sitr_req_t *req)
{
    (void)req;
    return 0;
}

static int h_busy(sitr_req_t *req)
{
    (void)req;
    return SITR_EBUSY;
}

static const sitr_route_t routes[] = {
    {SITR_GET, "/healthz", SITR_AUTH_NONE, SITR_COST_ONE, h_ok, 0},
    {SITR_POST, "/v1/cases", SITR_AUTH_NONE, SITR_COST_ONE, h_ok, 4096},
    {SITR_GET, "/v1/cases/{case}", SITR_AUTH_CASE, SITR_COST_ONE, h_ok, 0},
    {SITR_DELETE, "/v1/cases/{case}", SITR_AUTH_CASE, SITR_COST_ONE, h_other, 0},
    {SITR_POST, "/v1/cases/{case}/images", SITR_AUTH_CASE, SITR_COST_ONE, h_ok, 0},
    {SITR_GET, "/silent", SITR_AUTH_NONE, SITR_COST_ONE, h_silent, 0},
    {SITR_GET, "/busy", SITR_AUTH_NONE, SITR_COST_ONE, h_busy, 0},
};

static void test_router_match(void **state)
{
    (void)state;
    sitr_router_t *r = sitr_router_new();
    assert_int_equal(sitr_router_add(r, routes, sizeof routes / sizeof routes[0]), 0);
    sitr_arena_t *a = sitr_arena_new(0);
    sitr_route_match_t m;

    assert_int_equal(sitr_router_match(r, SITR_GET, "/healthz", a, &m), 0);
    assert_int_equal(m.status, 0);
    assert_ptr_equal(m.route->handler, h_ok);
    assert_int_equal(m.index, 1);

    assert_int_equal(sitr_router_match(r, SITR_GET, "/v1/cases/AB%2DCD", a, &m), 0);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.index, 3);
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.names[0], "case");
    assert_string_equal(m.values[0], "AB-CD");

    assert_int_equal(sitr_router_match(r, SITR_DELETE, "/v1/cases/X1", a, &m), 0);
    assert_int_equal(m.index, 4);
    assert_int_equal(sitr_router_match(r, SITR_POST, "/v1/cases/X1/images", a, &m), 0);
    assert_int_equal(m.index, 5);
    assert_string_equal(m.values[0], "X1");

    /* HEAD is served by GET routes */
    assert_int_equal(sitr_router_match(r, SITR_HEAD, "/healthz", a, &m), 0);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.index, 1);

    /* 404: unknown paths, empty parameter, extra or missing segments */
    const char *missing[] = {"/",          "/nope",     "/v1/cases/", "/v1/cases/X/images/1",
                             "/v1//cases", "/healthz/", "/v1"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        assert_int_equal(sitr_router_match(r, SITR_GET, missing[i], a, &m), 0);
        assert_int_equal(m.status, 404);
        assert_null(m.route);
    }

    /* 405 with the methods that would work */
    assert_int_equal(sitr_router_match(r, SITR_PUT, "/v1/cases/X1", a, &m), 0);
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET, HEAD, DELETE");
    assert_int_equal(sitr_router_match(r, SITR_GET, "/v1/cases", a, &m), 0);
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "POST");

    /* bad escapes in a parameter */
    assert_int_equal(sitr_router_match(r, SITR_GET, "/v1/cases/%zz", a, &m), SITR_EINVAL);
    assert_int_equal(sitr_router_match(r, SITR_GET, "/v1/cases/a%00b", a, &m), SITR_EINVAL);
    assert_int_equal(sitr_router_match(r, SITR_GET, "/v1/cases/a%4", a, &m), SITR_EINVAL);

    /* bad tables */
    sitr_route_t dup = routes[0];
    assert_int_equal(sitr_router_add(r, &dup, 1), SITR_EINVAL);
    sitr_route_t bad[] = {{SITR_GET, "nope", SITR_AUTH_NONE, SITR_COST_ONE, h_ok, 0},
                          {SITR_GET, "/a/{x", SITR_AUTH_NONE, SITR_COST_ONE, h_ok, 0},
                          {SITR_GET, "/a//b", SITR_AUTH_NONE, SITR_COST_ONE, h_ok, 0},
                          {SITR_GET, "/a/{}", SITR_AUTH_NONE, SITR_COST_ONE, h_ok, 0},
                          {SITR_GET, "/ok", SITR_AUTH_NONE, SITR_COST_ONE, NULL, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sitr_router_add(r, &bad[i], 1), SITR_EINVAL);
    assert_int_equal(sitr_router_count(r), sizeof routes / sizeof routes[0]);
    sitr_arena_free(a);
    sitr_router_free(r);
}

static void test_decode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(sitr_url_decode("a+b%20c%2B", 10, out, 1), 6);
    assert_string_equal(out, "a b c+");
    assert_int_equal(sitr_url_decode("a+b", 3, out, 0), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(sitr_url_decode("%", 1, out, 1), -1);
    assert_int_equal(sitr_url_decode("%4", 2, out, 1), -1);
    assert_int_equal(sitr_url_decode("%g0", 3, out, 1), -1);
    assert_int_equal(sitr_url_decode("%00", 3, out, 1), -1);
    assert_int_equal(sitr_url_decode("%C3%A9", 6, out, 1), 2);
    assert_string_equal(out, "\xc3\xa9");
}

typedef struct fixture {
    sitr_config_t cfg;
    sitr_server_t srv;
} fixture_t;

static fixture_t *fixture_new(void)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->cfg.max_body_bytes = 1 << 20;
    f->cfg.max_header_bytes = 16384;
    f->cfg.trusted_proxy = NULL;
    f->srv.cfg = &f->cfg;
    f->srv.router = sitr_router_new();
    f->srv.metrics = sitr_metrics_new();
    assert_int_equal(sitr_router_add(f->srv.router, routes, sizeof routes / sizeof routes[0]), 0);
    return f;
}

static void fixture_free(fixture_t *f)
{
    sitr_router_free(f->srv.router);
    sitr_metrics_free(f->srv.metrics);
    free(f);
    free(sent);
    sent = NULL;
    sent_len = 0;
}

static void test_query(void **state)
{
    (void)state;
    fixture_t *f = fixture_new();
    sitr_req_t *req =
        make_req(&f->srv, SITR_GET, "/v1/cases/K?status=pending&after=a%2Fb&x=1+2&flag&=v&e=");
    assert_int_equal(sitr_http_req_route(req), 0);
    assert_string_equal(sitr_req_path(req), "/v1/cases/K");
    assert_string_equal(sitr_req_query(req, "status"), "pending");
    assert_string_equal(sitr_req_query(req, "after"), "a/b");
    assert_string_equal(sitr_req_query(req, "x"), "1 2");
    assert_string_equal(sitr_req_query(req, "flag"), "");
    assert_string_equal(sitr_req_query(req, "e"), "");
    assert_null(sitr_req_query(req, "missing"));
    assert_string_equal(sitr_req_param(req, "case"), "K");
    assert_null(sitr_req_param(req, "other"));
    assert_int_equal(req->body_cap, 1 << 20);
    sitr_http_req_release(req);

    /* route-specific body cap */
    req = make_req(&f->srv, SITR_POST, "/v1/cases");
    assert_int_equal(sitr_http_req_route(req), 0);
    assert_int_equal(req->body_cap, 4096);
    sitr_http_req_release(req);

    /* a malformed query is a 400 answered in the request's turn */
    req = make_req(&f->srv, SITR_GET, "/healthz?a=%zz");
    assert_true(sitr_http_req_route(req) < 0);
    assert_int_equal(req->early_status, 400);
    sitr_dispatch(req);
    assert_non_null(sent);
    assert_true(strncmp(sent, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    assert_non_null(strstr(sent, "\"code\":\"bad_query\""));
    assert_true(sent_close);
    sitr_http_req_release(req);
    fixture_free(f);
}

static void test_error_bytes(void **state)
{
    (void)state;
    fixture_t *f = fixture_new();
    sitr_req_t *req = make_req(&f->srv, SITR_GET, "/x");
    sitr_req_reply_error(req, 422, "too_many_images", "at most 100 \"images\"", "images");
    static const char want[] =
        "HTTP/1.1 422 Unprocessable Content\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 88\r\n"
        "X-Request-Id: abc123-9\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
        "{\"error\":{\"code\":\"too_many_images\",\"message\":\"at most 100 \\\"images\\\"\","
        "\"field\":\"images\"}}";
    assert_int_equal(sent_len, sizeof want - 1);
    assert_memory_equal(sent, want, sizeof want - 1);
    assert_false(sent_close);
    /* a second answer is dropped */
    free(sent);
    sent = NULL;
    sitr_req_reply(req, 200, "text/plain", "x", 1);
    assert_null(sent);
    sitr_http_req_release(req);

    /* no field; extra headers; Connection: close when the client asked */
    req = make_req(&f->srv, SITR_GET, "/x");
    req->keep_alive = 0;
    sitr_req_add_header(req, "Retry-After", "3600");
    sitr_req_add_header(req, "Bad\r\nHeader", "x"); /* refused */
    sitr_req_reply_error(req, 429, "rate_limited", "slow down", NULL);
    static const char want2[] = "HTTP/1.1 429 Too Many Requests\r\n"
                                "Content-Type: application/json\r\n"
                                "Content-Length: 55\r\n"
                                "X-Request-Id: abc123-9\r\n"
                                "X-Content-Type-Options: nosniff\r\n"
                                "Cache-Control: no-store\r\n"
                                "Connection: close\r\n"
                                "Retry-After: 3600\r\n"
                                "\r\n"
                                "{\"error\":{\"code\":\"rate_limited\",\"message\":\"slow down\"}}";
    assert_int_equal(sent_len, sizeof want2 - 1);
    assert_memory_equal(sent, want2, sizeof want2 - 1);
    assert_true(sent_close);
    sitr_http_req_release(req);

    /* HEAD: headers with the GET length, no body */
    req = make_req(&f->srv, SITR_HEAD, "/healthz");
    sitr_dispatch(req);
    assert_non_null(strstr(sent, "Content-Length: 2\r\n"));
    assert_true(sent_len > 4 && memcmp(sent + sent_len - 4, "\r\n\r\n", 4) == 0);
    sitr_http_req_release(req);

    /* a gone request is not answered */
    free(sent);
    sent = NULL;
    req = make_req(&f->srv, SITR_GET, "/healthz");
    req->gone = 1;
    sitr_req_reply(req, 200, "text/plain", "x", 1);
    assert_null(sent);
    sitr_http_req_release(req);
    fixture_free(f);
}

static void test_dispatch(void **state)
{
    (void)state;
    fixture_t *f = fixture_new();
    struct {
        sitr_method_t m;
        const char *url;
        int status;
        const char *needle;
    } cases[] = {
        {SITR_GET, "/healthz", 200, "\r\n\r\nok"},
        {SITR_GET, "/nope", 404,
         "{\"error\":{\"code\":\"not_found\",\"message\":\"no such endpoint\"}}"},
        {SITR_PUT, "/healthz", 405, "Allow: GET, HEAD\r\n"},
        {SITR_GET, "/v1/cases/K", 401, "WWW-Authenticate: Case\r\n"}, /* no auth hook set */
        {SITR_GET, "/silent", 500, "\"code\":\"internal\""},
        {SITR_GET, "/busy", 503, "Retry-After: 1\r\n"},
        {SITR_DELETE, "/v1/cases/%zz", 400, "\"code\":\"bad_path\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sitr_req_t *req = make_req(&f->srv, cases[i].m, cases[i].url);
        free(sent);
        sent = NULL;
        sitr_dispatch(req);
        assert_non_null(sent);
        char line[64];
        snprintf(line, sizeof line, "HTTP/1.1 %d ", cases[i].status);
        assert_true(strncmp(sent, line, strlen(line)) == 0);
        assert_non_null(strstr(sent, "X-Request-Id: abc123-9\r\n"));
        if (!strstr(sent, cases[i].needle))
            fail_msg("case %zu: %s not in %s", i, cases[i].needle, sent);
        sitr_http_req_release(req);
    }
    /* metrics count by route pattern, never the raw path */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    sitr_metrics_render(f->srv.metrics, out);
    fclose(out);
    assert_non_null(
        strstr(text, "sitr_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n"));
    assert_null(strstr(text, "/nope"));
    assert_null(strstr(text, "/v1/cases/K"));
    free(text);
    fixture_free(f);
}

static void test_json_body(void **state)
{
    (void)state;
    fixture_t *f = fixture_new();
    sitr_req_t *req = make_req(&f->srv, SITR_POST, "/v1/cases");
    assert_int_equal(sitr_http_req_append_body(req, "{\"a\":1}", 7), 0);
    assert_null(sitr_req_json_body(req));
    assert_true(strncmp(sent, "HTTP/1.1 415 ", 13) == 0);
    sitr_http_req_release(req);

    const char *bodies[] = {"{\"a\":", "[1,2]", "", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        req = make_req(&f->srv, SITR_POST, "/v1/cases");
        add_header(req, "content-type", "application/json; charset=utf-8");
        assert_int_equal(sitr_http_req_append_body(req, bodies[i], strlen(bodies[i])), 0);
        assert_null(sitr_req_json_body(req));
        assert_true(strncmp(sent, "HTTP/1.1 400 ", 13) == 0);
        assert_non_null(strstr(sent, "\"code\":\"malformed_json\""));
        sitr_http_req_release(req);
    }

    req = make_req(&f->srv, SITR_POST, "/v1/cases");
    add_header(req, "Content-Type", "application/json");
    assert_string_equal(sitr_req_header(req, "CONTENT-TYPE"), "application/json");
    assert_int_equal(sitr_http_req_append_body(req, "{\"a\":1}", 7), 0);
    json_t *j = sitr_req_json_body(req);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
    json_decref(j);
    /* body cap */
    req->body_cap = 10;
    assert_int_equal(sitr_http_req_append_body(req, "1234", 4), SITR_ETOOBIG);
    sitr_http_req_release(req);
    fixture_free(f);
}

/* ---- configuration ---- */

static const char *const *env_table;

static const char *table_getenv(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env_table && env_table[i]; i++)
        if (strncmp(env_table[i], name, n) == 0 && env_table[i][n] == '=')
            return env_table[i] + n + 1;
    return NULL;
}

#define KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define DB  "SITR_DATABASE_URL=postgresql:///sitr"

static int load(const char *const *env, int argc, char **argv, sitr_config_t *cfg,
                sitr_config_action_t *act, sitr_err_t *err)
{
    env_table = env;
    return sitr_config_load(cfg, argc, argv, table_getenv, act, err);
}

/* Production mode (SITR_ENV=production, or a listen address that is not
 * loopback) refuses to start without the operator's name, contact and
 * address, printed on the evidence reports; development needs none. */
static void test_config_operator(void **state)
{
    (void)state;
    sitr_config_t cfg;
    sitr_config_action_t act;
    sitr_err_t err = {0};
    char *argv0[] = {"sitrd", NULL};

    const char *dev[] = {"SITR_DIGEST_KEY=" KEY, DB, NULL};
    assert_int_equal(load(dev, 1, argv0, &cfg, &act, &err), 0);
    assert_int_equal(cfg.production, 0);
    assert_string_equal(cfg.operator_name, "");
    sitr_config_free(&cfg);

    const char *prod[] = {"SITR_DIGEST_KEY=" KEY, DB, "SITR_ENV=production", NULL};
    assert_int_equal(load(prod, 1, argv0, &cfg, &act, &err), SITR_ECONFIG);
    assert_non_null(strstr(err.msg, "SITR_OPERATOR_NAME"));
    sitr_config_free(&cfg);

    const char *open_addr[] = {"SITR_DIGEST_KEY=" KEY, DB, "SITR_LISTEN=0.0.0.0:8080",
                               "SITR_OPERATOR_NAME=Association X", NULL};
    assert_int_equal(load(open_addr, 1, argv0, &cfg, &act, &err), SITR_ECONFIG);
    assert_non_null(strstr(err.msg, "SITR_OPERATOR_CONTACT"));
    sitr_config_free(&cfg);

    /* Production also needs the report signing key (mode 0600). */
    char dir[] = "/tmp/sitr-cfg-XXXXXX", key_path[64], key_var[96];
    assert_non_null(mkdtemp(dir));
    snprintf(key_path, sizeof key_path, "%s/report.key", dir);
    snprintf(key_var, sizeof key_var, "SITR_REPORT_KEY_FILE=%s", key_path);
    sitr_sign_key_t made;
    assert_int_equal(sitr_sign_key_create(key_path, &made, &err), 0);
    const char *nokey[] = {"SITR_DIGEST_KEY=" KEY,
                           DB,
                           "SITR_LISTEN=[::]:8080",
                           "SITR_OPERATOR_NAME=Association X",
                           "SITR_OPERATOR_CONTACT=help@example.org, +212 5 00 00 00 00",
                           "SITR_OPERATOR_ADDRESS=1 rue Exemple, Rabat",
                           NULL};
    assert_int_equal(load(nokey, 1, argv0, &cfg, &act, &err), SITR_ECONFIG);
    assert_non_null(strstr(err.msg, "SITR_REPORT_KEY_FILE"));
    sitr_config_free(&cfg);
    const char *full[] = {"SITR_DIGEST_KEY=" KEY,
                          DB,
                          "SITR_LISTEN=[::]:8080",
                          "SITR_OPERATOR_NAME=Association X",
                          "SITR_OPERATOR_CONTACT=help@example.org, +212 5 00 00 00 00",
                          "SITR_OPERATOR_ADDRESS=1 rue Exemple, Rabat",
                          "SITR_HELP=Hotline: 8350 | NGO Y: y@example.org",
                          key_var,
                          NULL};
    assert_int_equal(load(full, 1, argv0, &cfg, &act, &err), 0);
    assert_int_equal(cfg.production, 1);
    assert_int_equal(cfg.have_report_key, 1);
    assert_memory_equal(cfg.report_key.pk, made.pk, sizeof made.pk);
    assert_string_equal(cfg.operator_address, "1 rue Exemple, Rabat");
    sitr_config_free(&cfg);
    sitr_sign_key_wipe(&made);
    unlink(key_path);
    rmdir(dir);

    const char *ctl[] = {"SITR_DIGEST_KEY=" KEY, DB, "SITR_OPERATOR_NAME=a\tb", NULL};
    assert_int_equal(load(ctl, 1, argv0, &cfg, &act, &err), SITR_ECONFIG);
    sitr_config_free(&cfg);
    const char *badenv[] = {"SITR_DIGEST_KEY=" KEY, DB, "SITR_ENV=prod", NULL};
    assert_int_equal(load(badenv, 1, argv0, &cfg, &act, &err), SITR_ECONFIG);
    sitr_config_free(&cfg);
}

static void test_config(void **state)
{
    (void)state;
    sitr_config_t cfg;
    sitr_config_action_t act;
    sitr_err_t err = {0};
    char *argv0[] = {"sitrd", NULL};

    const char *env1[] = {"SITR_DIGEST_KEY=" KEY, DB, NULL};
    assert_int_equal(load(env1, 1, argv0, &cfg, &act, &err), 0);
    assert_int_equal(act, SITR_CONFIG_RUN);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_int_equal(cfg.db_pool, 8);
    assert_int_equal(cfg.db_queue, 1024);
    assert_int_equal(cfg.db_timeout_ms, 5000);
    assert_int_equal(cfg.max_connections, 1024);
    assert_int_equal(cfg.max_header_bytes, 16384);
    assert_int_equal(cfg.max_body_bytes, 4 << 20);
    assert_int_equal(cfg.idle_timeout_ms, 30000);
    assert_int_equal(cfg.max_images_per_request, 100);
    assert_int_equal(cfg.max_images_per_case, 1000);
    assert_int_equal(cfg.max_video_frames, 3600);
    assert_int_equal(cfg.max_videos_per_case, 50);
    assert_int_equal(cfg.max_match_frames, 6000);
    assert_int_equal(cfg.case_rate, 20);
    assert_int_equal(cfg.match_threshold, 31);
    assert_int_equal(cfg.match_batch, 1000);
    assert_int_equal(cfg.log_level, SITR_LOG_INFO);
    assert_int_equal(cfg.digest_key[1], 1);
    assert_int_equal(cfg.digest_key[31], 0x1f);
    assert_int_equal(cfg.listen_addr.ss_family, AF_INET);
    sitr_config_free(&cfg);

    /* flags win over the environment; both flag forms */
    const char *env2[] = {"SITR_DIGEST_KEY=" KEY,
                          DB,
                          "SITR_DB_POOL=3",
                          "SITR_LISTEN=[::1]:9000",
                          "SITR_MAX_BODY_BYTES=2M",
                          "SITR_LOG_LEVEL=DEBUG",
                          NULL};
    char *argv2[] = {"sitrd", "--db-pool=5", "--match-threshold", "20", NULL};
    assert_int_equal(load(env2, 4, argv2, &cfg, &act, &err), 0);
    assert_int_equal(cfg.db_pool, 5);
    assert_int_equal(cfg.match_threshold, 20);
    assert_int_equal(cfg.max_body_bytes, 2 << 20);
    assert_int_equal(cfg.listen_addr.ss_family, AF_INET6);
    assert_int_equal(cfg.log_level, SITR_LOG_DEBUG);
    sitr_config_free(&cfg);

    /* errors name the option */
    struct {
        const char *env[5];
        const char *needle;
    } bad[] = {
        {{DB, NULL}, "digest key is required"},
        {{"SITR_DIGEST_KEY=" KEY, NULL}, "SITR_DATABASE_URL"},
        {{"SITR_DIGEST_KEY=abcd", DB, NULL}, "SITR_DIGEST_KEY"},
        {{"SITR_DIGEST_KEY=" KEY, DB, "SITR_DB_POOL=0", NULL}, "SITR_DB_POOL"},
        {{"SITR_DIGEST_KEY=" KEY, DB, "SITR_DB_POOL=8x", NULL}, "SITR_DB_POOL"},
        {{"SITR_DIGEST_KEY=" KEY, DB, "SITR_MAX_CONNECTIONS=-1", NULL}, "SITR_MAX_CONNECTIONS"},
        {{"SITR_DIGEST_KEY=" KEY, DB, "SITR_LISTEN=localhost", NULL}, "listen address"},
        {{"SITR_DIGEST_KEY=" KEY, DB, "SITR_LISTEN=1.2.3.4:70000", NULL}, "listen address"},
        {{"SITR_DIGEST_KEY=" KEY, DB, "SITR_LOG_LEVEL=loud", NULL}, "SITR_LOG_LEVEL"},
        {{"SITR_DIGEST_KEY=" KEY, DB, "SITR_DIGEST_KEY_FILE=/nonexistent", NULL},
         "give the digest key once"},
        {{"SITR_DIGEST_KEY_FILE=/nonexistent/key", DB, NULL}, "cannot open"},
        {{"SITR_DIGEST_KEY=" KEY, DB, "SITR_TRUSTED_PROXY=proxy", NULL}, "trusted proxy"},
        {{"SITR_DIGEST_KEY=" KEY, DB, "SITR_MATCH_THRESHOLD=33", NULL}, "SITR_MATCH_THRESHOLD"},
        {{"SITR_DIGEST_KEY=0000000000000000000000000000000000000000000000000000000000000000", DB,
          NULL},
         "all zeros"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(load(bad[i].env, 1, argv0, &cfg, &act, &err), SITR_ECONFIG);
        if (!strstr(err.msg, bad[i].needle))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].needle);
        assert_null(strstr(err.msg, KEY));
        sitr_config_free(&cfg);
    }
    char *argv3[] = {"sitrd", "--no-such", NULL};
    assert_int_equal(load(env1, 2, argv3, &cfg, &act, &err), SITR_ECONFIG);
    assert_non_null(strstr(err.msg, "--no-such"));
    sitr_config_free(&cfg);
    char *argv4[] = {"sitrd", "--db-pool", NULL};
    assert_int_equal(load(env1, 2, argv4, &cfg, &act, &err), SITR_ECONFIG);
    sitr_config_free(&cfg);

    /* --help works without a key */
    char *argv5[] = {"sitrd", "--help", NULL};
    const char *none[] = {NULL};
    assert_int_equal(load(none, 2, argv5, &cfg, &act, &err), 0);
    assert_int_equal(act, SITR_CONFIG_HELP);
    sitr_config_free(&cfg);

    /* key file */
    char path[] = "/tmp/sitr-key-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, KEY "\n", 65), 65);
    close(fd);
    char *argv6[] = {"sitrd", "--digest-key-file", path, NULL};
    const char *dbonly[] = {DB, NULL};
    assert_int_equal(load(dbonly, 3, argv6, &cfg, &act, &err), 0);
    assert_int_equal(cfg.digest_key[2], 2);
    sitr_config_free(&cfg);
    unlink(path);

    /* --help lists every option with its variable and default */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    sitr_config_usage(out, "sitrd");
    fclose(out);
    const char *vars[] = {"SITR_LISTEN, default 127.0.0.1:8080",
                          "SITR_DATABASE_URL",
                          "SITR_DB_POOL, default 8",
                          "SITR_DB_QUEUE, default 1024",
                          "SITR_DB_TIMEOUT_MS, default 5000",
                          "SITR_MAX_CONNECTIONS, default 1024",
                          "SITR_MAX_HEADER_BYTES, default 16384",
                          "SITR_MAX_BODY_BYTES, default 4194304",
                          "SITR_MAX_VIDEO_FRAMES, default 3600",
                          "SITR_MAX_VIDEOS_PER_CASE, default 50",
                          "SITR_MAX_MATCH_FRAMES, default 6000",
                          "SITR_IDLE_TIMEOUT_MS, default 30000",
                          "SITR_MAX_IMAGES_PER_REQUEST, default 100",
                          "SITR_MAX_IMAGES_PER_CASE, default 1000",
                          "SITR_CASE_RATE, default 20",
                          "SITR_MATCH_THRESHOLD, default 31",
                          "SITR_MATCH_BATCH, default 1000",
                          "SITR_DIGEST_KEY,",
                          "SITR_DIGEST_KEY_FILE,",
                          "SITR_LOG_LEVEL, default info",
                          "--listen=",
                          "--digest-key-file="};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (!strstr(text, vars[i]))
            fail_msg("--help lacks \"%s\"", vars[i]);
    free(text);
}

static void test_arena(void **state)
{
    (void)state;
    sitr_arena_t *a = sitr_arena_new(100000);
    for (int i = 0; i < 1000; i++) {
        unsigned char *p = sitr_arena_alloc(a, (size_t)(i % 37) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (int k = 0; k < i % 37 + 1; k++)
            assert_int_equal(p[k], 0);
        memset(p, 0xab, (size_t)(i % 37) + 1);
    }
    char *s = sitr_arena_printf(a, "%s-%d", "x", 42);
    assert_string_equal(s, "x-42");
    assert_null(sitr_arena_alloc(a, 200000)); /* over the cap */
    assert_true(sitr_arena_reserved(a) <= 100000);
    sitr_arena_free(a);
    sitr_arena_free(NULL);
}

static void test_log_levels(void **state)
{
    (void)state;
    sitr_log_level_t l;
    assert_int_equal(sitr_log_parse_level("warn", &l), 0);
    assert_int_equal(l, SITR_LOG_WARN);
    assert_int_equal(sitr_log_parse_level("Debug", &l), 0);
    assert_int_equal(l, SITR_LOG_DEBUG);
    assert_int_equal(sitr_log_parse_level("verbose", &l), SITR_EINVAL);
    sitr_log_set_level(SITR_LOG_WARN);
    assert_false(sitr_log_enabled(SITR_LOG_INFO));
    assert_true(sitr_log_enabled(SITR_LOG_ERROR));
    sitr_log_set_level(SITR_LOG_INFO);
}

int main(void)
{
    sitr_log_set_level(SITR_LOG_ERROR); /* keep the test output readable */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_match), cmocka_unit_test(test_decode),
        cmocka_unit_test(test_query),        cmocka_unit_test(test_error_bytes),
        cmocka_unit_test(test_dispatch),     cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_config),       cmocka_unit_test(test_config_operator),
        cmocka_unit_test(test_arena),        cmocka_unit_test(test_log_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
