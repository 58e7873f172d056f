/* GET /v1/cases/{case}/report: the evidence report a victim gives to the
 * police (DESIGN.md "API"; in Morocco through the "Iblagh" platform).
 *
 * One call to sitr_case_report() reads everything in one snapshot: the
 * case, a summary, every takedown request (platform, the platform's upload
 * id and URL, matches with signal and distance, status history with the
 * platform's notes) and the uploads blocked by /v1/match per platform and
 * UTC day.  The service adds, per takedown, the opaque case token the
 * platform sees in GET /v1/takedowns, so the platform can find its own
 * records.  The answer is JSON (default, or Accept: application/json) or a
 * self-contained printable HTML page (Accept: text/html or ?format=html) in
 * English, French or Arabic (?lang=en|fr|ar, else Accept-Language), drawn
 * by report_page.c.
 *
 * Invariants: the case was authenticated by auth.c (a withdrawn case is
 * answered 404 case_not_found here too, as it may have been withdrawn after
 * authentication); no hash of any kind is read, so none can leak; every
 * value in the page is escaped by html.c, URLs and notes from platforms
 * are hostile and shown as text (the page has no link, no script, and is
 * sent with a Content-Security-Policy that allows only its inline style).
 * Loop thread; the database call holds a reference on the request. */
#include "api/report.h"
#include "api/reply.h"
#include "api/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sitr/opaque.h>

#include "api/platform.h"
#include "db/db.h"
#include "api/report_page.h"
#include "core/log.h"
#include "net/server.h"

/* SITR_REPORT_MAX_ROWS as the text of a query parameter. */
#define STR_(x)         #x
#define STR(x)          STR_(x)
#define REPORT_MAX_ROWS STR(SITR_REPORT_MAX_ROWS)

#define REPORT_CSP "default-src 'none'; style-src 'unsafe-inline'"

/* The report, the platforms taking part (not revoked), and for each
 * takedown which of the case's pictures and videos were found, numbered as
 * she added them (1 = the first picture of the case, erased ones keep their
 * number).  One statement, so one snapshot. */
#define REPORT_SQL                                                                                 \
    "WITH imgs AS (SELECT id, row_number() OVER (ORDER BY id) AS no FROM case_images "             \
    "WHERE case_id = $1::bigint), "                                                                \
    "vids AS (SELECT id, row_number() OVER (ORDER BY id) AS no FROM case_videos "                  \
    "WHERE case_id = $1::bigint) "                                                                 \
    "SELECT sitr_case_report($1::bigint, $2::int)::text, "                                         \
    "(SELECT coalesce(json_agg(p.name ORDER BY p.name), '[]') FROM platforms p "                   \
    "WHERE p.revoked_at IS NULL)::text, "                                                          \
    "(SELECT coalesce(json_object_agg(t.id::text, json_build_object("                              \
    "'images', (SELECT coalesce(json_agg(DISTINCT i.no ORDER BY i.no), '[]') FROM matches m "      \
    "JOIN imgs i ON i.id = m.case_image_id WHERE m.upload_id = t.upload_id), "                     \
    "'videos', (SELECT coalesce(json_agg(DISTINCT v.no ORDER BY v.no), '[]') FROM matches m "      \
    "JOIN vids v ON v.id = m.case_video_id WHERE m.upload_id = t.upload_id))), '{}') "             \
    "FROM takedowns t WHERE t.case_id = $1::bigint)::text"

typedef struct report_op {
    sitr_req_t *req;
    char case_id[24];
    int64_t case_num;
    int html;
    sitr_report_lang_t lang;
} report_op_t;

/* ---- request parsing ------------------------------------------------------- */

/* Walks a comma-separated header of entries like "text/html;q=0.8" or
 * "fr-MA;q=0.9": at each call returns 1 with the entry's token (before any
 * parameter, trimmed) in *tok and *tlen, and its weight in *q (1000 = q=1; a
 * malformed q counts as 0), or 0 at the end. */
static int next_entry(const char **cursor, const char **tok, size_t *tlen, int *q)
{
    const char *p = *cursor;
    while (p && (*p == ',' || *p == ' ' || *p == '\t'))
        p++;
    if (!p || !*p)
        return 0;
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    *cursor = p + n;
    size_t t = strcspn(p, ";, \t");
    *tok = p;
    *tlen = t < n ? t : n;
    *q = 1000;
    for (size_t i = *tlen; i + 1 < n; i++) {
        if ((p[i] == 'q' || p[i] == 'Q') && p[i + 1] == '=' && i > 0 &&
            (p[i - 1] == ';' || p[i - 1] == ' ' || p[i - 1] == '\t')) {
            char buf[8] = {0};
            size_t k = 0;
            for (size_t j = i + 2; j < n && k < sizeof buf - 1; j++) {
                if (p[j] != '.' && (p[j] < '0' || p[j] > '9'))
                    break;
                buf[k++] = p[j];
            }
            double d = k ? strtod(buf, NULL) : 0;
            *q = d >= 0 && d <= 1 ? (int)(d * 1000 + 0.5) : 0;
            break;
        }
    }
    return 1;
}

static int is_token(const char *tok, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(tok, want, n) == 0;
}

/* How specifically a media range names type/subtype: 3 exactly, 2 type/star,
 * 1 star/star, 0 not at all. */
static int specificity(const char *tok, size_t n, const char *type, const char *subtype_any)
{
    if (is_token(tok, n, type))
        return 3;
    if (is_token(tok, n, subtype_any))
        return 2;
    return is_token(tok, n, "*/*") ? 1 : 0;
}

/* HTML only when Accept weighs it above JSON (each type takes the weight
 * of its most specific range, RFC 9110 12.5.1); no Accept, or a tie, is
 * JSON. */
static int accept_prefers_html(const char *accept)
{
    int html_q = 0, html_s = 0, json_q = 0, json_s = 0;
    const char *cur = accept, *tok;
    size_t n;
    int q;
    while (next_entry(&cur, &tok, &n, &q)) {
        int s = specificity(tok, n, "text/html", "text/*");
        if (s > html_s || (s && s == html_s && q > html_q)) {
            html_s = s;
            html_q = q;
        }
        s = specificity(tok, n, "application/json", "application/*");
        if (s > json_s || (s && s == json_s && q > json_q)) {
            json_s = s;
            json_q = q;
        }
    }
    return html_q > 0 && html_q > json_q;
}

static int lang_of(const char *s, size_t n, sitr_report_lang_t *out)
{
    for (int i = 0; i < SITR_REPORT_NLANGS; i++)
        if (n == 2 && strncasecmp(s, sitr_report_lang_code[i], 2) == 0) {
            *out = (sitr_report_lang_t)i;
            return 1;
        }
    return 0;
}

/* The supported language Accept-Language weighs most (the first one on a
 * tie); English by default. */
static sitr_report_lang_t accept_language(const char *header)
{
    sitr_report_lang_t best = SITR_REPORT_EN, l;
    int best_q = 0;
    const char *cur = header, *tok;
    size_t n;
    int q;
    while (next_entry(&cur, &tok, &n, &q)) {
        size_t primary = 0;
        while (primary < n && tok[primary] != '-' && tok[primary] != '_')
            primary++;
        if (q > best_q && lang_of(tok, primary, &l)) {
            best = l;
            best_q = q;
        }
    }
    return best;
}

/* ---- JSON ---------------------------------------------------------------------- */

static const char *jstr_or_empty(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

static void copy_fields(json_t *dst, const json_t *src, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        json_t *v = json_object_get(src, names[i]);
        json_object_set(dst, names[i], v ? v : json_null());
    }
}

/* The report as sent: fixed member order, the platform's case token added
 * to each takedown, internal members dropped.  NULL on allocation failure. */
/* The operator's texts: "" when not configured (development only). */
static json_t *operator_json(const sitr_config_t *cfg)
{
    json_t *help = json_array();
    const char *p = cfg->help ? cfg->help : "";
    while (help && *p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        size_t a = 0;
        while (a < n && p[a] == ' ')
            a++;
        while (n > a && p[n - 1] == ' ')
            n--;
        if (n > a)
            json_array_append_new(help, json_stringn(p + a, n - a));
        p = bar ? bar + 1 : p + strlen(p);
    }
    return json_pack("{s:s,s:s,s:s,s:o*}", "name", cfg->operator_name ? cfg->operator_name : "",
                     "contact", cfg->operator_contact ? cfg->operator_contact : "", "address",
                     cfg->operator_address ? cfg->operator_address : "", "help", help);
}

static json_t *shape_report(const report_op_t *op, const json_t *db, const json_t *platforms,
                            const json_t *found)
{
    static const char *const top[] = {"created_at", "generated_at", "images",
                                      "videos",     "summary",      NULL};
    static const char *const td_head[] = {"id", "platform", NULL};
    static const char *const td_mid[] = {"upload", "signal", "distance", NULL};
    /* A video match's evidence (share of the case video covered, longest
     * aligned run), only when the database gave it: an image takedown keeps
     * its members. */
    static const char *const td_video[] = {"coverage", "run_seconds", NULL};
    static const char *const td_tail[] = {"found_at",     "matches",    "status",  "note",
                                          "requested_at", "updated_at", "history", NULL};
    static const char *const found_kinds[] = {"images", "videos", NULL};
    const sitr_config_t *cfg = sitr_req_server(op->req)->cfg;
    json_t *out = json_object();
    json_t *tds = json_array();
    if (!out || !tds) {
        json_decref(out);
        json_decref(tds);
        return NULL;
    }
    json_object_set_new(out, "case", json_incref(json_object_get(db, "reference")));
    copy_fields(out, db, top);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(db, "takedowns"), i, t)
    {
        json_t *o = json_object();
        if (!o)
            break;
        copy_fields(o, t, td_head);
        char token[SITR_OPAQUE_TOKEN_LEN + 1];
        sitr_opaque_case_token(cfg->digest_key,
                               json_integer_value(json_object_get(t, "platform_id")), op->case_num,
                               token);
        json_object_set_new(o, "platform_case", json_string(token));
        copy_fields(o, t, td_mid);
        for (size_t k = 0; td_video[k]; k++) {
            json_t *v = json_object_get(t, td_video[k]);
            if (v && !json_is_null(v))
                json_object_set(o, td_video[k], v);
        }
        copy_fields(o, t, td_tail);
        /* Which of her pictures and videos, by their numbers in the case. */
        const json_t *mine = json_object_get(found, jstr_or_empty(json_object_get(t, "id")));
        json_t *items = json_object();
        for (size_t k = 0; items && found_kinds[k]; k++) {
            json_t *v = json_object_get(mine, found_kinds[k]);
            json_object_set_new(items, found_kinds[k],
                                json_is_array(v) ? json_incref(v) : json_array());
        }
        json_object_set_new(o, "case_items", items ? items : json_null());
        json_array_append_new(tds, o);
    }
    json_object_set_new(out, "takedowns", tds);
    json_t *blocked = json_object_get(db, "uploads_blocked");
    json_object_set(out, "uploads_blocked", blocked ? blocked : json_array());
    json_t *tr = json_object_get(db, "truncated");
    json_object_set_new(out, "truncated", json_boolean(json_is_true(tr)));
    json_object_set_new(out, "match_threshold", json_integer(cfg->match_threshold));
    json_object_set(out, "platforms",
                    json_is_array(platforms) ? (json_t *)platforms : json_array());
    json_object_set_new(out, "operator", operator_json(cfg));
    if (json_array_size(tds) != json_array_size(json_object_get(db, "takedowns"))) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- the handler ------------------------------------------------------------- */

static void op_done(report_op_t *op)
{
    sitr_req_t *req = op->req;
    free(op);
    sitr_req_unref(req);
}

static void on_report(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    report_op_t *op = arg;
    sitr_req_t *req = op->req;
    json_t *db = NULL, *out = NULL, *platforms = NULL, *found = NULL;
    if (sitr_req_gone(req))
        goto done;
    if (rc < 0) {
        if (sqlstate && (strcmp(sqlstate, "SIT03") == 0 || strcmp(sqlstate, "SIT04") == 0))
            sitr_api_reply_case_not_found(req);
        else
            sitr_api_reply_db_error(req, rc);
        goto done;
    }
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        sitr_api_reply_case_not_found(req);
        goto done;
    }
    json_error_t jerr;
    db = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    if (!json_is_object(db)) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "case report is not a JSON object");
        sitr_api_reply_db_error(req, SITR_EINTERNAL);
        goto done;
    }
    /* Withdrawn after authentication: gone for its owner too. */
    const json_t *w = json_object_get(db, "withdrawn_at");
    if (w && !json_is_null(w)) {
        sitr_api_reply_case_not_found(req);
        goto done;
    }
    platforms = PQnfields(res) >= 3 ? json_loads(PQgetvalue(res, 0, 1), 0, &jerr) : NULL;
    found = PQnfields(res) >= 3 ? json_loads(PQgetvalue(res, 0, 2), 0, &jerr) : NULL;
    out = shape_report(op, db, platforms, found);
    if (!out) {
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto done;
    }
    /* Signed by the operator's key (sitr/report_sign.h), JSON and HTML
     * alike: the page carries the signed JSON. */
    const sitr_config_t *cfg = sitr_req_server(req)->cfg;
    if (cfg->have_report_key && sitr_report_sign(out, &cfg->report_key) < 0) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req), "case report could not be signed");
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto done;
    }
    size_t listed = json_array_size(json_object_get(out, "takedowns"));
    sitr_req_add_header(req, "Cache-Control", "no-store");
    sitr_req_add_header(req, "Vary", "Accept, Accept-Language");
    if (!op->html) {
        sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case report sent as JSON (%zu takedowns)",
                 listed);
        sitr_req_reply_json(req, 200, out);
        out = NULL;
        goto done;
    }
    size_t len = 0;
    char *page = sitr_report_page(out, op->lang, &len);
    if (!page) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req),
                 "case report page too large or out of memory");
        sitr_api_reply_db_error(req, SITR_ENOMEM);
        goto done;
    }
    sitr_req_add_header(req, "Content-Security-Policy", REPORT_CSP);
    sitr_req_add_header(req, "Content-Language", sitr_report_lang_code[op->lang]);
    sitr_req_add_header(req, "Referrer-Policy", "no-referrer");
    sitr_req_add_header(req, "X-Frame-Options", "DENY");
    sitr_log(SITR_LOG_INFO, sitr_req_log_ids(req), "case report sent as HTML/%s (%zu takedowns)",
             sitr_report_lang_code[op->lang], listed);
    sitr_req_reply(req, 200, "text/html; charset=utf-8", page, len);
    free(page);
done:
    json_decref(db);
    json_decref(out);
    json_decref(platforms);
    json_decref(found);
    op_done(op);
}

int sitr_api_cases_report(sitr_req_t *req)
{
    int64_t id = sitr_req_case_id(req);
    if (id <= 0) {
        sitr_log(SITR_LOG_ERROR, sitr_req_log_ids(req),
                 "report handler called without an authenticated case");
        sitr_req_reply_error(req, 500, "internal", "internal error", NULL);
        return 0;
    }
    int html;
    const char *format = sitr_req_query(req, "format");
    if (!format)
        html = accept_prefers_html(sitr_req_header(req, "Accept"));
    else if (strcmp(format, "html") == 0)
        html = 1;
    else if (strcmp(format, "json") == 0)
        html = 0;
    else {
        sitr_req_reply_error(req, 422, "invalid_format", "format is json or html", "format");
        return 0;
    }
    sitr_report_lang_t lang;
    const char *l = sitr_req_query(req, "lang");
    if (!l)
        lang = accept_language(sitr_req_header(req, "Accept-Language"));
    else if (!lang_of(l, strlen(l), &lang)) {
        sitr_req_reply_error(req, 422, "invalid_lang", "lang is en, fr or ar", "lang");
        return 0;
    }
    report_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return SITR_ENOMEM;
    op->req = req;
    op->case_num = id;
    op->html = html;
    op->lang = lang;
    snprintf(op->case_id, sizeof op->case_id, "%lld", (long long)id);
    const char *params[2] = {op->case_id, REPORT_MAX_ROWS};
    sitr_req_ref(req);
    int rc = sitr_db_submit(sitr_req_server(req)->db, REPORT_SQL, 2, params, on_report, op);
    if (rc < 0) {
        free(op);
        sitr_req_unref(req);
        return rc;
    }
    return 0;
}
