/* Requests (the accessors of req.h) and response serialisation.
 *
 * Every response carries Content-Length, X-Request-Id, nosniff and, unless
 * the handler chose otherwise, Cache-Control: no-store (answers can hold a
 * case secret).  A request is answered at most once; a second answer is a
 * bug in the caller and is logged and dropped.  Answers to a request whose
 * connection is gone are dropped silently.  Each answer is counted in the
 * metrics and logged at info with the route pattern, never the raw path
 * (which may hold a case reference), the query or the client address.
 * Loop thread only. */
#include "net/http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include <uv.h>

#include <sitr/err_service.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "net/server.h"
#include "net/url.h"

#define REQ_ARENA_CAP ((size_t)16 << 20)

uint64_t sitr_http_now_ns(void)
{
    return uv_hrtime();
}

const char *sitr_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

sitr_req_t *sitr_http_req_new(sitr_server_t *srv, const sitr_req_io_t *io, unsigned long conn_id,
                              const char *id, const char *client)
{
    sitr_req_t *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->arena = sitr_arena_new(REQ_ARENA_CAP);
    if (!req->arena) {
        free(req);
        return NULL;
    }
    req->srv = srv;
    req->io = io;
    req->refs = 1;
    req->conn_id = conn_id;
    req->keep_alive = 1;
    req->method = SITR_OTHER;
    req->http_major = 1;
    req->http_minor = 1;
    req->start_ns = sitr_http_now_ns();
    snprintf(req->id, sizeof req->id, "%s", id);
    req->log_ids.conn_id = conn_id;
    req->log_ids.req_id = req->id;
    snprintf(req->client, sizeof req->client, "%s", client ? client : "");
    req->body_cap = srv && srv->cfg ? srv->cfg->max_body_bytes : (size_t)1 << 20;
    return req;
}

static void req_free(sitr_req_t *req)
{
    free(req->body);
    sitr_arena_free(req->arena);
    free(req);
}

const char *sitr_http_req_state_name(sitr_req_state_t s)
{
    switch (s) {
    case SITR_REQ_READING:
        return "reading";
    case SITR_REQ_RUNNING:
        return "running";
    case SITR_REQ_WAITING:
        return "waiting";
    case SITR_REQ_ANSWERED:
        return "answered";
    }
    return "?";
}

void sitr_http_req_set_state(sitr_req_t *req, sitr_req_state_t s)
{
    if (req->state == s)
        return;
    sitr_log(SITR_LOG_DEBUG, &req->log_ids, "request %s -> %s",
             sitr_http_req_state_name(req->state), sitr_http_req_state_name(s));
    req->state = s;
}

void sitr_http_req_retain(sitr_req_t *req)
{
    req->refs++;
}

void sitr_http_req_release(sitr_req_t *req)
{
    if (!req)
        return;
    if (--req->refs == 0)
        req_free(req);
}

void sitr_req_ref(sitr_req_t *req)
{
    req->holders++;
    req->refs++;
}

void sitr_req_unref(sitr_req_t *req)
{
    if (!req)
        return;
    assert(req->holders > 0);
    req->holders--;
    sitr_http_req_release(req);
}

int sitr_req_gone(const sitr_req_t *req)
{
    return req->gone;
}

int sitr_req_answered(const sitr_req_t *req)
{
    return req->state == SITR_REQ_ANSWERED;
}

sitr_server_t *sitr_req_server(sitr_req_t *req)
{
    return req->srv;
}
sitr_arena_t *sitr_req_arena(sitr_req_t *req)
{
    return req->arena;
}
sitr_method_t sitr_req_method(const sitr_req_t *req)
{
    return req->method;
}
const char *sitr_req_path(const sitr_req_t *req)
{
    return req->path ? req->path : "";
}
const char *sitr_req_id(const sitr_req_t *req)
{
    return req->id;
}
const char *sitr_req_client_addr(const sitr_req_t *req)
{
    return req->client;
}
unsigned long sitr_req_conn_id(const sitr_req_t *req)
{
    return req->conn_id;
}
const sitr_log_ids_t *sitr_req_log_ids(const sitr_req_t *req)
{
    return &req->log_ids;
}
int64_t sitr_req_platform_id(const sitr_req_t *req)
{
    return req->platform_id;
}
const char *sitr_req_platform_name(const sitr_req_t *req)
{
    return req->platform_name;
}
int64_t sitr_req_case_id(const sitr_req_t *req)
{
    return req->case_id;
}
const char *sitr_req_case_reference(const sitr_req_t *req)
{
    return req->case_reference;
}

const uint8_t *sitr_req_body(const sitr_req_t *req, size_t *len)
{
    *len = req->body_len;
    return req->body ? req->body : (const uint8_t *)"";
}

const char *sitr_req_header(const sitr_req_t *req, const char *name)
{
    for (int i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *sitr_req_param(const sitr_req_t *req, const char *name)
{
    for (int i = 0; i < req->match.nparams; i++)
        if (strcmp(req->match.names[i], name) == 0)
            return req->match.values[i];
    return NULL;
}

const char *sitr_req_query(const sitr_req_t *req, const char *name)
{
    for (int i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    return NULL;
}

int sitr_req_set_platform(sitr_req_t *req, int64_t id, const char *name)
{
    const char *copy = name ? sitr_arena_strdup(req->arena, name) : NULL;
    if (name && !copy)
        return SITR_ENOMEM;
    req->platform_id = id;
    req->platform_name = copy;
    return 0;
}

int sitr_req_set_case(sitr_req_t *req, int64_t id, const char *reference)
{
    const char *copy = reference ? sitr_arena_strdup(req->arena, reference) : NULL;
    if (reference && !copy)
        return SITR_ENOMEM;
    req->case_id = id;
    req->case_reference = copy;
    return 0;
}

void sitr_http_req_set_early(sitr_req_t *req, int status, const char *code, const char *message)
{
    if (req->early_status)
        return; /* the first problem found is the one reported */
    req->early_status = status;
    req->early_code = code;
    req->early_msg = message;
    req->keep_alive = 0;
}

int sitr_http_req_append_body(sitr_req_t *req, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    if (len > req->body_cap - req->body_len)
        return SITR_ETOOBIG;
    if (req->body_len + len > req->body_alloc) {
        size_t want = req->body_alloc ? req->body_alloc : 4096;
        while (want < req->body_len + len)
            want *= 2;
        if (want > req->body_cap)
            want = req->body_cap;
        uint8_t *p = realloc(req->body, want);
        if (!p)
            return SITR_ENOMEM;
        req->body = p;
        req->body_alloc = want;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    return 0;
}

/* Splits the query string into decoded pairs.  A malformed escape makes the
 * whole request a 400: guessing what the client meant is worse. */
static int parse_query(sitr_req_t *req)
{
    const char *q = req->query_raw;
    if (!q || !*q)
        return 0;
    int n = 1;
    for (const char *p = q; *p; p++)
        n += *p == '&';
    if (n > 64)
        return SITR_ETOOBIG;
    req->query = sitr_arena_alloc(req->arena, (size_t)n * sizeof *req->query);
    if (!req->query)
        return SITR_ENOMEM;
    const char *p = q;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            size_t vlen = eq ? len - nlen - 1 : 0;
            char *name = sitr_arena_alloc(req->arena, nlen + 1);
            char *value = sitr_arena_alloc(req->arena, vlen + 1);
            if (!name || !value)
                return SITR_ENOMEM;
            if (sitr_url_decode(p, nlen, name, 1) < 0 ||
                (eq && sitr_url_decode(eq + 1, vlen, value, 1) < 0))
                return SITR_EINVAL;
            req->query[req->nquery].name = name;
            req->query[req->nquery].value = value;
            req->nquery++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return 0;
}

/* With a trusted reverse proxy in front, the client is the rightmost
 * address of X-Forwarded-For (the one the proxy itself appended); anything
 * further left was written by the client and is not believed. */
static void apply_forwarded_for(sitr_req_t *req)
{
    const sitr_config_t *cfg = req->srv ? req->srv->cfg : NULL;
    if (!cfg || !cfg->trusted_proxy || !cfg->trusted_proxy[0] ||
        strcmp(cfg->trusted_proxy, req->client) != 0)
        return;
    const char *xff = sitr_req_header(req, "X-Forwarded-For");
    if (!xff)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ' || *last == '\t')
        last++;
    char addr[64];
    size_t len = strcspn(last, " \t");
    if (len == 0 || len >= sizeof addr)
        return;
    memcpy(addr, last, len);
    addr[len] = '\0';
    unsigned char bin[16];
    if (inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1)
        snprintf(req->client, sizeof req->client, "%s", addr);
}

int sitr_http_req_route(sitr_req_t *req)
{
    if (req->routed)
        return 0;
    req->routed = 1;
    if (!req->url || req->url[0] != '/') {
        sitr_http_req_set_early(req, 400, "bad_request", "the request target must be a path");
        return SITR_EINVAL;
    }
    char *qm = strchr(req->url, '?');
    if (qm) {
        req->path = sitr_arena_strndup(req->arena, req->url, (size_t)(qm - req->url));
        req->query_raw = qm + 1;
    } else {
        req->path = req->url;
        req->query_raw = NULL;
    }
    if (!req->path) {
        sitr_http_req_set_early(req, 503, "overloaded", "out of memory");
        return SITR_ENOMEM;
    }
    /* Fragments are never sent by conforming clients; drop one if present. */
    char *hash = strchr(req->path, '#');
    if (hash)
        *hash = '\0';
    apply_forwarded_for(req);
    int rc = parse_query(req);
    if (rc < 0) {
        sitr_http_req_set_early(req, 400, "bad_query", "the query string is malformed");
        return rc;
    }
    if (!req->srv || !req->srv->router)
        return 0;
    rc = sitr_router_match(req->srv->router, req->method, req->path, req->arena, &req->match);
    if (rc < 0) {
        sitr_http_req_set_early(req, 400, "bad_path", "the path holds a malformed escape");
        return rc;
    }
    size_t global = req->srv->cfg ? req->srv->cfg->max_body_bytes : req->body_cap;
    req->body_cap = global;
    if (req->match.route && req->match.route->body_cap && req->match.route->body_cap < global)
        req->body_cap = req->match.route->body_cap;
    return 0;
}

void sitr_req_add_header(sitr_req_t *req, const char *name, const char *value)
{
    if (req->state == SITR_REQ_ANSWERED)
        return;
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n") ||
        req->nresp_headers >= SITR_HTTP_MAX_RESP_HEADERS) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req),
                 "response header %s refused (malformed or too many)",
                 strpbrk(name, "\r\n") ? "?" : name);
        return;
    }
    sitr_http_header_t *h = &req->resp_headers[req->nresp_headers];
    h->name = sitr_arena_strdup(req->arena, name);
    h->value = sitr_arena_strdup(req->arena, value);
    if (h->name && h->value)
        req->nresp_headers++;
}

static int has_resp_header(const sitr_req_t *req, const char *name)
{
    for (int i = 0; i < req->nresp_headers; i++)
        if (strcasecmp(req->resp_headers[i].name, name) == 0)
            return 1;
    return 0;
}

static const char *route_label(const sitr_req_t *req)
{
    return req->match.route ? req->match.route->pattern : "unmatched";
}

void sitr_req_reply(sitr_req_t *req, int status, const char *content_type, const void *body,
                    size_t len)
{
    if (req->state == SITR_REQ_ANSWERED) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "second answer (%d) to one request dropped",
                 status);
        return;
    }
    sitr_http_req_set_state(req, SITR_REQ_ANSWERED);
    req->status = status;
    double secs = (double)(sitr_http_now_ns() - req->start_ns) / 1e9;
    if (req->srv && req->srv->metrics)
        sitr_metrics_observe(req->srv->metrics, req->match.route ? req->match.index : 0, status,
                             secs);
    if (req->gone) {
        sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "%s %s %d dropped: client gone (%.1f ms)",
                 sitr_router_method_name(req->method), route_label(req), status, secs * 1e3);
        return;
    }
    int close = req->io && req->io->will_close ? req->io->will_close(req) : !req->keep_alive;
    int no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (no_body)
        len = 0;

    size_t cap = 512 + len;
    for (int i = 0; i < req->nresp_headers; i++)
        cap += strlen(req->resp_headers[i].name) + strlen(req->resp_headers[i].value) + 4;
    if (content_type)
        cap += strlen(content_type);
    char *buf = malloc(cap);
    if (!buf) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "out of memory writing a %d response",
                 status);
        if (req->io)
            req->io->send(req, NULL, 0, 1);
        return;
    }
    size_t n = (size_t)snprintf(buf, cap, "HTTP/1.1 %d %s\r\n", status, sitr_http_reason(status));
    if (content_type && !no_body)
        n += (size_t)snprintf(buf + n, cap - n, "Content-Type: %s\r\n", content_type);
    if (!no_body)
        n += (size_t)snprintf(buf + n, cap - n, "Content-Length: %zu\r\n", len);
    n += (size_t)snprintf(buf + n, cap - n,
                          "X-Request-Id: %s\r\nX-Content-Type-Options: nosniff\r\n", req->id);
    if (!has_resp_header(req, "Cache-Control"))
        n += (size_t)snprintf(buf + n, cap - n, "Cache-Control: no-store\r\n");
    if (close)
        n += (size_t)snprintf(buf + n, cap - n, "Connection: close\r\n");
    else if (req->http_major == 1 && req->http_minor == 0)
        n += (size_t)snprintf(buf + n, cap - n, "Connection: keep-alive\r\n");
    for (int i = 0; i < req->nresp_headers; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s: %s\r\n", req->resp_headers[i].name,
                              req->resp_headers[i].value);
    n += (size_t)snprintf(buf + n, cap - n, "\r\n");
    if (len && req->method != SITR_HEAD) {
        memcpy(buf + n, body, len);
        n += len;
    }
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "%s %s %d %zu bytes %.1f ms",
             sitr_router_method_name(req->method), route_label(req), status, len, secs * 1e3);
    if (req->io)
        req->io->send(req, buf, n, close);
    else
        free(buf);
}

void sitr_req_reply_json(sitr_req_t *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (!text) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "cannot serialise a %d JSON answer",
                 status);
        static const char fallback[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}";
        sitr_req_reply(req, 500, "application/json", fallback, sizeof fallback - 1);
        return;
    }
    size_t len = strlen(text);
    sitr_req_reply(req, status, "application/json", text, len);
    sodium_memzero(text, len); /* it may hold a case secret shown once */
    free(text);
}

void sitr_req_reply_error(sitr_req_t *req, int status, const char *code, const char *message,
                          const char *field)
{
    json_t *inner = json_object();
    json_t *outer = json_object();
    if (!inner || !outer || json_object_set_new(inner, "code", json_string(code)) < 0 ||
        json_object_set_new(inner, "message", json_string(message)) < 0 ||
        (field && json_object_set_new(inner, "field", json_string(field)) < 0) ||
        json_object_set_new(outer, "error", inner) < 0) {
        json_decref(outer);
        sitr_req_reply_json(req, status, NULL);
        return;
    }
    sitr_req_reply_json(req, status, outer);
}

int sitr_req_failure_is_transient(int rc)
{
    switch (rc) {
    case SITR_EBUSY:
    case SITR_ENOMEM:
    case SITR_ETIMEOUT:
    case SITR_EDB:
    case SITR_ECLOSED:
    case SITR_EUNAVAIL:
        return 1;
    default:
        return 0;
    }
}

void sitr_req_reply_failure(sitr_req_t *req, int rc)
{
    if (sitr_req_failure_is_transient(rc)) {
        sitr_req_add_header(req, "Retry-After", "1");
        sitr_req_reply_error(req, 503, "unavailable",
                             "the service is busy or its database is unreachable; retry later",
                             NULL);
    } else {
        sitr_req_reply_error(req, 500, "internal", "internal error", NULL);
    }
}

static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    static const char want[] = "application/json";
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return 0;
    char next = ct[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ';
}

json_t *sitr_req_json_body(sitr_req_t *req)
{
    if (!is_json_type(sitr_req_header(req, "Content-Type"))) {
        sitr_req_reply_error(req, 415, "unsupported_media_type",
                             "the body must be JSON (Content-Type: application/json)", NULL);
        return NULL;
    }
    if (req->body_len == 0) {
        sitr_req_reply_error(req, 400, "malformed_json", "the request body is empty", NULL);
        return NULL;
    }
    json_error_t jerr;
    json_t *root =
        json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jerr.text can quote the input; the client gets only the position. */
        char msg[128];
        snprintf(msg, sizeof msg, "the body is not valid JSON (line %d, column %d)", jerr.line,
                 jerr.column);
        sitr_req_reply_error(req, 400, "malformed_json", msg, NULL);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        sitr_req_reply_error(req, 400, "malformed_json", "the body must be a JSON object", NULL);
        return NULL;
    }
    return root;
}
