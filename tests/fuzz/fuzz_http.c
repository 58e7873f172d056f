/* libFuzzer target: arbitrary bytes through the connection's HTTP path
 * (conn.c's buffer, http-parser callbacks, header and body limits,
 * pipelining queue; http.c's routing, query and X-Forwarded-For parsing,
 * JSON bodies and answer serialisation) via sitr_conn_parse_buffer, which
 * parses exactly as a connection does but needs no socket.
 *
 * Input layout: byte 0 = number of cut points k (mod 16), then k bytes,
 * each the length of one read (0..255, scaled by 16 when byte 0 has its
 * high bit set, so reads can also cross the 64 KiB buffer); whatever
 * follows is the stream, its remainder delivered in one last read.  So the
 * fuzzer chooses where reads split the stream.
 *
 * Every request is dispatched through a router holding routes shaped like
 * the real ones, with a handler that reads what real handlers read and
 * answers synchronously; the answer must be a well-formed HTTP/1.1 status
 * line.  Any crash, sanitizer report or abort() is a bug.  Single-threaded
 * (libFuzzer's thread); no libuv loop is needed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "net/conn.h"
#include "net/dispatch.h"
#include "net/http.h"
#include "core/log.h"
#include "core/metrics.h"
#include "net/router.h"
#include "net/server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sitr_config_t cfg;
static sitr_server_t srv;

static void sink_send(sitr_req_t *req, char *buf, size_t len, int close)
{
    (void)req;
    (void)close;
    if (!buf)
        return;
    if (len < 12 || memcmp(buf, "HTTP/1.1 ", 9) != 0 || buf[9] < '1' || buf[9] > '5')
        abort();
    free(buf);
}

static int sink_will_close(sitr_req_t *req)
{
    return !req->keep_alive || req->early_status;
}

static const sitr_req_io_t sink = {sink_send, sink_will_close, NULL};

/* Reads what the real handlers read, then answers with some of it. */
static int echo(sitr_req_t *req)
{
    const char *names[] = {"case", "id", "status", "after", "limit"};
    json_t *out = json_object();
    if (!out)
        return SITR_ENOMEM;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = sitr_req_param(req, names[i]);
        if (!v)
            v = sitr_req_query(req, names[i]);
        if (v) /* json_string refuses invalid UTF-8 (NULL): a fine answer too */
            json_object_set_new(out, names[i], json_string(v));
    }
    const char *auth = sitr_req_header(req, "Authorization");
    json_object_set_new(out, "auth", json_boolean(auth != NULL));
    json_object_set_new(out, "client", json_string(sitr_req_client_addr(req)));
    if (sitr_req_method(req) == SITR_POST) {
        json_t *body = sitr_req_json_body(req); /* answers 4xx itself when NULL */
        if (!body) {
            json_decref(out);
            return 0;
        }
        json_object_set_new(out, "members", json_integer((json_int_t)json_object_size(body)));
        json_decref(body);
    }
    sitr_req_add_header(req, "X-Path-Bytes", "1");
    sitr_req_reply_json(req, sitr_req_method(req) == SITR_POST ? 201 : 200, out);
    return 0;
}

static const sitr_route_t routes[] = {
    {SITR_POST, "/v1/cases", SITR_AUTH_NONE, SITR_COST_ONE, echo, 0},
    {SITR_GET, "/v1/cases/{case}", SITR_AUTH_NONE, SITR_COST_ONE, echo, 4096},
    {SITR_POST, "/v1/cases/{case}/images", SITR_AUTH_NONE, SITR_COST_ONE, echo, 0},
    {SITR_DELETE, "/v1/cases/{case}", SITR_AUTH_NONE, SITR_COST_ONE, echo, 4096},
    {SITR_POST, "/v1/match", SITR_AUTH_NONE, SITR_COST_ONE, echo, 0},
    {SITR_GET, "/v1/takedowns", SITR_AUTH_NONE, SITR_COST_ONE, echo, 4096},
    {SITR_POST, "/v1/takedowns/{id}", SITR_AUTH_NONE, SITR_COST_ONE, echo, 16384},
    {SITR_DELETE, "/v1/uploads/{id}", SITR_AUTH_PLATFORM, SITR_COST_ONE, echo, 4096},
    {SITR_GET, "/healthz", SITR_AUTH_NONE, SITR_COST_ONE, echo, 1024},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sitr_log_set_level(SITR_LOG_ERROR);
    /* Small limits so that inputs of fuzzing size reach them. */
    cfg.max_header_bytes = 4096;
    cfg.max_body_bytes = 32768;
    cfg.idle_timeout_ms = 1000;
    cfg.trusted_proxy = (char *)"192.0.2.1";
    srv.cfg = &cfg;
    memcpy(srv.instance, "fuzz01", 7);
    srv.router = sitr_router_new();
    srv.metrics = sitr_metrics_new();
    if (!srv.router || !srv.metrics ||
        sitr_router_add(srv.router, routes, sizeof routes / sizeof routes[0]) != 0)
        abort();
    return 0;
}

static void on_req(sitr_req_t *req, void *arg)
{
    (void)arg;
    sitr_dispatch(req);
    if (!sitr_req_answered(req))
        abort(); /* every synchronous request must be answered */
    sitr_http_req_release(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t k = data[0] & 15;
    size_t scale = (data[0] & 0x80) ? 16 : 1;
    if (size < 1 + k)
        return 0;
    size_t lens[17];
    size_t rest = size - 1 - k, n = 0;
    for (size_t i = 0; i < k; i++) {
        size_t want = data[1 + i] * scale;
        if (want > rest)
            want = rest;
        lens[n++] = want;
        rest -= want;
    }
    lens[n++] = rest;
    /* The peer alternates between the trusted proxy and another address so
     * that X-Forwarded-For is both believed and ignored. */
    const char *peer = (data[0] & 0x40) ? "192.0.2.1" : "2001:db8::7";
    sitr_conn_parse_buffer(&srv, peer, (const char *)data + 1 + k, lens, n, &sink, on_req, NULL);
    return 0;
}
