/* One client TCP connection: parsing, pipelining queue, timers, writes.
 *
 * Requests are parsed as bytes arrive and queued; they are handled strictly
 * one at a time in arrival order, the next one only once the previous answer
 * has been handed to the kernel, so pipelined answers can never overtake each
 * other.  The struct lives inside the server's list and is freed only in the
 * close callback of its last libuv handle.  Loop thread only. */
#ifndef SITR_CONN_H
#define SITR_CONN_H

#include <http_parser.h>
#include <uv.h>

#include "net/framing.h"
#include "net/http.h"
#include "net/server.h"

typedef enum sitr_conn_state {
    SITR_CONN_IDLE = 0,  /* waiting for a request; the idle timer runs */
    SITR_CONN_RECEIVING, /* part of a request is in; the same timer runs */
    SITR_CONN_BUSY,      /* a request is being handled or its answer written */
    SITR_CONN_LINGER,    /* last answer sent, write side shut, discarding input */
    SITR_CONN_CLOSING    /* uv_close called; waiting for the close callbacks */
} sitr_conn_state_t;

/* What is arriving, for the head deadline and the body rate. */
typedef enum sitr_conn_rx {
    SITR_CONN_RX_NONE = 0, /* nothing of a request yet */
    SITR_CONN_RX_HEAD,     /* bytes of a request line or headers */
    SITR_CONN_RX_BODY      /* the head is in; its body is arriving */
} sitr_conn_rx_t;

#define SITR_CONN_INBUF        (64 * 1024)
#define SITR_CONN_MAX_PIPELINE 32

struct sitr_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    sitr_server_t *srv;
    sitr_conn_t *prev, *next; /* server list */
    unsigned long id;
    sitr_conn_state_t state;
    int handles; /* open libuv handles; freed at 0 */
    sitr_req_io_t io;

    http_parser parser;
    sitr_framing_t framing; /* the strict syntax check ahead of the parser */
    char *in;               /* unparsed input, SITR_CONN_INBUF bytes, NULL while idle */
    size_t inlen;
    size_t checked;            /* the first bytes of in that passed the strict check */
    sitr_req_t *cur;           /* request being parsed */
    sitr_req_t *qhead, *qtail; /* parsed, waiting for their turn */
    unsigned qlen;
    sitr_req_t *active; /* being handled; answered when it leaves */

    /* headers of the message being parsed: "url\0name\0value\0name\0value\0..." */
    char *hbuf;
    size_t hlen, hcap, hdr_bytes;
    int hoff[2 * SITR_HTTP_MAX_HEADERS];
    int nh;         /* header name/value strings started */
    int last_value; /* last callback was a header value */

    /* slow clients (conn.c, on_timer): times are uv_now milliseconds */
    sitr_conn_rx_t rx;
    uint64_t active_ms;     /* last byte read, or last time ready for a request */
    uint64_t rx_since_ms;   /* when the current head, or body, began */
    uint64_t rx_body_bytes; /* body bytes received so far */
    uint8_t peer_key[16];   /* counted in srv->peers under this key (counted set) */

    size_t linger_bytes;
    unsigned reading : 1, paused : 1, parse_dead : 1, peer_eof : 1, close_after : 1, writing : 1,
        overflow : 1, detached : 1, /* detached: no socket (parse_buffer) */
        counted : 1,                /* holds one count in srv->peers */
        via_proxy : 1;              /* the peer is cfg->trusted_proxy */
    char peer[64];
};

/* Accepts one pending connection from listener.  With overflow set, the
 * connection is answered 503 and closed (too many connections); over the
 * per-address cap it is answered 429 and closed.  Returns the connection
 * (already reading) or NULL if the accept failed or the connection was
 * closed without an answer. */
sitr_conn_t *sitr_conn_accept(sitr_server_t *srv, uv_stream_t *listener, int overflow);
/* Closes at once: requests in flight are marked gone. */
void sitr_conn_close(sitr_conn_t *c);
/* At the connection limit: closes one connection that is idle (no request
 * under way), or whose request head, or body below the minimum rate, has
 * been arriving for over a second; from the client address holding the
 * most connections, the longest waiting.  Returns 1 if one was closed (its
 * slot is free), 0 if none qualifies. */
int sitr_conn_evict(sitr_server_t *srv);
/* Graceful shutdown: stop reading new requests, answer the ones received,
 * then close.  Idle connections close now. */
void sitr_conn_drain(sitr_conn_t *c);
const char *sitr_conn_state_name(sitr_conn_state_t s);

/* For tests and fuzzing (tests/fuzz/fuzz_http.c): parses bytes exactly as a
 * connection parses what arrives from its socket (same input buffer, parser
 * callbacks, limits and pipelining queue) but with no socket, timer or
 * loop.  data is delivered in npieces reads of lens[i] bytes (their sum is
 * the length of data); peer is the client address (NULL: none).  Each
 * request, complete or refused while being read, is handed in order to
 * on_req, which owns one reference and must be done with the request
 * before it returns (it may sitr_dispatch it to synchronous
 * handlers); answers go to io (NULL: dropped).  Parsing stops where a
 * connection would stop reading.  A request still incomplete at the end is
 * dropped, as on EOF.  Returns the number of requests handed over. */
size_t sitr_conn_parse_buffer(sitr_server_t *srv, const char *peer, const char *data,
                              const size_t *lens, size_t npieces, const sitr_req_io_t *io,
                              void (*on_req)(sitr_req_t *req, void *arg), void *arg);

#endif
