/* The victims' endpoints: create a case, read its status, add images and
 * videos, withdraw it (DESIGN.md "API", issues 3 and 9).
 *
 * Each handler validates everything it can before touching the database
 * (image lists through images_json.c, videos through videos_json.c with
 * their frames packed under the storage policy of match/vpack.h, caps from
 * the configuration), then makes exactly one call to a sitr_* SQL
 * function, so each request is one transaction and a refused request
 * changes nothing.  Case endpoints other
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
#include "api/videos_json.h"
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
    char max_videos[16];
    char *images;     /* normalised JSON text (malloc) */
    char *videos;     /* the videos for SQL, frames packed (malloc; "[]" when none) */
    json_t *warnings; /* from images_json and videos_json */
    size_t sent, duplicates, videos_sent;
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
        snprintf(op->max_videos, sizeof op->max_videos, "%u", cfg_of(req)->max_videos_per_case);
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
    free(op->videos);
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

static void reply_too_many_videos(sitr_req_t *req, unsigned limit)
{
    char msg[96];
    snprintf(msg, sizeof msg, "a case holds at most %u videos", limit);
    sitr_req_reply_error(req, 422, "too_many_videos", msg, "videos");
}

/* SIT01 from the database: the case would hold more than allowed.  The SQL
 * functions say which in the message only, so the request's content
 * decides: a request with videos and no image is over the video limit, one
 * with images only over the image limit, one with both is named for both. */
static void reply_case_full(sitr_req_t *req, const case_op_t *op)
{
    const sitr_config_t *cfg = cfg_of(req);
    if (op->videos_sent == 0) {
        reply_too_many(req, cfg->max_images_per_case);
    } else if (op->sent == 0) {
        reply_too_many_videos(req, cfg->max_videos_per_case);
    } else {
        char msg[128];
        snprintf(msg, sizeof msg, "a case holds at most %u images and %u videos",
                 cfg->max_images_per_case, cfg->max_videos_per_case);
        sitr_req_reply_error(req, 422, "case_full", msg, NULL);
    }
}

/* The video list's limits from the configuration. */
static sitr_videos_limits_t video_limits(const sitr_config_t *cfg)
{
    sitr_videos_limits_t lim = {.max_videos = cfg->max_videos_per_case,
                                .max_frames = cfg->max_video_frames,
                                .max_total_frames =
                                    (size_t)cfg->max_videos_per_case * cfg->max_video_frames};
    return lim;
}

/* Answers a validation fault (422, or 500 for memory). */
static void reply_invalid(sitr_req_t *req, const sitr_images_error_t *err)
{
    if (strcmp(err->code, "internal") == 0) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        return;
    }
    sitr_req_reply_error(req, 422, err->code, err->message, err->field[0] ? err->field : NULL);
}

/* Appends every element of more to into (both arrays). */
static int append_all(json_t *into, const json_t *more)
{
    for (size_t i = 0; i < json_array_size(more); i++)
        if (json_array_append(into, json_array_get(more, i)) < 0)
            return -1;
    return 0;
}

/* Reads and validates the body's images and videos into op (videos
 * packed under the storage policy).  Returns 1 when the request may go on,
 * 0 when it has been answered. */
static int read_images(sitr_req_t *req, case_op_t *op)
{
    const sitr_config_t *cfg = cfg_of(req);
    json_t *body = sitr_req_json_body(req);
    if (!body)
        return 0;
    sitr_images_t im;
    sitr_videos_t vi;
    sitr_images_error_t err;
    sitr_videos_limits_t lim = video_limits(cfg);
    int rc = sitr_case_body_parse(body, cfg->max_images_per_request, &lim, &im, &vi, &err);
    json_decref(body);
    if (rc < 0) {
        reply_invalid(req, &err);
        return 0;
    }
    if (im.count > cfg->max_images_per_case) {
        sitr_images_clear(&im);
        sitr_videos_clear(&vi);
        reply_too_many(req, cfg->max_images_per_case);
        return 0;
    }
    /* The storage policy's variants (match/vpack.h): FLIPY, or all seven
     * with --case-video-dihedral=on. */
    op->videos = sitr_videos_sql(
        &vi, cfg->case_video_dihedral ? SITR_VPACK_VARIANTS_ALL : SITR_VPACK_VARIANTS_DEFAULT,
        &err);
    op->images = im.images ? json_dumps(im.images, JSON_COMPACT) : strdup("[]");
    op->warnings = im.warnings ? json_incref(im.warnings) : json_array();
    op->sent = im.count;
    op->duplicates = im.duplicates;
    op->videos_sent = vi.count;
    int bad =
        !op->images || !op->warnings || (vi.warnings && append_all(op->warnings, vi.warnings) < 0);
    sitr_images_clear(&im);
    sitr_videos_clear(&vi);
    if (!op->videos) {
        reply_invalid(req, &err);
        return 0;
    }
    if (bad) {
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
            reply_case_full(req, op);
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
    long videos = strtol(PQgetvalue(res, 0, 2), NULL, 10);
    json_t *body = json_pack("{s:s,s:s,s:i,s:i,s:I,s:O}", "case", op->reference, "secret",
                             op->secret, "images", (int)images, "videos", (int)videos, "duplicates",
                             duplicates(op, images), "warnings", op->warnings);
    if (!body) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto out;
    }
    sitr_api_t *api = api_of(req);
    api->counters.cases_created++;
    api->counters.images_added += (unsigned long)images;
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case created with %ld images and %ld videos",
             images, videos);
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
    const char *params[6] = {op->reference, op->digest_hex,   op->images,
                             op->videos,    op->max_per_case, op->max_videos};
    return sitr_db_submit(sitr_req_server(req)->db,
                          "SELECT case_id, images, videos FROM sitr_case_create($1, "
                          "decode($2, 'hex'), $3::jsonb, $4::jsonb, $5::int, $6::int)",
                          6, params, on_created, op);
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
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req),
                 "case handler called without an authenticated case");
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
    /* SIT01: the case would hold more images or videos than allowed. */
    if (rc < 0 && sqlstate && strcmp(sqlstate, "SIT01") == 0 && !sitr_req_gone(req)) {
        reply_case_full(req, op);
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
    long vadded = strtol(PQgetvalue(res, 0, 2), NULL, 10);
    long vtotal = strtol(PQgetvalue(res, 0, 3), NULL, 10);
    json_t *body =
        json_pack("{s:s,s:i,s:i,s:i,s:i,s:I,s:O}", "case", op->reference, "added", (int)added,
                  "images", (int)total, "videos_added", (int)vadded, "videos", (int)vtotal,
                  "duplicates", duplicates(op, added), "warnings", op->warnings);
    if (!body) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto out;
    }
    api_of(req)->counters.images_added += (unsigned long)added;
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case images added: %ld, videos added: %ld",
             added, vadded);
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
    const char *params[5] = {op->case_id, op->images, op->videos, op->max_per_case, op->max_videos};
    return case_submit(op,
                       "SELECT added, total, videos_added, videos_total FROM sitr_case_add("
                       "$1::bigint, $2::jsonb, $3::jsonb, $4::int, $5::int)",
                       5, params, on_added);
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
