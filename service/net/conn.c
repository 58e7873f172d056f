/* HTTP/1.1 connections on libuv with http-parser.
 *
 * Input is appended to a fixed 64 KiB buffer, checked against RFC 9112's
 * strict syntax (framing.c) and parsed at once; each complete message
 * becomes a queued request.  Only the head of the queue is
 * handled; the next one starts when the previous answer's write completes,
 * so answers leave in request order.  The parser is paused (and reading
 * stopped) when SITR_CONN_MAX_PIPELINE requests wait, which bounds memory.
 *
 * Limits found while reading (header bytes -> 431, body bytes -> 413, bad
 * syntax -> 400, slow request -> 408) turn the request into an "early"
 * error that still waits for its turn, then the connection closes.  Closing
 * after an answer shuts down the write side and discards input for a short
 * while, so that the client reads our answer instead of a reset.
 *
 * One timer per connection: while waiting for or receiving a request it
 * fires at the earliest of three deadlines: the idle timeout after the last
 * byte (or the last answer), the head deadline counted from a request's
 * first byte however steadily it trickles in, and, for a body, the minimum
 * average rate after a grace period (receive_deadline).  A client that
 * misses one gets 408 and the connection closes.  While writing it bounds
 * how long the client may take to read, while lingering it bounds the
 * linger.  It is stopped while a handler works (the database has its own
 * timeouts).
 *
 * Each connection counts against its client address (srv->peers); over
 * cfg->max_connections_per_address a new one is answered 429 and closed.
 * A connection from the trusted proxy is counted instead under the
 * forwarded client address of the request it carries, while one is under
 * way.  Loop thread only. */
#include "net/conn.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/ratelimit.h"
#include "net/dispatch.h"
#include "net/framing.h"
#include "net/peers.h"

#define LINGER_MS        2000u
#define LINGER_MAX_BYTES (1u << 20)

/* The input and header buffers hold what clients send, Authorization
 * headers (case secrets, API keys) included, and answers may hold a new
 * case's secret: every such buffer is wiped before it goes back to the
 * allocator (docs/SECURITY.md). */
static void wipe_free(void *p, size_t n)
{
    if (p)
        sodium_memzero(p, n);
    free(p);
}

typedef struct write_req {
    uv_write_t w;
    char *buf;
    size_t len;
} write_req_t;

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void parse_input(sitr_conn_t *c);
static void maybe_dispatch(sitr_conn_t *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_timer(uv_timer_t *t);
static void arm_receive_timer(sitr_conn_t *c);
static void io_send(sitr_req_t *req, char *buf, size_t len, int close);
static int io_will_close(sitr_req_t *req);

const char *sitr_conn_state_name(sitr_conn_state_t s)
{
    switch (s) {
    case SITR_CONN_IDLE:
        return "idle";
    case SITR_CONN_RECEIVING:
        return "receiving";
    case SITR_CONN_BUSY:
        return "busy";
    case SITR_CONN_LINGER:
        return "linger";
    case SITR_CONN_CLOSING:
        return "closing";
    }
    return "?";
}

static void set_state(sitr_conn_t *c, sitr_conn_state_t s)
{
    if (c->state == s)
        return;
    sitr_log_conn(SITR_LOG_DEBUG, c->id, "state %s -> %s", sitr_conn_state_name(c->state),
                  sitr_conn_state_name(s));
    c->state = s;
}

static uint64_t idle_ms(const sitr_conn_t *c)
{
    return c->srv->cfg ? c->srv->cfg->idle_timeout_ms : 30000;
}

static uint64_t now_ms(const sitr_conn_t *c)
{
    return c->srv->loop ? uv_now(c->srv->loop) : 0;
}

static unsigned per_address_cap(const sitr_conn_t *c)
{
    return c->srv->cfg ? c->srv->cfg->max_connections_per_address : 0;
}

/* Gives back the connection's count in srv->peers, if it holds one. */
static void release_peer(sitr_conn_t *c)
{
    if (!c->counted)
        return;
    sitr_peers_remove(c->srv->peers, c->peer_key);
    c->counted = 0;
}

/* Counts the connection under key (the peer, or a forwarded client);
 * returns -1 when the address already has its cap of connections.  Counted
 * even without a cap: eviction at the connection limit uses the counts. */
static int count_peer(sitr_conn_t *c, const uint8_t key[16])
{
    unsigned cap = per_address_cap(c);
    if (!c->srv->peers || (c->counted && memcmp(key, c->peer_key, 16) == 0))
        return 0;
    release_peer(c);
    if (cap && sitr_peers_count(c->srv->peers, key) >= cap) {
        c->srv->counters.address_limited++;
        return -1;
    }
    /* Out of memory: the connection goes uncounted rather than refused. */
    if (sitr_peers_add(c->srv->peers, key) == 0) {
        memcpy(c->peer_key, key, 16);
        c->counted = 1;
    }
    return 0;
}

static void update_reading(sitr_conn_t *c)
{
    int want;
    if (c->state == SITR_CONN_CLOSING)
        want = 0;
    else if (c->state == SITR_CONN_LINGER)
        want = !c->peer_eof;
    else
        want = !c->parse_dead && !c->paused && !c->peer_eof;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h)
{
    sitr_conn_t *c = h->data;
    if (--c->handles > 0)
        return;
    wipe_free(c->in, SITR_CONN_INBUF);
    wipe_free(c->hbuf, c->hcap);
    /* The connection linked itself into the server's list at accept; it
     * unlinks itself here, then tells the server (shutdown may be done). */
    sitr_server_t *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    if (c->overflow)
        srv->noverflow--;
    else
        srv->nclosing--;
    release_peer(c);
    sitr_log_conn(SITR_LOG_DEBUG, c->id, "closed");
    free(c);
    sitr_server_conn_closed(srv);
}

/* A connection the server never linked: freed with its last handle. */
static void on_unlinked_closed(uv_handle_t *h)
{
    sitr_conn_t *c = h->data;
    if (--c->handles == 0)
        free(c);
}

static void drop_req(sitr_req_t *req)
{
    req->gone = 1;
    sitr_http_req_release(req);
}

void sitr_conn_close(sitr_conn_t *c)
{
    if (c->state == SITR_CONN_CLOSING)
        return;
    set_state(c, SITR_CONN_CLOSING);
    if (!c->overflow)
        c->srv->nclosing++;
    uv_timer_stop(&c->timer);
    if (c->active) {
        drop_req(c->active);
        c->active = NULL;
    }
    while (c->qhead) {
        sitr_req_t *r = c->qhead;
        c->qhead = r->next;
        drop_req(r);
    }
    c->qtail = NULL;
    c->qlen = 0;
    if (c->cur) {
        drop_req(c->cur);
        c->cur = NULL;
    }
    c->reading = 0;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *s, int status)
{
    sitr_conn_t *c = s->data;
    if (status < 0 && status != UV_ECANCELED)
        sitr_conn_close(c);
}

/* The last answer has been written: send FIN and read (discarding) until the
 * peer closes or the linger time passes.  Closing with unread input would
 * make the kernel send a reset that can destroy our answer in flight. */
static void begin_linger(sitr_conn_t *c)
{
    set_state(c, SITR_CONN_LINGER);
    c->shutdown.data = c;
    if (c->peer_eof || uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        sitr_conn_close(c);
        return;
    }
    c->inlen = 0;
    uint64_t ms = idle_ms(c) < LINGER_MS ? idle_ms(c) : LINGER_MS;
    uv_timer_start(&c->timer, on_timer, ms, 0);
    update_reading(c);
}

void sitr_conn_drain(sitr_conn_t *c)
{
    if (c->state == SITR_CONN_CLOSING || c->state == SITR_CONN_LINGER)
        return;
    if (c->cur) {
        /* A request is arriving: it is in flight too.  Let it finish (the
         * idle timer and the shutdown timeout still bound it); nothing after
         * it is parsed (see on_message_complete). */
        return;
    }
    c->parse_dead = 1;
    update_reading(c);
    if (!c->active && !c->writing && !c->qhead)
        sitr_conn_close(c);
}

/* ---- requests ---- */

static sitr_req_t *new_req(sitr_conn_t *c)
{
    char id[32];
    snprintf(id, sizeof id, "%s-%lu", c->srv->instance, ++c->srv->next_req);
    return sitr_http_req_new(c->srv, &c->io, c->id, id, c->peer);
}

static void enqueue(sitr_conn_t *c, sitr_req_t *req)
{
    req->next = NULL;
    if (c->qtail)
        c->qtail->next = req;
    else
        c->qhead = req;
    c->qtail = req;
    c->qlen++;
}

/* Turns the request being read (or a new one) into an error answered in its
 * turn; nothing more is parsed on this connection. */
static int fail_current(sitr_conn_t *c, int status, const char *code, const char *msg)
{
    if (!c->cur)
        c->cur = new_req(c);
    if (!c->cur) {
        c->parse_dead = 1;
        return -1;
    }
    sitr_http_req_set_early(c->cur, status, code, msg);
    enqueue(c, c->cur);
    c->cur = NULL;
    c->parse_dead = 1;
    c->rx = SITR_CONN_RX_NONE;
    return -1;
}

static int hbuf_append(sitr_conn_t *c, const char *at, size_t len)
{
    if (c->hlen + len + 1 > c->hcap) {
        size_t want = c->hcap ? c->hcap : 1024;
        while (want < c->hlen + len + 1)
            want *= 2;
        /* Not realloc: the old block must be wiped, not left behind. */
        char *p = malloc(want);
        if (!p)
            return -1;
        if (c->hlen)
            memcpy(p, c->hbuf, c->hlen);
        wipe_free(c->hbuf, c->hcap);
        c->hbuf = p;
        c->hcap = want;
    }
    memcpy(c->hbuf + c->hlen, at, len);
    c->hlen += len;
    return 0;
}

static size_t max_header_bytes(const sitr_conn_t *c)
{
    return c->srv->cfg ? c->srv->cfg->max_header_bytes : 16384;
}

static int count_header_bytes(sitr_conn_t *c, size_t len)
{
    c->hdr_bytes += len;
    if (c->hdr_bytes > max_header_bytes(c))
        return fail_current(c, 431, "headers_too_large",
                            "the request line and headers exceed the limit");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    sitr_conn_t *c = p->data;
    c->cur = new_req(c);
    if (!c->cur)
        return fail_current(c, 503, "overloaded", "out of memory");
    if (c->hlen)
        sodium_memzero(c->hbuf, c->hlen); /* the previous message's headers */
    c->hlen = 0;
    c->hdr_bytes = 0;
    c->nh = 0;
    c->last_value = 0;
    if (c->state == SITR_CONN_IDLE)
        set_state(c, SITR_CONN_RECEIVING);
    if (c->rx == SITR_CONN_RX_NONE) { /* a pipelined request, parsed after the previous one */
        c->rx = SITR_CONN_RX_HEAD;
        c->rx_since_ms = now_ms(c);
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    sitr_conn_t *c = p->data;
    if (count_header_bytes(c, len) < 0)
        return -1;
    return hbuf_append(c, at, len) < 0 ? fail_current(c, 503, "overloaded", "out of memory") : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    sitr_conn_t *c = p->data;
    if (count_header_bytes(c, len + 4) < 0)
        return -1;
    if (c->nh == 0 || c->last_value) {
        /* A new header starts: terminate the previous string (url or value). */
        if (c->nh / 2 >= SITR_HTTP_MAX_HEADERS)
            return fail_current(c, 431, "headers_too_large", "too many header fields");
        if (hbuf_append(c, "", 1) < 0)
            return fail_current(c, 503, "overloaded", "out of memory");
        c->hoff[c->nh++] = (int)c->hlen;
        c->last_value = 0;
    }
    return hbuf_append(c, at, len) < 0 ? fail_current(c, 503, "overloaded", "out of memory") : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    sitr_conn_t *c = p->data;
    if (count_header_bytes(c, len) < 0)
        return -1;
    if (!c->last_value) {
        if (hbuf_append(c, "", 1) < 0)
            return fail_current(c, 503, "overloaded", "out of memory");
        c->hoff[c->nh++] = (int)c->hlen;
        c->last_value = 1;
    }
    return hbuf_append(c, at, len) < 0 ? fail_current(c, 503, "overloaded", "out of memory") : 0;
}

static void on_interim_written(uv_write_t *w, int status)
{
    (void)status; /* a failure shows up again on the real answer */
    free(w);
}

static sitr_method_t map_method(unsigned m)
{
    switch (m) {
    case HTTP_GET:
        return SITR_GET;
    case HTTP_HEAD:
        return SITR_HEAD;
    case HTTP_POST:
        return SITR_POST;
    case HTTP_PUT:
        return SITR_PUT;
    case HTTP_DELETE:
        return SITR_DELETE;
    case HTTP_OPTIONS:
        return SITR_OPTIONS;
    default:
        return SITR_OTHER;
    }
}

static void trim_right(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

static int on_headers_complete(http_parser *p)
{
    sitr_conn_t *c = p->data;
    sitr_req_t *req = c->cur;
    if (hbuf_append(c, "", 1) < 0)
        return fail_current(c, 503, "overloaded", "out of memory");
    if (c->nh % 2) /* a field without a value */
        c->hoff[c->nh++] = (int)c->hlen - 1;
    req->method = map_method(p->method);
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    /* The strings move into the arena: the header buffer is reused by the
     * next pipelined message while this request waits. */
    req->url = sitr_arena_strndup(req->arena, c->hbuf, strlen(c->hbuf));
    if (!req->url)
        return fail_current(c, 503, "overloaded", "out of memory");
    for (int i = 0; i + 1 < c->nh; i += 2) {
        char *name = sitr_arena_strdup(req->arena, c->hbuf + c->hoff[i]);
        char *value = sitr_arena_strdup(req->arena, c->hbuf + c->hoff[i + 1]);
        if (!name || !value)
            return fail_current(c, 503, "overloaded", "out of memory");
        trim_right(value);
        req->headers[req->nheaders].name = name;
        req->headers[req->nheaders].value = value;
        req->nheaders++;
    }
    const char *problem =
        sitr_framing_check_head(req->headers, req->nheaders, req->http_major, req->http_minor);
    if (problem) {
        c->srv->counters.strict_refused++;
        return fail_current(c, 400, "bad_request", problem);
    }
    if (sitr_http_req_route(req) < 0)
        return fail_current(c, 400, req->early_code, req->early_msg);
    if (c->via_proxy) {
        /* Routing read X-Forwarded-For: req->client is who the proxy
         * speaks for. */
        uint8_t key[16];
        sitr_ratelimit_address_key(req->client, key);
        if (count_peer(c, key) < 0)
            return fail_current(c, 429, "too_many_connections",
                                "too many connections from this address; retry later");
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > req->body_cap)
        return fail_current(c, 413, "body_too_large", "the request body exceeds the limit");
    const char *expect = sitr_req_header(req, "Expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return fail_current(c, 400, "bad_request", "unsupported Expect header");
        /* Only when nothing is ahead of it: an interim answer must not land
         * in the middle of another request's answer. */
        if (!c->detached && !c->active && !c->writing && !c->qhead) {
            write_req_t *w = calloc(1, sizeof *w);
            if (w) {
                uv_buf_t b = uv_buf_init((char *)continue_line, sizeof continue_line - 1);
                w->w.data = c;
                if (uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, on_interim_written) < 0)
                    free(w);
            }
        }
    }
    sitr_framing_body(&c->framing, (p->flags & F_CHUNKED) != 0,
                      (p->flags & F_CONTENTLENGTH) ? p->content_length : 0);
    c->rx = SITR_CONN_RX_BODY;
    c->rx_since_ms = now_ms(c);
    c->rx_body_bytes = 0;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    sitr_conn_t *c = p->data;
    c->rx_body_bytes += len;
    int rc = sitr_http_req_append_body(c->cur, at, len);
    if (rc == SITR_ETOOBIG)
        return fail_current(c, 413, "body_too_large", "the request body exceeds the limit");
    if (rc < 0)
        return fail_current(c, 503, "overloaded", "out of memory");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    sitr_conn_t *c = p->data;
    sitr_req_t *req = c->cur;
    req->keep_alive = http_should_keep_alive(p) != 0;
    enqueue(c, req);
    c->cur = NULL;
    c->rx = SITR_CONN_RX_NONE;
    if (!req->keep_alive || c->srv->stopping) {
        /* Whatever follows a "Connection: close" request is not for us, nor
         * anything sent after shutdown began. */
        c->parse_dead = 1;
        http_parser_pause(p, 1);
        c->paused = 1;
    } else if (c->qlen >= SITR_CONN_MAX_PIPELINE) {
        http_parser_pause(p, 1);
        c->paused = 1;
    }
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Bytes go to http-parser only once the strict syntax check (framing.c) has
 * passed them: c->checked of the c->inlen bytes are known good.  The check
 * stops after each request head until on_headers_complete gives it the
 * body's framing, so the parser must have taken the whole head by then.  A
 * refused byte is reported only after the parser has taken everything
 * before it: the requests ahead of it are still answered, in order. */
static void parse_input(sitr_conn_t *c)
{
    while (c->inlen > 0 && !c->parse_dead && !c->paused) {
        if (c->checked < c->inlen)
            c->checked += sitr_framing_scan(&c->framing, c->in + c->checked, c->inlen - c->checked);
        if (c->checked == 0) {
            /* Nothing passed the check: a refused byte, or a head the parser
             * did not see end (they disagree; never guess). */
            const char *why =
                c->framing.error ? c->framing.error : "the request is not valid HTTP/1.1";
            sitr_log_conn(SITR_LOG_DEBUG, c->id, "strict syntax: %s", why);
            c->srv->counters.strict_refused++;
            fail_current(c, 400, "bad_request", why);
            break;
        }
        size_t n = http_parser_execute(&c->parser, &settings, c->in, c->checked);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (n > c->checked)
            n = c->checked;
        memmove(c->in, c->in + n, c->inlen - n);
        c->inlen -= n;
        c->checked -= n;
        if (e == HPE_PAUSED)
            break;
        if (e != HPE_OK) {
            if (!c->parse_dead) {
                if (e == HPE_HEADER_OVERFLOW)
                    fail_current(c, 431, "headers_too_large",
                                 "the request line and headers exceed the limit");
                else
                    fail_current(c, 400, "bad_request", "the request is not valid HTTP/1.1");
                sitr_log_conn(SITR_LOG_DEBUG, c->id, "parse error: %s", http_errno_name(e));
            }
            break;
        }
    }
    if (c->parse_dead) {
        c->inlen = 0;
        c->checked = 0;
    }
}

/* ---- deadlines ---- */

typedef enum deadline_kind { DL_IDLE, DL_HEAD, DL_BODY } deadline_kind_t;

/* When the request being received must be in by, and which rule says so:
 * the idle timeout after the last activity, the head timeout from the
 * head's first byte, or, for a body, the grace period plus the time its
 * bytes so far are worth at the minimum rate. */
static uint64_t receive_deadline(const sitr_conn_t *c, deadline_kind_t *kind)
{
    const sitr_config_t *cfg = c->srv->cfg;
    uint64_t d = c->active_ms + idle_ms(c);
    *kind = DL_IDLE;
    if (!cfg)
        return d;
    if (c->rx == SITR_CONN_RX_HEAD) {
        uint64_t h = c->rx_since_ms + cfg->head_timeout_ms;
        if (h < d) {
            d = h;
            *kind = DL_HEAD;
        }
    } else if (c->rx == SITR_CONN_RX_BODY && cfg->min_body_rate) {
        uint64_t b =
            c->rx_since_ms + cfg->body_grace_ms + c->rx_body_bytes * 1000 / cfg->min_body_rate;
        if (b < d) {
            d = b;
            *kind = DL_BODY;
        }
    }
    return d;
}

static void arm_receive_timer(sitr_conn_t *c)
{
    deadline_kind_t kind;
    uint64_t d = receive_deadline(c, &kind), now = now_ms(c);
    uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}

/* ---- answers ---- */

static int io_will_close(sitr_req_t *req)
{
    sitr_conn_t *c = req->io->arg;
    return !req->keep_alive || req->early_status ||
           (!c->qhead && (c->peer_eof || c->parse_dead || (c->srv->stopping && !c->cur)));
}

static void on_write(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    sitr_conn_t *c = w->data;
    /* An answer may carry a case secret shown once (POST /v1/cases). */
    sodium_memzero(wr->buf, wr->len);
    free(wr->buf);
    free(wr);
    c->writing = 0;
    if (c->state == SITR_CONN_CLOSING)
        return;
    uv_timer_stop(&c->timer);
    if (status < 0) {
        sitr_log_conn(SITR_LOG_DEBUG, c->id, "write failed: %s", uv_strerror(status));
        sitr_conn_close(c);
        return;
    }
    if (c->close_after) {
        begin_linger(c);
        return;
    }
    maybe_dispatch(c);
}

static void io_send(sitr_req_t *req, char *buf, size_t len, int close)
{
    sitr_conn_t *c = req->io->arg;
    if (req == c->active) {
        c->active = NULL;
        sitr_http_req_release(req);
    }
    if (!buf) {
        sitr_conn_close(c);
        return;
    }
    if (close) {
        c->close_after = 1;
        c->parse_dead = 1;
        update_reading(c);
    }
    write_req_t *wr = calloc(1, sizeof *wr);
    if (!wr) {
        wipe_free(buf, len);
        sitr_conn_close(c);
        return;
    }
    wr->buf = buf;
    wr->len = len;
    wr->w.data = c;
    uv_buf_t b = uv_buf_init(buf, (unsigned)len);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        wipe_free(buf, len);
        free(wr);
        sitr_conn_close(c);
        return;
    }
    c->writing = 1;
    /* A client that does not read its answer is as slow as one that does
     * not send its request. */
    uv_timer_start(&c->timer, on_timer, idle_ms(c), 0);
}

static void maybe_dispatch(sitr_conn_t *c)
{
    if (c->state == SITR_CONN_CLOSING || c->state == SITR_CONN_LINGER)
        return;
    if (c->active || c->writing)
        return;
    if (c->qhead) {
        sitr_req_t *req = c->qhead;
        c->qhead = req->next;
        if (!c->qhead)
            c->qtail = NULL;
        c->qlen--;
        req->next = NULL;
        c->active = req;
        uv_timer_stop(&c->timer);
        set_state(c, SITR_CONN_BUSY);
        if (c->paused && !c->parse_dead && c->qlen < SITR_CONN_MAX_PIPELINE) {
            http_parser_pause(&c->parser, 0);
            c->paused = 0;
            parse_input(c);
            update_reading(c);
        }
        sitr_dispatch(req);
        return;
    }
    if (c->close_after || c->peer_eof || c->parse_dead || (c->srv->stopping && !c->cur)) {
        if (c->close_after || c->srv->stopping)
            begin_linger(c);
        else
            sitr_conn_close(c);
        return;
    }
    if (c->paused) {
        http_parser_pause(&c->parser, 0);
        c->paused = 0;
        parse_input(c);
        if (c->qhead) {
            maybe_dispatch(c);
            return;
        }
    }
    set_state(c, c->cur ? SITR_CONN_RECEIVING : SITR_CONN_IDLE);
    if (c->inlen == 0 && !c->cur) {
        /* Idle keep-alive connections hold no input buffer. */
        wipe_free(c->in, SITR_CONN_INBUF);
        c->in = NULL;
        /* A proxy's idle connection speaks for nobody. */
        if (c->via_proxy)
            release_peer(c);
    }
    c->active_ms = now_ms(c);
    arm_receive_timer(c);
    update_reading(c);
}

/* ---- libuv callbacks ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    sitr_conn_t *c = h->data;
    if (!c->in)
        c->in = malloc(SITR_CONN_INBUF);
    if (!c->in) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    if (c->state == SITR_CONN_LINGER)
        c->inlen = 0;
    *buf = uv_buf_init(c->in + c->inlen, (unsigned)(SITR_CONN_INBUF - c->inlen));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    sitr_conn_t *c = s->data;
    if (nread == 0 || c->state == SITR_CONN_CLOSING)
        return;
    if (c->state == SITR_CONN_LINGER) {
        if (nread < 0) {
            sitr_conn_close(c);
            return;
        }
        c->linger_bytes += (size_t)nread;
        if (c->linger_bytes > LINGER_MAX_BYTES)
            sitr_conn_close(c);
        return;
    }
    if (nread == UV_ENOBUFS) {
        update_reading(c);
        return;
    }
    if (nread == UV_EOF) {
        c->peer_eof = 1;
        update_reading(c);
        if (c->cur) { /* a request cut short: nothing to answer */
            drop_req(c->cur);
            c->cur = NULL;
        }
        if (!c->active && !c->writing && !c->qhead)
            sitr_conn_close(c);
        return;
    }
    if (nread < 0) {
        sitr_log_conn(SITR_LOG_DEBUG, c->id, "read failed: %s", uv_strerror((int)nread));
        sitr_conn_close(c);
        return;
    }
    c->active_ms = now_ms(c);
    if (c->rx == SITR_CONN_RX_NONE) { /* the first byte of a request head */
        c->rx = SITR_CONN_RX_HEAD;
        c->rx_since_ms = c->active_ms;
    }
    c->inlen += (size_t)nread;
    parse_input(c);
    update_reading(c);
    maybe_dispatch(c);
}

static void on_timer(uv_timer_t *t)
{
    sitr_conn_t *c = t->data;
    switch (c->state) {
    case SITR_CONN_LINGER:
        sitr_conn_close(c);
        return;
    case SITR_CONN_CLOSING:
        return;
    default:
        break;
    }
    if (c->writing) {
        sitr_log_conn(SITR_LOG_INFO, c->id, "client too slow to read its answer: closing");
        sitr_conn_close(c);
        return;
    }
    if (c->active || c->qhead)
        return;
    deadline_kind_t kind;
    if (now_ms(c) < receive_deadline(c, &kind)) {
        arm_receive_timer(c); /* a deadline moved (a body's bytes buy time) */
        return;
    }
    const char *msg = "the request was not received in time";
    if (kind == DL_HEAD) {
        c->srv->counters.head_timeouts++;
        msg = "the request line and headers were not received in time";
    } else if (kind == DL_BODY) {
        c->srv->counters.body_too_slow++;
        msg = "the request body arrived too slowly";
    } else if (c->cur || c->inlen > 0) {
        c->srv->counters.idle_timeouts++;
    }
    if (c->cur || c->inlen > 0) {
        sitr_log_conn(SITR_LOG_INFO, c->id, "%s: 408", msg);
        fail_current(c, 408, "request_timeout", msg);
        update_reading(c);
        maybe_dispatch(c);
        return;
    }
    /* Nothing to answer: idle, or only empty lines sent. */
    sitr_log_conn(SITR_LOG_DEBUG, c->id, kind == DL_HEAD ? "head timeout" : "idle timeout");
    sitr_conn_close(c);
}

static void peer_name(sitr_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    c->peer[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    } else if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
        if (strncmp(c->peer, "::ffff:", 7) == 0 && strchr(c->peer + 7, '.'))
            memmove(c->peer, c->peer + 7, strlen(c->peer + 7) + 1);
    }
}

sitr_conn_t *sitr_conn_accept(sitr_server_t *srv, uv_stream_t *listener, int overflow)
{
    sitr_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    c->io.send = io_send;
    c->io.will_close = io_will_close;
    c->io.arg = c;
    if (uv_tcp_init(srv->loop, &c->tcp) < 0) {
        free(c);
        return NULL;
    }
    c->tcp.data = c;
    c->handles = 1;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 ||
        uv_timer_init(srv->loop, &c->timer) < 0) {
        /* Only the TCP handle exists and the server does not know the
         * connection: close and free it quietly. */
        c->state = SITR_CONN_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_unlinked_closed);
        return NULL;
    }
    c->timer.data = c;
    c->handles = 2;
    peer_name(c);
    const sitr_config_t *cfg = srv->cfg;
    c->via_proxy = cfg && cfg->trusted_proxy && cfg->trusted_proxy[0] &&
                   strcmp(cfg->trusted_proxy, c->peer) == 0;
    int limited = 0;
    if (!overflow && !c->via_proxy) {
        uint8_t key[16];
        sitr_ratelimit_address_key(c->peer, key);
        limited = count_peer(c, key) < 0;
        if (limited && srv->noverflow >= SITR_SERVER_MAX_OVERFLOW) {
            /* Too many being refused already: close without a word. */
            c->state = SITR_CONN_CLOSING;
            uv_close((uv_handle_t *)&c->timer, on_unlinked_closed);
            uv_close((uv_handle_t *)&c->tcp, on_unlinked_closed);
            return NULL;
        }
        if (limited)
            overflow = 1;
    }
    c->overflow = overflow != 0;
    /* Linked from here on; on_handle_closed unlinks it. */
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (overflow)
        srv->noverflow++;
    if (srv->metrics)
        sitr_metrics_conn_opened(srv->metrics);
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    sitr_framing_init(&c->framing);
    c->active_ms = now_ms(c);
    if (srv->nconns > srv->conn_peak)
        srv->conn_peak = srv->nconns;
    sitr_log_conn(SITR_LOG_DEBUG, c->id, "accepted");
    if (overflow) {
        if (limited)
            fail_current(c, 429, "too_many_connections",
                         "too many connections from this address; retry later");
        else
            fail_current(c, 503, "overloaded", "too many connections; retry later");
        maybe_dispatch(c);
        update_reading(c);
        return c;
    }
    arm_receive_timer(c);
    update_reading(c);
    return c;
}

/* A request head still arriving after this long, or a body arriving slower
 * than the minimum rate for this long (its grace period does not count
 * then), may be cut at the connection limit: real clients send their head
 * in one round trip and their body at network speed. */
#define EVICT_SLOW_MS 1000

/* How much c deserves to be the one closed at the connection limit: 0 if
 * it must not be (a request is being handled, queued, answered, or
 * arriving at a fair pace), else higher for an address holding more
 * connections (so a client with one connection is the last to lose it to
 * a crowd of them), then for an idle one over a slow head over a slow
 * body. */
static uint64_t eviction_score(const sitr_conn_t *c, uint64_t now)
{
    if (c->overflow || c->active || c->writing || c->qhead || c->close_after ||
        (c->state != SITR_CONN_IDLE && c->state != SITR_CONN_RECEIVING))
        return 0;
    const sitr_config_t *cfg = c->srv->cfg;
    uint64_t age = now - c->rx_since_ms, kind;
    if (c->rx == SITR_CONN_RX_NONE && !c->cur && c->inlen == 0)
        kind = 3;
    else if (c->rx == SITR_CONN_RX_HEAD && age >= EVICT_SLOW_MS)
        kind = 2;
    else if (c->rx == SITR_CONN_RX_BODY && age >= EVICT_SLOW_MS && cfg && cfg->min_body_rate &&
             c->rx_body_bytes * 1000 < age * cfg->min_body_rate)
        kind = 1;
    else
        return 0;
    uint64_t n = c->counted ? sitr_peers_count(c->srv->peers, c->peer_key) : 1;
    return n * 4 + kind;
}

static uint64_t waiting_since(const sitr_conn_t *c)
{
    return c->rx == SITR_CONN_RX_NONE ? c->active_ms : c->rx_since_ms;
}

int sitr_conn_evict(sitr_server_t *srv)
{
    sitr_conn_t *victim = NULL;
    uint64_t best = 0, now = uv_now(srv->loop);
    for (sitr_conn_t *c = srv->conns; c; c = c->next) {
        uint64_t score = eviction_score(c, now);
        /* Ties: the one idle (or arriving) for longest; the list runs from
         * the newest connection, so "<=" ends on the oldest. */
        if (score &&
            (score > best || (score == best && waiting_since(c) <= waiting_since(victim)))) {
            victim = c;
            best = score;
        }
    }
    if (!victim)
        return 0;
    int idle = victim->rx == SITR_CONN_RX_NONE;
    if (idle)
        srv->counters.evicted_idle++;
    else if (victim->rx == SITR_CONN_RX_HEAD)
        srv->counters.evicted_slow_head++;
    else
        srv->counters.evicted_slow_body++;
    sitr_log_conn(SITR_LOG_DEBUG, victim->id, "closed at the connection limit (%s)",
                  idle                              ? "idle"
                  : victim->rx == SITR_CONN_RX_HEAD ? "slow head"
                                                    : "slow body");
    sitr_conn_close(victim);
    return 1;
}

/* ---- parsing without a socket (tests, fuzzing) ---- */

/* What maybe_dispatch does with the queue, minus the socket: hand each
 * request over in order and resume a parser paused by a full queue. */
static size_t hand_over(sitr_conn_t *c, const sitr_req_io_t *io,
                        void (*on_req)(sitr_req_t *req, void *arg), void *arg)
{
    size_t n = 0;
    while (c->qhead) {
        sitr_req_t *req = c->qhead;
        c->qhead = req->next;
        if (!c->qhead)
            c->qtail = NULL;
        c->qlen--;
        req->next = NULL;
        req->io = io;
        on_req(req, arg);
        n++;
        if (c->paused && !c->parse_dead && c->qlen < SITR_CONN_MAX_PIPELINE) {
            http_parser_pause(&c->parser, 0);
            c->paused = 0;
            parse_input(c);
        }
    }
    return n;
}

size_t sitr_conn_parse_buffer(sitr_server_t *srv, const char *peer, const char *data,
                              const size_t *lens, size_t npieces, const sitr_req_io_t *io,
                              void (*on_req)(sitr_req_t *req, void *arg), void *arg)
{
    sitr_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return 0;
    c->in = malloc(SITR_CONN_INBUF);
    if (!c->in) {
        free(c);
        return 0;
    }
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    c->detached = 1;
    snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "");
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    sitr_framing_init(&c->framing);
    size_t handed = 0;
    for (size_t i = 0; i < npieces && !c->parse_dead; i++) {
        size_t len = lens[i];
        /* One read fills at most the free part of the buffer, as in
         * on_alloc; the rest arrives with the next read. */
        while (len > 0 && !c->parse_dead) {
            size_t room = SITR_CONN_INBUF - c->inlen;
            if (room == 0)
                break; /* a connection stops reading here (paused, full) */
            size_t n = len < room ? len : room;
            memcpy(c->in + c->inlen, data, n);
            c->inlen += n;
            data += n;
            len -= n;
            parse_input(c);
            handed += hand_over(c, io, on_req, arg);
        }
        if (len > 0)
            break;
    }
    handed += hand_over(c, io, on_req, arg);
    if (c->cur) { /* cut short: nothing to answer, as on EOF */
        drop_req(c->cur);
        c->cur = NULL;
    }
    wipe_free(c->in, SITR_CONN_INBUF);
    wipe_free(c->hbuf, c->hcap);
    free(c);
    return handed;
}
