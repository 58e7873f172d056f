/* One HTTP request as handlers see it, and the ways to answer it.
 *
 * Owned by the connection module; handlers borrow it.  Everything a handler
 * allocates for the request comes from req->arena and dies with the request.
 * A handler answers exactly once, either before returning or later from a
 * callback (database, thread pool).  Work in flight takes a reference with
 * sitr_req_ref() and, when it completes, checks sitr_req_gone() before
 * answering: the client may have disconnected meanwhile.  All of this runs
 * on the loop thread. */
#ifndef SITR_REQ_H
#define SITR_REQ_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "core/arena.h"
#include "core/log.h"

typedef struct sitr_req sitr_req_t;
typedef struct sitr_server sitr_server_t;

typedef enum sitr_method {
    SITR_GET = 1,
    SITR_HEAD,
    SITR_POST,
    SITR_PUT,
    SITR_DELETE,
    SITR_OPTIONS,
    SITR_OTHER
} sitr_method_t;

/* Request accessors (all borrowed, valid until the request ends). */
sitr_server_t *sitr_req_server(sitr_req_t *req);
sitr_arena_t *sitr_req_arena(sitr_req_t *req);
sitr_method_t sitr_req_method(const sitr_req_t *req);
const char *sitr_req_path(const sitr_req_t *req);                     /* without the query string */
const char *sitr_req_query(const sitr_req_t *req, const char *name);  /* decoded, NULL if absent */
const char *sitr_req_header(const sitr_req_t *req, const char *name); /* case-insensitive */
const char *sitr_req_param(const sitr_req_t *req, const char *name);  /* {name} from the route */
const uint8_t *sitr_req_body(const sitr_req_t *req, size_t *len);
const char *sitr_req_id(const sitr_req_t *req);          /* as sent in X-Request-Id */
const char *sitr_req_client_addr(const sitr_req_t *req); /* peer IP, text */
unsigned long sitr_req_conn_id(const sitr_req_t *req);
/* The ids for sitr_log (core/log.h): connection and request id. */
const sitr_log_ids_t *sitr_req_log_ids(const sitr_req_t *req);

/* Who the request was authenticated as: set by the auth hook (the API
 * layer) before it calls the route's handler, one setter each, read by
 * handlers and by work in flight for as long as the request lives. */
int64_t sitr_req_platform_id(const sitr_req_t *req); /* 0 when not a platform request */
const char *sitr_req_platform_name(const sitr_req_t *req);
int64_t sitr_req_case_id(const sitr_req_t *req);            /* 0 when not a case request */
const char *sitr_req_case_reference(const sitr_req_t *req); /* canonical; NULL likewise */
/* name and reference are copied into the request's arena.  0, or
 * SITR_ENOMEM (nothing set). */
int sitr_req_set_platform(sitr_req_t *req, int64_t id, const char *name);
int sitr_req_set_case(sitr_req_t *req, int64_t id, const char *reference);

/* Parses the body as a JSON object.  On failure answers 400 (malformed) or
 * 415 (wrong content type) itself and returns NULL.  The caller owns the
 * result (json_decref). */
json_t *sitr_req_json_body(sitr_req_t *req);

/* Answers.  Each takes the status code; extra headers are added before with
 * sitr_req_add_header.  sitr_req_reply_json steals the reference to body. */
void sitr_req_add_header(sitr_req_t *req, const char *name, const char *value);
void sitr_req_reply(sitr_req_t *req, int status, const char *content_type, const void *body,
                    size_t len);
void sitr_req_reply_json(sitr_req_t *req, int status, json_t *body);
/* The one way errors leave: {"error":{"code":code,"message":message,"field":field}}
 * (field omitted when NULL).  code is a stable snake_case identifier. */
void sitr_req_reply_error(sitr_req_t *req, int status, const char *code, const char *message,
                          const char *field);
/* 1 if the negative SITR_E* rc is transient (busy, out of memory, timeout,
 * database failed or closed): worth retrying, answered 503. */
int sitr_req_failure_is_transient(int rc);
/* Answers a request whose handling failed with rc: 503 "unavailable" with
 * Retry-After: 1 when transient, else 500 "internal".  Logs nothing: the
 * caller says what failed. */
void sitr_req_reply_failure(sitr_req_t *req, int rc);

/* Lifetime for asynchronous handlers. */
void sitr_req_ref(sitr_req_t *req);
void sitr_req_unref(sitr_req_t *req);
int sitr_req_gone(const sitr_req_t *req);     /* connection closed: do not answer */
int sitr_req_answered(const sitr_req_t *req); /* the answer is out */

#endif
