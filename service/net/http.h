/* The request object behind req.h and the serialisation of responses.
 *
 * A request is created by the connection when a message starts, filled while
 * it is parsed, queued until its turn, dispatched (dispatch.c), and answered
 * once; its state says which of these it is in (sitr_req_state_t, changed
 * through sitr_http_req_set_state only).  The connection owns one reference
 * (sitr_http_req_release drops it); sitr_dispatch holds one while the
 * handler runs; asynchronous work holds its own (sitr_req_ref, counted in
 * holders).  The last reference frees the arena and the body.  The response leaves through req->io,
 * which the connection (or a unit test) provides: http.c never touches a socket. Loop thread only.
 */
#ifndef SITR_HTTP_H
#define SITR_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "net/req.h"
#include "net/router.h"

typedef struct sitr_http_header {
    const char *name;
    const char *value;
} sitr_http_header_t;

typedef struct sitr_http_pair {
    const char *name, *value;
} sitr_http_pair_t;

/* Where a serialised response goes.  send takes ownership of buf (free()).
 * will_close tells whether the connection will close after this response
 * (it is asked before the headers are written, to add Connection: close). */
typedef struct sitr_req_io {
    void (*send)(sitr_req_t *req, char *buf, size_t len, int close);
    int (*will_close)(sitr_req_t *req);
    void *arg;
} sitr_req_io_t;

/* Where a request is in its life.  RUNNING: its handler (or the auth hook)
 * is on the stack.  WAITING: the handler returned without answering and
 * work in flight (a database query, a thread-pool job) holds the request
 * to answer it later. */
typedef enum sitr_req_state {
    SITR_REQ_READING = 0,
    SITR_REQ_RUNNING,
    SITR_REQ_WAITING,
    SITR_REQ_ANSWERED
} sitr_req_state_t;

#define SITR_HTTP_MAX_HEADERS      100
#define SITR_HTTP_MAX_RESP_HEADERS 16

struct sitr_req {
    sitr_server_t *srv;
    sitr_arena_t *arena;
    const sitr_req_io_t *io;
    sitr_req_t *next; /* the connection's queue */
    int refs;         /* every reference: the owner's, dispatch's, the holders' */
    int holders;      /* references taken with sitr_req_ref by work in flight */
    sitr_req_state_t state;
    unsigned gone : 1, keep_alive : 1, routed : 1, head : 1;
    unsigned long conn_id;
    char id[32];
    sitr_log_ids_t log_ids; /* conn_id and id, for sitr_log */
    char client[64];
    uint64_t start_ns;

    /* request */
    sitr_method_t method;
    unsigned short http_major, http_minor;
    char *url, *path, *query_raw;
    sitr_http_header_t headers[SITR_HTTP_MAX_HEADERS];
    int nheaders;
    uint8_t *body;
    size_t body_len, body_alloc, body_cap;
    sitr_route_match_t match;
    sitr_http_pair_t *query;
    int nquery, query_parsed, query_bad;

    /* set before routing when the request is refused while being read:
     * answered with this status and the connection closes */
    int early_status;
    const char *early_code, *early_msg;

    /* who the request was authenticated as (sitr_req_set_platform/_case) */
    int64_t platform_id;
    const char *platform_name;
    int64_t case_id;
    const char *case_reference;

    /* response */
    sitr_http_header_t resp_headers[SITR_HTTP_MAX_RESP_HEADERS];
    int nresp_headers;
    int status;
};

/* A new request with one reference (the caller's).  id is the X-Request-Id;
 * client the peer address as text.  NULL on OOM.  */
sitr_req_t *sitr_http_req_new(sitr_server_t *srv, const sitr_req_io_t *io, unsigned long conn_id,
                              const char *id, const char *client);
/* Drops the owner's reference (the connection's, or a test's). */
void sitr_http_req_release(sitr_req_t *req);
/* Takes a reference that is not work in flight (dispatch's own). */
void sitr_http_req_retain(sitr_req_t *req);
/* The one place the state changes; logs the transition at debug level. */
void sitr_http_req_set_state(sitr_req_t *req, sitr_req_state_t s);
const char *sitr_http_req_state_name(sitr_req_state_t s);
/* Splits req->url into path and query_raw and routes it (fills match and
 * body_cap).  Returns 0, or SITR_EINVAL/SITR_ENOMEM after setting an early
 * error (400). */
int sitr_http_req_route(sitr_req_t *req);
/* Refuses the request with status (and closes the connection after it). */
void sitr_http_req_set_early(sitr_req_t *req, int status, const char *code, const char *message);
/* Appends to the body; SITR_ETOOBIG past body_cap. */
int sitr_http_req_append_body(sitr_req_t *req, const char *data, size_t len);

const char *sitr_http_reason(int status);
uint64_t sitr_http_now_ns(void);

#endif
