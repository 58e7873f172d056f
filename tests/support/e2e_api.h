/* Calling the sitr JSON API from a cmocka end-to-end test: one request per
 * fresh connection (e2e_util's sitr_e2e_request), with the authorization a
 * caller names, failing the running test when there is no answer, no
 * X-Request-Id (every sitrd answer carries one), an unexpected status or a
 * body that is not JSON.  Single-threaded tests only. */
#ifndef SITR_E2E_API_H
#define SITR_E2E_API_H

#include <jansson.h>

#include "e2e_util.h"

/* auth: NULL (no Authorization), "Case <secret>" (sent as is) or an API key
 * (sent as Bearer).  extra: more header lines ("Name: v\r\n...") or NULL.
 * A body is sent as application/json.  Caller frees r. */
void sitr_e2e_call(const sitr_e2e_server_t *s, const char *method, const char *path,
                   const char *auth, const char *extra, const char *body, sitr_e2e_resp_t *r);

/* text parsed as JSON (caller decrefs); fails the test if it is not JSON. */
json_t *sitr_e2e_json(const char *text);

/* sitr_e2e_call, expecting status; returns the parsed body (caller decrefs). */
json_t *sitr_e2e_call_json(const sitr_e2e_server_t *s, const char *method, const char *path,
                           const char *auth, const char *body, int status);

/* Expects an error answer with that status and error.code and, when field
 * is not NULL, that error.field. */
void sitr_e2e_expect_error(const sitr_e2e_server_t *s, const char *method, const char *path,
                           const char *auth, const char *body, int status, const char *code,
                           const char *field);

#endif
