/* GET /v1/takedowns and POST /v1/takedowns/{id}: a platform reads the
 * takedown requests for its own uploads and answers them (DESIGN.md "API";
 * contract in docs/api-platforms.md).
 *
 * Every statement is bound to the authenticated platform id, so another
 * platform's takedown is indistinguishable from a missing one (404).  A
 * listed takedown carries what the platform needs to review it (its own
 * upload id and URL, the signal, distance and quality of the best match)
 * and an opaque per-platform case token to group requests from one case;
 * never a victim's hash, never the case reference.  Pages are ordered by
 * takedown id; the cursor is the last id of a page under a keyed MAC
 * (api_platform.c), and one extra row is read to know whether a next page
 * exists.  Answers go through sitr_takedown_answer: only a pending
 * takedown can be answered (409 otherwise), and the victim's timeline
 * records the outcome in the same transaction.  Loop thread; database work
 * holds a reference on the request. */
#include "api/takedowns.h"
#include "api/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/opaque.h>

#include "api/platform.h"
#include "db/db.h"
#include "core/log.h"
#include "match/msearch.h"
#include "net/server.h"

#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

typedef struct list_op {
    sitr_req_t *req;
    unsigned limit;
} list_op_t;

static json_t *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static json_t *int_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null()
                                      : json_integer(strtol(PQgetvalue(res, row, col), NULL, 10));
}

static json_t *takedown_json(sitr_req_t *req, const PGresult *res, int row)
{
    const sitr_server_t *srv = sitr_req_server(req);
    char token[SITR_OPAQUE_TOKEN_LEN + 1];
    sitr_opaque_case_token(srv->cfg->digest_key, sitr_req_platform_id(req),
                           strtoll(PQgetvalue(res, row, 10), NULL, 10), token);
    return json_pack(
        "{s:s,s:s,s:{s:s,s:o},s:s,s:i,s:o,s:o,s:s,s:s,s:s}", "id", PQgetvalue(res, row, 0),
        "status", PQgetvalue(res, row, 1), "upload", "id", PQgetvalue(res, row, 2), "url",
        text_or_null(res, row, 3), "signal", PQgetvalue(res, row, 4), "distance",
        sitr_msearch_band((int)strtol(PQgetvalue(res, row, 5), NULL, 10),
                          (int)srv->cfg->match_threshold),
        "quality", int_or_null(res, row, 6), "note", text_or_null(res, row, 7), "created_at",
        PQgetvalue(res, row, 8), "updated_at", PQgetvalue(res, row, 9), "case", token);
}

static void on_list(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    (void)sqlstate;
    list_op_t *op = arg;
    sitr_req_t *req = op->req;
    if (!sitr_api_db_ok(req, rc))
        goto out;
    int rows = PQntuples(res);
    int more = rows > (int)op->limit;
    if (more)
        rows = (int)op->limit;
    json_t *list = json_array();
    for (int i = 0; list && i < rows; i++) {
        if (json_array_append_new(list, takedown_json(req, res, i)) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_t *next = json_null();
    if (more && rows > 0) {
        char cursor[SITR_OPAQUE_CURSOR_LEN + 1];
        sitr_opaque_cursor_encode(sitr_req_server(req)->cfg->digest_key, sitr_req_platform_id(req),
                                  strtoll(PQgetvalue(res, rows - 1, 0), NULL, 10), cursor);
        json_decref(next);
        next = json_string(cursor);
    }
    json_t *body =
        list && next ? json_pack("{s:o,s:o}", "takedowns", list, "next_cursor", next) : NULL;
    if (!body) {
        json_decref(list);
        json_decref(next);
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto out;
    }
    sitr_req_add_header(req, "Cache-Control", "no-store");
    sitr_req_reply_json(req, 200, body);
out:
    free(op);
    sitr_req_unref(req);
}

int sitr_api_takedowns_list(sitr_req_t *req)
{
    const sitr_server_t *srv = sitr_req_server(req);
    int64_t platform = sitr_req_platform_id(req);
    sitr_takedown_query_t q;
    sitr_platform_error_t err = {0};
    if (sitr_platform_parse_takedown_query(
            srv->cfg->digest_key, platform, sitr_req_query(req, "status"),
            sitr_req_query(req, "after"), sitr_req_query(req, "limit"), &q, &err) < 0) {
        sitr_req_reply_error(req, 422, err.code, err.message, err.field);
        return 0;
    }
    list_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return SITR_ENOMEM;
    op->req = req;
    op->limit = q.limit;
    char p_platform[24], p_after[24], p_limit[16];
    snprintf(p_platform, sizeof p_platform, "%lld", (long long)platform);
    snprintf(p_after, sizeof p_after, "%lld", (long long)q.after);
    snprintf(p_limit, sizeof p_limit, "%u", q.limit + 1);
    const char *params[4] = {p_platform, q.status, p_after, p_limit};
    sitr_req_ref(req);
    int rc =
        sitr_db_submit(srv->db,
                       "SELECT t.id, t.status, u.content_id, u.url, t.signal, t.distance, "
                       "t.quality, t.note, " ISO_UTC("t.created_at") ", " ISO_UTC(
                           "t.updated_at") ", t.case_id "
                                           "FROM takedowns t JOIN uploads u ON u.id = t.upload_id "
                                           "WHERE t.platform_id = $1::bigint AND ($2::text IS NULL "
                                           "OR t.status = $2::text) "
                                           "AND t.id > $3::bigint ORDER BY t.id LIMIT $4::int",
                       4, params, on_list, op);
    if (rc < 0) {
        free(op);
        sitr_req_unref(req);
        return rc;
    }
    return 0;
}

static void reply_not_found(sitr_req_t *req)
{
    sitr_req_reply_error(req, 404, "takedown_not_found",
                         "this platform has no takedown with this id", "id");
}

static void on_answered(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    sitr_req_t *req = arg;
    if (sitr_req_gone(req))
        goto out;
    if (rc < 0) {
        if (sqlstate && strcmp(sqlstate, "SIT03") == 0)
            reply_not_found(req);
        else if (sqlstate && strcmp(sqlstate, "SIT02") == 0)
            sitr_req_reply_error(req, 409, "invalid_transition",
                                 "only a pending takedown can be answered; this one is already "
                                 "answered or cancelled",
                                 "status");
        else if (sqlstate && strcmp(sqlstate, "22023") == 0)
            sitr_req_reply_error(req, 422, "invalid_status",
                                 "status is removed, rejected or not_found", "status");
        else
            sitr_api_reply_db_error(req, rc);
        goto out;
    }
    if (PQntuples(res) != 1) {
        sitr_api_reply_db_error(req, SITR_EINTERNAL);
        goto out;
    }
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "takedown answered: %s", PQgetvalue(res, 0, 1));
    json_t *body = json_pack("{s:s,s:s,s:s}", "id", PQgetvalue(res, 0, 0), "status",
                             PQgetvalue(res, 0, 1), "updated_at", PQgetvalue(res, 0, 2));
    sitr_api_reply_json_or_fail(req, 200, body);
out:
    sitr_req_unref(req);
}

int sitr_api_takedowns_answer(sitr_req_t *req)
{
    int64_t id = 0;
    if (!sitr_platform_parse_id(sitr_req_param(req, "id"), &id)) {
        reply_not_found(req);
        return 0;
    }
    json_t *body = sitr_req_json_body(req);
    if (!body)
        return 0;
    const char *status = NULL, *note = NULL;
    sitr_platform_error_t err = {0};
    if (sitr_platform_parse_answer(body, &status, &note, &err) < 0) {
        json_decref(body);
        sitr_req_reply_error(req, 422, err.code, err.message, err.field[0] ? err.field : NULL);
        return 0;
    }
    char p_platform[24], p_id[24];
    snprintf(p_platform, sizeof p_platform, "%lld", (long long)sitr_req_platform_id(req));
    snprintf(p_id, sizeof p_id, "%lld", (long long)id);
    const char *params[4] = {p_platform, p_id, status, note};
    sitr_req_ref(req);
    /* The values are copied by sitr_db_submit, so the body may go now. */
    int rc = sitr_db_submit(
        sitr_req_server(req)->db,
        "SELECT id, status, " ISO_UTC(
            "updated_at") " FROM sitr_takedown_answer($1::bigint, $2::bigint, $3, $4)",
        4, params, on_answered, req);
    json_decref(body);
    if (rc < 0) {
        sitr_req_unref(req);
        return rc;
    }
    return 0;
}
