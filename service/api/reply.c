/* The API layer's shared answers: "no such case for you", a failed
 * database call, the start of a database callback, a JSON answer that may
 * have failed to build.  Loop thread only. */
#include "api/reply.h"

#include <sitr/err_service.h>

#include "core/log.h"

void sitr_api_reply_case_not_found(sitr_req_t *req)
{
    sitr_req_reply_error(req, 404, "case_not_found", "no case matches this reference and secret",
                         NULL);
}

void sitr_api_reply_db_error(sitr_req_t *req, int rc)
{
    if (sitr_req_gone(req) || sitr_req_answered(req))
        return;
    if (rc == SITR_EREFUSED) {
        /* The database refused a value that validation let through (SQLSTATE
         * 22/23): the request's fault, not an outage, so no Retry-After.  The
         * line says that validation and SQL disagree. */
        sitr_log(SITR_LOG_WARN, sitr_req_log_ids(req),
                 "the database refused a value that validation accepted");
        sitr_req_reply_error(req, 400, "invalid_request",
                             "the request was refused: one of its values is not acceptable", NULL);
        return;
    }
    /* A database known to be unreachable was logged once by the pool (the
     * answer's own line says 503): no warning per request. */
    if (rc == SITR_EUNAVAIL)
        sitr_log(SITR_LOG_DEBUG, sitr_req_log_ids(req), "database unreachable");
    else if (sitr_req_failure_is_transient(rc))
        sitr_log(SITR_LOG_WARN, sitr_req_log_ids(req), "database unavailable: %s",
                 sitr_strerror(rc));
    else
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "request failed: %s", sitr_strerror(rc));
    sitr_req_reply_failure(req, rc);
}

int sitr_api_db_ok(sitr_req_t *req, int rc)
{
    if (sitr_req_gone(req))
        return 0;
    if (rc < 0) {
        sitr_api_reply_db_error(req, rc);
        return 0;
    }
    return 1;
}

void sitr_api_reply_json_or_fail(sitr_req_t *req, int status, json_t *body)
{
    if (body)
        sitr_req_reply_json(req, status, body);
    else
        sitr_api_reply_db_error(req, SITR_ENOMEM);
}
