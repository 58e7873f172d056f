/* The sitrd server: listening socket, connections, shared state.
 *
 * One struct per process, owned by main.  The API layer reads cfg, db and
 * app, adds its routes with sitr_server_add_routes, sets the auth hook, and
 * reports readiness (schema current, index loaded) with
 * sitr_server_set_ready.  Graceful shutdown (SIGTERM/SIGINT or
 * sitr_server_stop): stop accepting, answer the requests already received,
 * close keep-alive connections, then call the shutdown hook (main.c: the
 * API layer closes its handles, then the database pool closes); the loop
 * then runs dry and uv_run returns.  Loop thread only. */
#ifndef SITR_SERVER_H
#define SITR_SERVER_H

#include <uv.h>

#include "core/config.h"
#include "core/metrics.h"
#include "net/req.h"
#include "net/router.h"

typedef struct sitr_conn sitr_conn_t;
typedef struct sitr_peers sitr_peers_t;

/* Connections answered 503 or 429 at once because of a connection limit,
 * at most this many at a time; beyond, they are closed without an answer. */
#define SITR_SERVER_MAX_OVERFLOW 64

/* What the connection layer did to slow and greedy clients, for /metrics. */
typedef struct sitr_net_counters {
    unsigned long long head_timeouts;     /* 408: the head took over head_timeout_ms */
    unsigned long long body_too_slow;     /* 408: the body fell below min_body_rate */
    unsigned long long idle_timeouts;     /* 408: no byte of a started request for idle_timeout */
    unsigned long long address_limited;   /* 429: over max_connections_per_address */
    unsigned long long evicted_idle;      /* closed at the connection limit: idle */
    unsigned long long evicted_slow_head; /* closed at the connection limit: slow head */
    unsigned long long evicted_slow_body; /* closed at the connection limit: slow body */
    unsigned long long strict_refused;    /* 400: not strict HTTP/1.1 (framing.c) */
    unsigned long long memory_trims;      /* freed memory handed back after a burst */
} sitr_net_counters_t;
/* The database pool (db/db.h): created and closed by main.c, used by the
 * handlers; the server itself never calls it. */
typedef struct sitr_db sitr_db_t;

struct sitr_server {
    uv_loop_t *loop;
    const sitr_config_t *cfg; /* borrowed from main */
    sitr_db_t *db;            /* set by main; NULL after shutdown */
    sitr_metrics_t *metrics;  /* owned */
    sitr_router_t *router;    /* owned */
    void *app;                /* the API layer's state; sitrd core never touches it */
    sitr_auth_hook_fn auth_hook;
    /* Called once when the last connection is gone during shutdown.  It
     * closes what the layers above opened (the API's handles, then the
     * database pool), asynchronously if need be, and then calls
     * sitr_server_shutdown_done.  Without a hook the server finishes at
     * once. */
    void (*shutdown_hook)(sitr_server_t *srv);
    /* Called for a request refused with 413 (its body over the route's cap,
     * never read) whose route is known: answers it in the route's own words
     * and returns 1, or returns 0 for the generic 413.  No authentication
     * has run.  NULL: always the generic answer.  Set by the API layer. */
    int (*oversize_hook)(sitr_req_t *req, const sitr_route_t *route);

    int ready;           /* set by the API layer */
    char not_ready[128]; /* why not, for /readyz */
    int stopping;
    char instance[8]; /* random hex tag in every request id */
    unsigned long next_conn_id, next_req;

    /* internals */
    uv_tcp_t listener;
    uv_signal_t sig_term, sig_int;
    uv_timer_t drain_timer;
    int listening, shutdown_done, signals;
    sitr_conn_t *conns; /* doubly linked list of open connections */
    unsigned nconns, noverflow;
    unsigned nclosing;   /* connections (not overflow ones) closed, not yet gone */
    unsigned conn_peak;  /* most connections open since memory was last trimmed */
    sitr_peers_t *peers; /* open connections per client address */
    sitr_net_counters_t counters;
    int exit_code;
};

/* Creates metrics and the (empty) router.  Nothing listens yet.  On
 * failure everything created is released. */
SITR_MUST_CHECK int sitr_server_init(sitr_server_t *srv, uv_loop_t *loop, const sitr_config_t *cfg,
                                     sitr_err_t *err);
/* After uv_run returned: frees what init created. */
void sitr_server_free(sitr_server_t *srv);

SITR_MUST_CHECK int sitr_server_add_routes(sitr_server_t *srv, const sitr_route_t *routes,
                                           size_t n);
void sitr_server_set_auth_hook(sitr_server_t *srv, sitr_auth_hook_fn hook);
/* ready != 0: the API layer is ready (/readyz also needs a live database
 * connection).  reason: shown by /readyz while not ready (copied). */
void sitr_server_set_ready(sitr_server_t *srv, int ready, const char *reason);

/* The end of the shutdown hook's work: closes the signal handles and the
 * drain timer; the loop then runs dry. */
void sitr_server_shutdown_done(sitr_server_t *srv);

/* Once no connection is left during shutdown: the shutdown hook runs (once). */
void sitr_server_finish_shutdown(sitr_server_t *srv);
/* Called by conn.c when a connection has unlinked itself from srv->conns:
 * counts it, hands freed memory back to the system when the connections
 * fall well below their peak (after a burst), and finishes the shutdown
 * after the last one. */
void sitr_server_conn_closed(sitr_server_t *srv);

#endif
