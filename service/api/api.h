/* The API layer of sitrd: its state, its routes, and authentication.
 *
 * One sitr_api_t per server, created by sitr_app_init (app.c) and reachable
 * from any request as sitr_req_server(req)->app (NULL once shutdown has
 * released it).  It owns the rate limiters.  Loop
 * thread only.
 *
 * Authentication runs in the server's auth hook (sitr_auth_hook) before the
 * route's handler:
 *  - SITR_AUTH_CASE: "Authorization: Case <secret>" for the {case} of the
 *    path.  The hook parses both tokens, looks the case up, compares keyed
 *    digests in constant time and calls the handler only for a live case
 *    whose secret matches.  A wrong secret, an unknown case and a withdrawn
 *    case get one identical answer (404 case_not_found), and each such
 *    failure spends a token of the client address's failure budget.
 *  - SITR_AUTH_PLATFORM: "Authorization: Bearer <api key>", looked up by
 *    keyed digest among platforms not revoked; 401 with WWW-Authenticate
 *    otherwise.  The handler finds the platform in sitr_req_platform_id().
 *
 * Rate limits in the hook (429 rate_limited with Retry-After, before any
 * database work or handler): every request of an authenticated route first
 * spends one token of its client address's bucket (cfg->client_rate per
 * second), which bounds floods of bad keys or secrets cheaply; a platform
 * request, once its key is verified, spends from its platform's bucket
 * (cfg->platform_rate per second) as many tokens as it carries items: a
 * POST /v1/match or POST /v1/uploads batch costs its number of items
 * (counted without parsing, at most cfg->match_batch), anything else one,
 * so batching cannot bypass the limit.  POST /v1/cases (no authentication)
 * has its own per-address limit (cfg->case_rate per hour).
 *
 * A case handler reads the authenticated case with sitr_auth_case_id() and
 * sitr_auth_case_reference() when it starts (synchronously: the values are
 * those of the handler being called right now). */
#ifndef SITR_API_H
#define SITR_API_H

#include <stdint.h>

#include "core/ratelimit.h"
#include "net/req.h"
#include "net/router.h"

/* Failed case authentications allowed per client address: a burst, then a
 * steady rate per hour.  Secrets have 145 bits, so this is not what makes
 * guessing hopeless; it keeps guessers from loading the database. */
#define SITR_API_AUTH_FAIL_BURST    20
#define SITR_API_AUTH_FAIL_PER_HOUR 60
/* Client addresses remembered by each limiter. */
#define SITR_API_RATELIMIT_ENTRIES 65536
/* Platforms remembered by the per-platform limiter (beyond: the least
 * recently seen one starts again with a full bucket). */
#define SITR_API_PLATFORM_ENTRIES 4096

typedef struct sitr_api {
    sitr_server_t *srv;
    sitr_ratelimit_t *case_rate; /* case creations per address (cfg->case_rate per hour) */
    sitr_ratelimit_t *auth_fail; /* failed case/platform authentications per address */
    sitr_ratelimit_t *client_rate;   /* authenticated /v1 requests per address (cfg->client_rate/s) */
    sitr_ratelimit_t *platform_rate; /* platform requests per platform id (cfg->platform_rate/s) */

    /* The case authenticated for the handler running right now. */
    const sitr_req_t *auth_req;
    int64_t auth_case_id;
    const char *auth_reference; /* canonical, in the request's arena */

    unsigned long cases_created, cases_withdrawn, images_added, auth_failures, rate_limited;
    unsigned long platform_rate_limited; /* refused by the per-platform limit */

    /* The in-memory indexes (replica.h), NULL until started; /v1/match
     * answers 503 while it is NULL or not ready. */
    struct sitr_replica *replica;

    /* The victims' web page, read at start-up (api_web.c); owned. */
    struct sitr_web *web;
} sitr_api_t;

/* The server's auth hook (see router.h for the contract). */
int sitr_auth_hook(sitr_req_t *req, sitr_auth_kind_t kind, sitr_handler_fn handler);

/* Within a SITR_AUTH_CASE handler: the case (0 / NULL elsewhere). */
int64_t sitr_auth_case_id(const sitr_req_t *req);
const char *sitr_auth_case_reference(const sitr_req_t *req);

/* The one answer for "no such case for you" (unknown, withdrawn, wrong
 * secret): 404 case_not_found, identical bytes in every case. */
void sitr_api_reply_case_not_found(sitr_req_t *req);
/* Answers a failed database call (rc < 0 from a sitr_db callback or from
 * sitr_db_submit): 503 with Retry-After for unavailability, 500 otherwise. */
void sitr_api_reply_db_error(sitr_req_t *req, int rc);
/* The start of a database callback: 1 if the client is still there and rc
 * is success; else 0, with the failure answered by sitr_api_reply_db_error
 * (nothing is sent to a client that is gone). */
int sitr_api_db_ok(sitr_req_t *req, int rc);
/* Answers status with body (stolen), or 500 when body is NULL because
 * building it ran out of memory. */
void sitr_api_reply_json_or_fail(sitr_req_t *req, int status, json_t *body);

/* /healthz, /readyz and /metrics (api_health.c) and their route rows. */
int sitr_api_healthz(sitr_req_t *req);
int sitr_api_readyz(sitr_req_t *req);
int sitr_api_metrics(sitr_req_t *req);
SITR_MUST_CHECK int sitr_api_health_add_routes(sitr_server_t *srv);

/* The victims' case endpoints (api_cases.c). */
int sitr_api_cases_create(sitr_req_t *req);
int sitr_api_cases_get(sitr_req_t *req);
int sitr_api_cases_add_images(sitr_req_t *req);
int sitr_api_cases_withdraw(sitr_req_t *req);

/* Their route rows; body caps are filled from the configuration. */
SITR_MUST_CHECK int sitr_api_cases_add_routes(sitr_server_t *srv);

/* GET /v1/cases/{case}/report (api_report.c): the evidence report, JSON or
 * a printable HTML page (?format=html or Accept: text/html, ?lang=en|fr|ar
 * or Accept-Language), and its route row. */
int sitr_api_cases_report(sitr_req_t *req);
SITR_MUST_CHECK int sitr_api_report_add_routes(sitr_server_t *srv);

/* The platforms' endpoints (Bearer auth; contract in docs/api-platforms.md):
 * POST /v1/match (api_match.c), POST /v1/uploads and DELETE
 * /v1/uploads/{id} (api_uploads.c), GET /v1/takedowns and POST
 * /v1/takedowns/{id} (api_takedowns.c). */
int sitr_api_match(sitr_req_t *req);
int sitr_api_uploads_report(sitr_req_t *req);
int sitr_api_uploads_remove(sitr_req_t *req);
int sitr_api_takedowns_list(sitr_req_t *req);
int sitr_api_takedowns_answer(sitr_req_t *req);
SITR_MUST_CHECK int sitr_api_match_add_routes(sitr_server_t *srv);
/* Runs cb(arg) on the loop thread once no /v1/match batch is searching in
 * the thread pool (at once if none is): the replica must outlive them. */
void sitr_api_match_when_idle(void (*cb)(void *arg), void *arg);
SITR_MUST_CHECK int sitr_api_uploads_add_routes(sitr_server_t *srv);
SITR_MUST_CHECK int sitr_api_takedowns_add_routes(sitr_server_t *srv);

/* The victims' web page (api_web.c): GET / and GET /static/{file} from a
 * fixed list of files read once from dir (blocking: before listening). */
typedef struct sitr_web sitr_web_t;
SITR_MUST_CHECK int sitr_api_web_load(const char *dir, sitr_web_t **out, sitr_err_t *err);
void sitr_api_web_free(sitr_web_t *web);
int sitr_api_web_index(sitr_req_t *req);
int sitr_api_web_static(sitr_req_t *req);
SITR_MUST_CHECK int sitr_api_web_add_routes(sitr_server_t *srv);

#endif
