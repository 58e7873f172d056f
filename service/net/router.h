/* The route lookup of sitrd: method + path pattern -> route row.  A pure
 * table: dispatch.c runs what it finds.
 *
 * Patterns are literal segments and {name} segments ("/v1/cases/{case}");
 * a {name} matches one non-empty segment, available to the handler through
 * sitr_req_param().  A path that matches no pattern is 404; a path that
 * matches with another method is 405 with an Allow header.  HEAD is served
 * by GET routes without the body.  Routes are added before the server starts
 * listening and never removed.  Loop thread only.
 *
 * Authentication: each route names an auth kind.  Routes other than
 * SITR_AUTH_NONE go through the server's auth hook (set by the API layer
 * with sitr_server_set_auth_hook); with no hook they answer 401. */
#ifndef SITR_ROUTER_H
#define SITR_ROUTER_H

#include <stddef.h>

#include <sitr/err.h>
#include <sitr/err_service.h>

#include "core/metrics.h"
#include "net/req.h"

/* A handler answers the request (now or later, see req.h) and returns 0, or
 * returns < 0 (SITR_E*) without having answered: the router then answers
 * 503 for SITR_EBUSY/SITR_ENOMEM/SITR_ETIMEOUT/SITR_EDB/SITR_ECLOSED and 500
 * otherwise. */
typedef int (*sitr_handler_fn)(sitr_req_t *req);

typedef enum sitr_auth_kind {
    SITR_AUTH_NONE = 0,
    SITR_AUTH_CASE,    /* Authorization: Case <secret>, for the {case} in the path */
    SITR_AUTH_PLATFORM /* Authorization: Bearer <api key> */
} sitr_auth_kind_t;

/* What a request costs against its caller's rate limit (per platform). */
typedef enum sitr_route_cost {
    SITR_COST_ONE = 0, /* one token */
    SITR_COST_ITEMS    /* one token per item of the JSON batch in the body, and for video
                          items per few frames (api/auth.h) */
} sitr_route_cost_t;

typedef struct sitr_route {
    sitr_method_t method;
    const char *pattern; /* borrowed: must outlive the router (string literals) */
    sitr_auth_kind_t auth;
    sitr_route_cost_t cost;
    sitr_handler_fn handler;
    size_t body_cap; /* 0 = the server's max body; larger values are clamped to it */
} sitr_route_t;

/* The auth hook decides whether the request reaches route->handler.  It
 * either answers itself (401/403/429/503...), or calls the handler
 * (possibly later, from a database callback, holding a sitr_req_ref),
 * after setting the identity with sitr_req_set_platform() or
 * sitr_req_set_case().  Same return convention as a handler. */
typedef int (*sitr_auth_hook_fn)(sitr_req_t *req, const sitr_route_t *route);

#define SITR_ROUTER_MAX_ROUTES SITR_METRICS_MAX_ROUTES
#define SITR_ROUTER_MAX_PARAMS 4

typedef struct sitr_router sitr_router_t;

typedef struct sitr_route_match {
    const sitr_route_t *route; /* NULL for 404/405 */
    int index;                 /* 1.. for a route, 0 when unmatched (metrics label) */
    int status;                /* 0 matched, 404, 405 */
    char allow[64];            /* for 405: "GET, HEAD, POST" */
    int nparams;
    const char *names[SITR_ROUTER_MAX_PARAMS];
    const char *values[SITR_ROUTER_MAX_PARAMS]; /* percent-decoded, in the arena */
} sitr_route_match_t;

sitr_router_t *sitr_router_new(void);
void sitr_router_free(sitr_router_t *r);

/* Adds routes (copied; the strings are borrowed).  Returns 0, SITR_EINVAL for
 * a malformed pattern or a duplicate method+pattern, SITR_ETOOBIG past
 * SITR_ROUTER_MAX_ROUTES. */
SITR_MUST_CHECK int sitr_router_add(sitr_router_t *r, const sitr_route_t *routes, size_t n);

/* Matches path (no query string).  Parameter values are decoded into arena.
 * Returns 0 (see m->status), or SITR_EINVAL when a matched parameter holds a
 * malformed escape or a NUL, SITR_ENOMEM. */
SITR_MUST_CHECK int sitr_router_match(const sitr_router_t *r, sitr_method_t method,
                                      const char *path, sitr_arena_t *arena, sitr_route_match_t *m);

/* "GET", "POST"... for logs and the Allow header. */
const char *sitr_router_method_name(sitr_method_t m);

size_t sitr_router_count(const sitr_router_t *r);
const sitr_route_t *sitr_router_get(const sitr_router_t *r, size_t index); /* 1-based */

#endif
