/* The victims' endpoints: create a case, read its status, add images,
 * withdraw it (DESIGN.md "API", issue 3).
 *
 * Each handler validates everything it can before touching the database
 * (image lists through images_json.c, caps from the configuration), then
 * makes exactly one call to a sitr_* SQL function, so each request is one
 * transaction and a refused request changes nothing.  Case endpoints other
 * than creation run only after auth.c has verified the case secret; the
 * authenticated case id is read when the handler starts.
 *
 * Responses never carry a hash, and the case secret appears exactly once:
 * in the 201 answer to its creation (sent with Cache-Control: no-store),
 * after which only its keyed digest exists.  Loop thread only; database
 * work is asynchronous and holds a reference on the request. */
#include "api/cases.h"
#include "api/reply.h"
#include "api/state.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "api/images_json.h"
#include "core/log.h"
#include "net/server.h"

#include <sitr/err_service.h>
#include <sitr/hex.h>
#include <sitr/token.h>
#include <sitr/keys.h>

/* A reference collision is a 2^-135 event; a few retries make it a
 * non-event without risking a loop. */
#define MAX_CREATE_ATTEMPTS 3

typedef struct case_op {
    sitr_req_t *req;
    char reference[SITR_TOKEN_MAX_LEN + 1];
    char secret[SITR_TOKEN_MAX_LEN + 1];
    char digest_hex[2 * SITR_KEYS_DIGEST_BYTES + 1];
    char case_id[24];
    char max_per_case[16];
    char *images;     /* normalised JSON text (malloc) */
    json_t *warnings; /* from images_json */
    size_t sent, duplicates;
    int attempts;
} case_op_t;

static sitr_api_t *api_of(sitr_req_t *req)
{
    return sitr_req_server(req)->app;
}

static const sitr_config_t *cfg_of(sitr_req_t *req)
{
    return sitr_req_server(req)->cfg;
}

static case_op_t *op_new(sitr_req_t *req)
{
    case_op_t *op = calloc(1, sizeof *op);
    if (op) {
        op->req = req;
        snprintf(op->max_per_case, sizeof op->max_per_case, "%u", cfg_of(req)->max_images_per_case);
    }
    return op;
}

static void op_free(case_op_t *op)
{
    if (!op)
        return;
    sodium_memzero(op->secret, sizeof op->secret);
    sodium_memzero(op->digest_hex, sizeof op->digest_hex);
    free(op->images);
    json_decref(op->warnings);
    free(op);
}

/* Ends an asynchronous step: releases the request and the operation. */
static void op_done(case_op_t *op)
{
    sitr_req_t *req = op->req;
    op_free(op);
    sitr_req_unref(req);
}

/* Images the request sent that the case already had (the SQL function
 * skips them) plus repeats within the request. */
static json_int_t duplicates(const case_op_t *op, long stored)
{
    size_t kept = stored < 0 ? 0 : (size_t)stored;
    return (json_int_t)(op->duplicates + (op->sent > kept ? op->sent - kept : 0));
}

static void reply_too_many(sitr_req_t *req, unsigned limit)
{
    char msg[96];
    snprintf(msg, sizeof msg, "a case holds at most %u images", limit);
    sitr_req_reply_error(req, 422, "too_many_images", msg, "images");
}

/* Reads and validates the image list of the body into op.  Returns 1 when
 * the request may go on, 0 when it has been answered. */
static int read_images(sitr_req_t *req, case_op_t *op)
{
    const sitr_config_t *cfg = cfg_of(req);
    json_t *body = sitr_req_json_body(req);
    if (!body)
        return 0;
    sitr_images_t im;
    sitr_images_error_t err;
    int rc = sitr_images_parse(body, cfg->max_images_per_request, &im, &err);
    json_decref(body);
    if (rc < 0) {
        if (strcmp(err.code, "internal") == 0) {
            sitr_api_reply_db_error(req, SITR_ENOMEM);
            return 0;
        }
        sitr_req_reply_error(req, 422, err.code, err.message, err.field[0] ? err.field : NULL);
        return 0;
    }
    if (im.count > cfg->max_images_per_case) {
        sitr_images_clear(&im);
        reply_too_many(req, cfg->max_images_per_case);
        return 0;
    }
    op->images = json_dumps(im.images, JSON_COMPACT);
    op->warnings = json_incref(im.warnings);
    op->sent = im.count;
    op->duplicates = im.duplicates;
    sitr_images_clear(&im);
    if (!op->images) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        return 0;
    }
    return 1;
}

/* ---- POST /v1/cases ------------------------------------------------------ */

static int submit_create(case_op_t *op);

static void on_created(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    case_op_t *op = arg;
    sitr_req_t *req = op->req;
    if (sitr_req_gone(req))
        goto out;
    if (rc < 0) {
        if (sqlstate && strcmp(sqlstate, "23505") == 0 && op->attempts < MAX_CREATE_ATTEMPTS) {
            /* The reference was taken: draw another one and try again. */
            if (submit_create(op) == 0)
                return;
            sitr_api_reply_db_error(req, SITR_EBUSY);
        } else if (sqlstate && strcmp(sqlstate, "SIT01") == 0) {
            reply_too_many(req, cfg_of(req)->max_images_per_case);
        } else {
            sitr_api_reply_db_error(req, rc);
        }
        goto out;
    }
    if (PQntuples(res) != 1) {
        sitr_api_reply_db_error(req, SITR_EINTERNAL);
        goto out;
    }
    long images = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    json_t *body =
        json_pack("{s:s,s:s,s:i,s:I,s:O}", "case", op->reference, "secret", op->secret, "images",
                  (int)images, "duplicates", duplicates(op, images), "warnings", op->warnings);
    if (!body) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto out;
    }
    sitr_api_t *api = api_of(req);
    api->counters.cases_created++;
    api->counters.images_added += (unsigned long)images;
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case created with %ld images", images);
    char *loc = sitr_arena_printf(sitr_req_arena(req), "/v1/cases/%s", op->reference);
    if (loc)
        sitr_req_add_header(req, "Location", loc);
    sitr_req_add_header(req, "Cache-Control", "no-store");
    sitr_req_reply_json(req, 201, body);
out:
    op_done(op);
}

static int submit_create(case_op_t *op)
{
    sitr_req_t *req = op->req;
    op->attempts++;
    int rc = sitr_token_generate(SITR_TOKEN_REFERENCE, op->reference, sizeof op->reference);
    if (rc < 0)
        return rc;
    const char *params[4] = {op->reference, op->digest_hex, op->images, op->max_per_case};
    return sitr_db_submit(sitr_req_server(req)->db,
                          "SELECT case_id, images FROM sitr_case_create($1, decode($2, 'hex'), "
                          "$3::jsonb, $4::int)",
                          4, params, on_created, op);
}

int sitr_api_cases_create(sitr_req_t *req)
{
    sitr_api_t *api = api_of(req);
    case_op_t *op = op_new(req);
    if (!op)
        return SITR_ENOMEM;
    if (!read_images(req, op)) {
        op_free(op);
        return 0;
    }
    unsigned wait = sitr_ratelimit_take(api->case_rate, sitr_req_client_addr(req),
                                        uv_now(sitr_req_server(req)->loop));
    if (wait) {
        op_free(op);
        api->counters.rate_limited++;
        char v[16];
        snprintf(v, sizeof v, "%u", wait);
        sitr_req_add_header(req, "Retry-After", v);
        sitr_req_reply_error(req, 429, "rate_limited",
                             "too many cases created from this address; retry later", NULL);
        return 0;
    }
    int rc = sitr_token_generate(SITR_TOKEN_SECRET, op->secret, sizeof op->secret);
    if (rc < 0) {
        op_free(op);
        return rc;
    }
    uint8_t digest[SITR_KEYS_DIGEST_BYTES];
    sitr_keys_digest(sitr_req_server(req)->cfg->digest_key, op->secret, digest);
    sitr_hex_encode(digest, sizeof digest, op->digest_hex);
    sodium_memzero(digest, sizeof digest);
    sitr_req_ref(req);
    rc = submit_create(op);
    if (rc < 0) {
        op_free(op);
        sitr_req_unref(req);
        return rc;
    }
    return 0;
}

/* ---- shared by the authenticated case endpoints ------------------------- */

/* Starts op for the case authenticated for this handler.  NULL when the
 * handler runs without one (a routing mistake: answered with 500). */
static case_op_t *case_op_start(sitr_req_t *req)
{
    int64_t id = sitr_req_case_id(req);
    const char *ref = sitr_req_case_reference(req);
    if (id <= 0 || !ref) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "case handler called without an authenticated case");
        sitr_req_reply_error(req, 500, "internal", "internal error", NULL);
        return NULL;
    }
    case_op_t *op = op_new(req);
    if (!op) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        return NULL;
    }
    snprintf(op->case_id, sizeof op->case_id, "%lld", (long long)id);
    snprintf(op->reference, sizeof op->reference, "%s", ref);
    return op;
}

static int case_submit(case_op_t *op, const char *sql, int nparams, const char *const *params,
                       sitr_db_cb cb)
{
    sitr_req_ref(op->req);
    int rc = sitr_db_submit(sitr_req_server(op->req)->db, sql, nparams, params, cb, op);
    if (rc < 0) {
        sitr_api_reply_db_error(op->req, rc);
        op_done(op);
    }
    return 0;
}

/* The case disappeared (withdrawn) between authentication and this call. */
static int case_gone_state(const char *sqlstate)
{
    return sqlstate && (strcmp(sqlstate, "SIT03") == 0 || strcmp(sqlstate, "SIT04") == 0);
}

/* The start of the case callbacks: 1 if the client is there and the query
 * succeeded; else 0, the failure answered (a case gone meanwhile as
 * case_not_found, anything else as a database error). */
static int case_result_ok(sitr_req_t *req, int rc, const char *sqlstate)
{
    if (sitr_req_gone(req))
        return 0;
    if (rc >= 0)
        return 1;
    if (case_gone_state(sqlstate))
        sitr_api_reply_case_not_found(req);
    else
        sitr_api_reply_db_error(req, rc);
    return 0;
}

/* ---- GET /v1/cases/{case} ------------------------------------------------ */

static void on_status(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    case_op_t *op = arg;
    sitr_req_t *req = op->req;
    if (!case_result_ok(req, rc, sqlstate))
        goto out;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        sitr_api_reply_case_not_found(req);
        goto out;
    }
    json_error_t jerr;
    json_t *st = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    if (!json_is_object(st)) {
        json_decref(st);
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "case status is not a JSON object");
        sitr_api_reply_db_error(req, SITR_EINTERNAL);
        goto out;
    }
    /* A withdrawn case is answered like an unknown one (see auth.c); the
     * status of a case withdrawn a moment ago says so through withdrawn_at. */
    const json_t *w = json_object_get(st, "withdrawn_at");
    if (w && !json_is_null(w)) {
        json_decref(st);
        sitr_api_reply_case_not_found(req);
        goto out;
    }
    json_object_del(st, "withdrawn_at");
    json_t *td = json_object_get(st, "takedowns");
    if (json_is_object(td)) {
        json_int_t total = 0;
        const char *k;
        json_t *v;
        json_object_foreach(td, k, v) total += json_integer_value(v);
        json_object_set_new(td, "requested", json_integer(total));
    }
    json_object_set_new(st, "case", json_string(op->reference));
    sitr_req_add_header(req, "Cache-Control", "no-store");
    sitr_req_reply_json(req, 200, st);
out:
    op_done(op);
}

int sitr_api_cases_get(sitr_req_t *req)
{
    case_op_t *op = case_op_start(req);
    if (!op)
        return 0;
    const char *params[1] = {op->case_id};
    return case_submit(op, "SELECT sitr_case_status($1::bigint)::text", 1, params, on_status);
}

/* ---- POST /v1/cases/{case}/images --------------------------------------- */

static void on_added(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    case_op_t *op = arg;
    sitr_req_t *req = op->req;
    /* SIT01: the case would hold more images than allowed. */
    if (rc < 0 && sqlstate && strcmp(sqlstate, "SIT01") == 0 && !sitr_req_gone(req)) {
        reply_too_many(req, cfg_of(req)->max_images_per_case);
        goto out;
    }
    if (!case_result_ok(req, rc, sqlstate))
        goto out;
    if (PQntuples(res) != 1) {
        sitr_api_reply_db_error(req, SITR_EINTERNAL);
        goto out;
    }
    long added = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    long total = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    json_t *body =
        json_pack("{s:s,s:i,s:i,s:I,s:O}", "case", op->reference, "added", (int)added, "images",
                  (int)total, "duplicates", duplicates(op, added), "warnings", op->warnings);
    if (!body) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto out;
    }
    api_of(req)->counters.images_added += (unsigned long)added;
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case images added: %ld", added);
    sitr_req_add_header(req, "Cache-Control", "no-store");
    sitr_req_reply_json(req, 200, body);
out:
    op_done(op);
}

int sitr_api_cases_add_images(sitr_req_t *req)
{
    case_op_t *op = case_op_start(req);
    if (!op)
        return 0;
    if (!read_images(req, op)) {
        op_free(op);
        return 0;
    }
    const char *params[3] = {op->case_id, op->images, op->max_per_case};
    return case_submit(op,
                       "SELECT added, total FROM sitr_case_add_images($1::bigint, $2::jsonb, "
                       "$3::int)",
                       3, params, on_added);
}

/* ---- DELETE /v1/cases/{case} --------------------------------------------- */

static void on_withdrawn(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    case_op_t *op = arg;
    sitr_req_t *req = op->req;
    if (!case_result_ok(req, rc, sqlstate))
        goto out;
    /* false: a concurrent request withdrew it first; to this one the case
     * no longer exists. */
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        sitr_api_reply_case_not_found(req);
        goto out;
    }
    api_of(req)->counters.cases_withdrawn++;
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case withdrawn");
    json_t *body = json_pack("{s:s,s:b}", "case", op->reference, "withdrawn", 1);
    sitr_api_reply_json_or_fail(req, 200, body);
out:
    op_done(op);
}

int sitr_api_cases_withdraw(sitr_req_t *req)
{
    case_op_t *op = case_op_start(req);
    if (!op)
        return 0;
    const char *params[1] = {op->case_id};
    return case_submit(op, "SELECT sitr_case_withdraw($1::bigint)", 1, params, on_withdrawn);
}
