/* The request object behind req.h and the serialisation of responses.
 *
 * A request is created by the connection when a message starts, filled while
 * it is parsed, queued until its turn, dispatched by the router, and answered
 * once.  The connection owns one reference; sitr_router_dispatch holds one
 * while the handler runs; asynchronous work holds its own.  The last unref
 * frees the arena and the body.  The response leaves through req->io, which
 * the connection (or a unit test) provides: http.c never touches a socket.
 * Loop thread only. */
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

#define SITR_HTTP_MAX_HEADERS 100
#define SITR_HTTP_MAX_RESP_HEADERS 16

struct sitr_req {
    sitr_server_t *srv;
    sitr_arena_t *arena;
    const sitr_req_io_t *io;
    sitr_req_t *next; /* the connection's queue */
    int refs;
    unsigned gone : 1, answered : 1, keep_alive : 1, routed : 1, head : 1;
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

    /* authentication result */
    int64_t platform_id;
    const char *platform_name;

    /* response */
    sitr_http_header_t resp_headers[SITR_HTTP_MAX_RESP_HEADERS];
    int nresp_headers;
    int status;
};

/* A new request with one reference (the caller's).  id is the X-Request-Id;
 * client the peer address as text.  NULL on OOM.  */
sitr_req_t *sitr_http_req_new(sitr_server_t *srv, const sitr_req_io_t *io, unsigned long conn_id,
                              const char *id, const char *client);
/* Records the platform authenticated by the auth hook (name is copied). */
void sitr_http_req_set_platform(sitr_req_t *req, int64_t id, const char *name);
/* Splits req->url into path and query_raw and routes it (fills match and
 * body_cap).  Returns 0, or SITR_EINVAL/SITR_ENOMEM after setting an early
 * error (400). */
int sitr_http_req_route(sitr_req_t *req);
/* Refuses the request with status (and closes the connection after it). */
void sitr_http_req_set_early(sitr_req_t *req, int status, const char *code, const char *message);
/* Appends to the body; SITR_ETOOBIG past body_cap. */
int sitr_http_req_append_body(sitr_req_t *req, const char *data, size_t len);

const char *sitr_http_reason(int status);
const char *sitr_http_method_name(sitr_method_t m);
uint64_t sitr_http_now_ns(void);

#endif
