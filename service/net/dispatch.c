/* Running a fully received request: the early refusals (answered while it
 * was read), 404/405 from the route lookup, authentication through the
 * server's auth hook, the handler, and the one answer for a handler that
 * failed or returned without answering and without work in flight holding
 * the request (sitr_req_state_t in http.h).  Loop thread only. */
#include "net/dispatch.h"

#include <sitr/err_service.h>

#include "core/log.h"
#include "net/http.h"
#include "net/router.h"
#include "net/server.h"

static void answer_failure(sitr_req_t *req, int rc)
{
    if (req->state == SITR_REQ_ANSWERED)
        return;
    if (!sitr_req_failure_is_transient(rc))
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "handler failed: %s", sitr_strerror(rc));
    sitr_req_reply_failure(req, rc);
}

void sitr_dispatch(sitr_req_t *req)
{
    sitr_http_req_retain(req);
    if (!req->early_status)
        sitr_http_req_route(req);
    if (req->early_status == 413 && req->match.route && req->srv && req->srv->oversize_hook &&
        req->srv->oversize_hook(req, req->match.route))
        goto out;
    if (req->early_status) {
        if (req->early_status == 503 || req->early_status == 429)
            sitr_req_add_header(req, "Retry-After", "1");
        sitr_req_reply_error(req, req->early_status, req->early_code, req->early_msg, NULL);
        goto out;
    }
    if (req->match.status == 404) {
        sitr_req_reply_error(req, 404, "not_found", "no such endpoint", NULL);
        goto out;
    }
    if (req->match.status == 405) {
        sitr_req_add_header(req, "Allow", req->match.allow);
        sitr_req_reply_error(req, 405, "method_not_allowed",
                             "this endpoint does not accept that method", NULL);
        goto out;
    }
    const sitr_route_t *route = req->match.route;
    int rc;
    sitr_http_req_set_state(req, SITR_REQ_RUNNING);
    if (route->auth == SITR_AUTH_NONE) {
        rc = route->handler(req);
    } else if (req->srv && req->srv->auth_hook) {
        rc = req->srv->auth_hook(req, route);
    } else {
        sitr_req_add_header(req, "WWW-Authenticate",
                            route->auth == SITR_AUTH_CASE ? "Case" : "Bearer");
        sitr_req_reply_error(req, 401, "unauthorized", "authentication required", NULL);
        rc = 0;
    }
    if (rc < 0) {
        answer_failure(req, rc);
    } else if (req->state != SITR_REQ_ANSWERED) {
        if (req->holders > 0) {
            /* Work in flight holds the request and will answer it. */
            sitr_http_req_set_state(req, SITR_REQ_WAITING);
        } else {
            /* Nobody answered and nobody holds the request for later: it
             * would hang until the client gives up. */
            sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req),
                     "handler for %s returned without answering", route->pattern);
            sitr_req_reply_error(req, 500, "internal", "internal error", NULL);
        }
    }
out:
    sitr_http_req_release(req);
}
