/* Answers shared by the API's handlers (reply.c).  Loop thread only. */
#ifndef SITR_API_REPLY_H
#define SITR_API_REPLY_H

#include <jansson.h>

#include "net/req.h"

/* The one answer for "no such case for you" (unknown, withdrawn, wrong
 * secret): 404 case_not_found, identical bytes in every case. */
void sitr_api_reply_case_not_found(sitr_req_t *req);
/* Answers a failed database call (rc < 0 from a sitr_db callback or from
 * sitr_db_submit): 503 with Retry-After for unavailability, 400
 * invalid_request when the database refused the request's data
 * (SITR_EREFUSED), 500 otherwise. */
void sitr_api_reply_db_error(sitr_req_t *req, int rc);
/* The start of a database callback: 1 if the client is still there and rc
 * is success; else 0, with the failure answered by sitr_api_reply_db_error
 * (nothing is sent to a client that is gone). */
int sitr_api_db_ok(sitr_req_t *req, int rc);
/* Answers status with body (stolen), or 500 when body is NULL because
 * building it ran out of memory. */
void sitr_api_reply_json_or_fail(sitr_req_t *req, int status, json_t *body);

#endif
