/* POST /v1/uploads and DELETE /v1/uploads/{id}: platforms report uploads
 * (their content id, an optional URL, the hashes of an image, or a video's
 * frame hashes packed as match/vpack.h stores them) and say when they no
 * longer have one (DESIGN.md "API"; contract in docs/api-platforms.md).
 *
 * Reports are validated completely first (api_platform.c), then stored by
 * one call to sitr_uploads_report, which writes the uploads and the change
 * log in one transaction: a refused request stores nothing.  Matching is
 * not done here: the matcher follows the change log and cross-matches each
 * new upload against every case, now and in future, so the answer is 202
 * (accepted; takedowns appear in GET /v1/takedowns).  Only the platform's
 * own uploads are ever touched: every statement is bound to the
 * authenticated platform id.  Loop thread; database work holds a reference
 * on the request. */
#include "api/uploads.h"
#include "api/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/platform.h"
#include "db/db.h"
#include "core/log.h"
#include "net/server.h"

typedef struct uploads_op {
    sitr_req_t *req;
    sitr_uploads_t up;
} uploads_op_t;

static void op_done(uploads_op_t *op)
{
    sitr_req_t *req = op->req;
    sitr_platform_uploads_clear(&op->up);
    free(op);
    sitr_req_unref(req);
}

static void on_reported(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    uploads_op_t *op = arg;
    sitr_req_t *req = op->req;
    if (sitr_req_gone(req))
        goto out;
    if (rc < 0) {
        if (sqlstate && strcmp(sqlstate, "22023") == 0) {
            /* Validation should have caught it: a mismatch between the two. */
            sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req),
                     "uploads refused by the database after validation");
            sitr_req_reply_error(req, 422, "invalid_upload", "an upload was refused", "uploads");
        } else {
            sitr_api_reply_db_error(req, rc);
        }
        goto out;
    }
    if ((size_t)PQntuples(res) != op->up.count) {
        sitr_api_reply_db_error(req, SITR_EINTERNAL);
        goto out;
    }
    json_t *list = json_array();
    size_t created = 0, updated = 0;
    for (int i = 0; list && i < PQntuples(res); i++) {
        const char *status = PQgetvalue(res, i, 1);
        created += strcmp(status, "created") == 0;
        updated += strcmp(status, "updated") == 0;
        json_t *it = json_pack("{s:s,s:s}", "id", PQgetvalue(res, i, 0), "status", status);
        if (it && op->up.ignored[i])
            json_object_set_new(it, "pdq_ignored", json_string("quality_too_low"));
        if (!it || json_array_append_new(list, it) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_t *body = list ? json_pack("{s:o}", "uploads", list) : NULL;
    if (!body) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto out;
    }
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req),
             "uploads reported: %zu created, %zu updated, %zu unchanged", created, updated,
             op->up.count - created - updated);
    sitr_req_reply_json(req, 202, body);
out:
    op_done(op);
}

int sitr_api_uploads_report(sitr_req_t *req)
{
    sitr_server_t *srv = sitr_req_server(req);
    json_t *body = sitr_req_json_body(req);
    if (!body)
        return 0;
    uploads_op_t *op = calloc(1, sizeof *op);
    if (!op) {
        json_decref(body);
        return SITR_ENOMEM;
    }
    op->req = req;
    sitr_platform_error_t err = {0};
    const sitr_videos_limits_t vlim = {.max_videos = srv->cfg->match_batch,
                                       .max_frames = srv->cfg->max_video_frames,
                                       .max_total_frames = srv->cfg->max_match_frames};
    int rc = sitr_platform_parse_uploads_v(body, srv->cfg->match_batch, &vlim, &op->up, &err);
    json_decref(body);
    if (rc < 0) {
        free(op);
        if (strcmp(err.code, "internal") == 0)
            return SITR_ENOMEM;
        sitr_req_reply_error(req, 422, err.code, err.message, err.field[0] ? err.field : NULL);
        return 0;
    }
    char *json = json_dumps(op->up.uploads, JSON_COMPACT);
    if (!json) {
        sitr_platform_uploads_clear(&op->up);
        free(op);
        return SITR_ENOMEM;
    }
    char platform[24];
    snprintf(platform, sizeof platform, "%lld", (long long)sitr_req_platform_id(req));
    const char *params[2] = {platform, json};
    sitr_req_ref(req);
    rc = sitr_db_submit(srv->db,
                        "SELECT content_id, status FROM sitr_uploads_report($1::bigint, $2::jsonb)",
                        2, params, on_reported, op);
    free(json);
    if (rc < 0) {
        op_done(op);
        return rc;
    }
    return 0;
}

typedef struct remove_op {
    sitr_req_t *req;
    char *id; /* in the request's arena */
} remove_op_t;

static void on_removed(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    (void)sqlstate;
    remove_op_t *op = arg;
    sitr_req_t *req = op->req;
    if (!sitr_api_db_ok(req, rc))
        goto out;
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        sitr_req_reply_error(req, 404, "upload_not_found",
                             "this platform has no live upload with this id", "id");
        goto out;
    }
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "upload removed");
    json_t *body = json_pack("{s:s,s:b}", "id", op->id, "removed", 1);
    sitr_api_reply_json_or_fail(req, 200, body);
out:
    free(op);
    sitr_req_unref(req);
}

int sitr_api_uploads_remove(sitr_req_t *req)
{
    const char *id = sitr_req_param(req, "id");
    if (!id || !sitr_platform_valid_content_id(id, strlen(id))) {
        sitr_req_reply_error(req, 404, "upload_not_found",
                             "this platform has no live upload with this id", "id");
        return 0;
    }
    remove_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return SITR_ENOMEM;
    op->req = req;
    op->id = (char *)id;
    char platform[24];
    snprintf(platform, sizeof platform, "%lld", (long long)sitr_req_platform_id(req));
    const char *params[2] = {platform, id};
    sitr_req_ref(req);
    int rc = sitr_db_submit(sitr_req_server(req)->db, "SELECT sitr_upload_remove($1::bigint, $2)",
                            2, params, on_removed, op);
    if (rc < 0) {
        free(op);
        sitr_req_unref(req);
        return rc;
    }
    return 0;
}
