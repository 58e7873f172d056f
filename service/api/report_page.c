/* The printable evidence report: a self-contained HTML page (no link, no
 * script, one inline style) in English, French or Arabic, drawn from the
 * report's JSON (report.c).
 *
 * The words come from the texts catalogue service/web/texts.json (keys
 * "evidence_*"), the one file translators edit for the web page and this
 * report alike; sitr_report_page_texts reads them once at start-up and
 * refuses a catalogue that lacks one of them in one language.  Words are
 * trusted text (part of the source tree) and go into the page as they are;
 * every value from the database or a platform is escaped by html.c.
 * Loop thread. */
#include "api/report_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/err_service.h>

#include "api/html.h"

/* Largest page we build: 1000 takedowns with hostile 1000-character notes
 * and 2048-byte URLs, escaped, stay well below it. */
#define REPORT_HTML_MAX ((size_t)48 << 20)

const char *const sitr_report_lang_code[SITR_REPORT_NLANGS] = {"en", "fr", "ar"};

/* Every word of the page: its name here and its key in texts.json.  "{n}"
 * in a word is replaced by a number (put_num). */
#define WORDS(X)                                                                                   \
    X(TITLE, "evidence_title")                                                                     \
    X(INTRO, "evidence_intro")                                                                     \
    X(CASE, "evidence_case")                                                                       \
    X(REFERENCE, "evidence_reference")                                                             \
    X(CREATED, "evidence_created")                                                                 \
    X(IMAGES, "evidence_images")                                                                   \
    X(VIDEOS, "evidence_videos")                                                                   \
    X(GENERATED, "evidence_generated")                                                             \
    X(UTC, "evidence_utc")                                                                         \
    X(SUMMARY, "evidence_summary")                                                                 \
    X(S_PLATFORMS, "evidence_s_platforms")                                                         \
    X(S_FOUND, "evidence_s_found")                                                                 \
    X(S_MATCHES, "evidence_s_matches")                                                             \
    X(S_REMOVED, "evidence_s_removed")                                                             \
    X(S_REJECTED, "evidence_s_rejected")                                                           \
    X(S_NOT_FOUND, "evidence_s_not_found")                                                         \
    X(S_PENDING, "evidence_s_pending")                                                             \
    X(S_CANCELLED, "evidence_s_cancelled")                                                         \
    X(S_BLOCKED, "evidence_s_blocked")                                                             \
    X(FOUND, "evidence_found")                                                                     \
    X(NONE_FOUND, "evidence_none_found")                                                           \
    X(F_PLATFORM, "evidence_f_platform")                                                           \
    X(F_UPLOAD_ID, "evidence_f_upload_id")                                                         \
    X(F_URL, "evidence_f_url")                                                                     \
    X(F_REPORTED, "evidence_f_reported")                                                           \
    X(F_DELETED, "evidence_f_deleted")                                                             \
    X(F_FOUND_AT, "evidence_f_found_at")                                                           \
    X(F_MATCH, "evidence_f_match")                                                                 \
    X(F_MATCHED, "evidence_f_matched")                                                             \
    X(F_REQUEST, "evidence_f_request")                                                             \
    X(F_TOKEN, "evidence_f_token")                                                                 \
    X(F_REQUESTED, "evidence_f_requested")                                                         \
    X(F_STATUS, "evidence_f_status")                                                               \
    X(HISTORY, "evidence_history")                                                                 \
    X(H_TIME, "evidence_h_time")                                                                   \
    X(H_STATUS, "evidence_h_status")                                                               \
    X(H_NOTE, "evidence_h_note")                                                                   \
    X(MATCH_PDQ, "evidence_match_pdq")                                                             \
    X(MATCH_MD5, "evidence_match_md5")                                                             \
    X(MATCH_SHA256, "evidence_match_sha256")                                                       \
    X(MATCH_VCOPY, "evidence_match_vpdq_copy")                                                     \
    X(MATCH_VEXCERPT, "evidence_match_vpdq_excerpt")                                               \
    X(MATCH_VFRAME, "evidence_match_video_frame")                                                  \
    X(F_WHAT, "evidence_f_what")                                                                   \
    X(KIND_IMAGE, "evidence_kind_image")                                                           \
    X(KIND_VIDEO, "evidence_kind_video")                                                           \
    X(F_COVERAGE, "evidence_f_coverage")                                                           \
    X(COVERAGE, "evidence_coverage")                                                               \
    X(F_RUN, "evidence_f_run")                                                                     \
    X(RUN, "evidence_run")                                                                         \
    X(ST_PENDING, "evidence_st_pending")                                                           \
    X(ST_REMOVED, "evidence_st_removed")                                                           \
    X(ST_REJECTED, "evidence_st_rejected")                                                         \
    X(ST_NOT_FOUND, "evidence_st_not_found")                                                       \
    X(ST_CANCELLED, "evidence_st_cancelled")                                                       \
    X(BLOCKED_INTRO, "evidence_blocked_intro")                                                     \
    X(NONE_BLOCKED, "evidence_none_blocked")                                                       \
    X(B_DATE, "evidence_b_date")                                                                   \
    X(B_COUNT, "evidence_b_count")                                                                 \
    X(B_FIRST, "evidence_b_first")                                                                 \
    X(B_LAST, "evidence_b_last")                                                                   \
    X(TRUNCATED, "evidence_truncated")                                                             \
    X(POLICE, "evidence_police")                                                                   \
    X(P1, "evidence_p1")                                                                           \
    X(P2, "evidence_p2")                                                                           \
    X(P3, "evidence_p3")                                                                           \
    X(P4, "evidence_p4")                                                                           \
    X(P5, "evidence_p5")                                                                           \
    X(FOOTER, "evidence_footer")                                                                   \
    X(F_ANSWERED, "evidence_f_answered")                                                           \
    X(F_ITEMS, "evidence_f_items")                                                                 \
    X(ITEM_IMAGE, "evidence_item_image")                                                           \
    X(ITEM_VIDEO, "evidence_item_video")                                                           \
    X(PLATFORMS, "evidence_platforms")                                                             \
    X(PLATFORMS_INTRO, "evidence_platforms_intro")                                                 \
    X(NO_PLATFORMS, "evidence_no_platforms")                                                       \
    X(OPERATOR, "evidence_operator")                                                               \
    X(O_NAME, "evidence_o_name")                                                                   \
    X(O_CONTACT, "evidence_o_contact")                                                             \
    X(O_ADDRESS, "evidence_o_address")                                                             \
    X(OPERATOR_UNSET, "evidence_operator_unset")                                                   \
    X(HELP, "evidence_help")                                                                       \
    X(HELP_POLICE, "evidence_help_police")                                                         \
    X(HELP_LIST, "evidence_help_list")                                                             \
    X(NEXT, "evidence_next")                                                                       \
    X(SIG_TITLE, "evidence_sig_title")                                                             \
    X(SIG_INTRO, "evidence_sig_intro")                                                             \
    X(SIG_CODE, "evidence_sig_code")                                                               \
    X(SIG_KEY, "evidence_sig_key")                                                                 \
    X(SIG_PUBLIC, "evidence_sig_public")                                                           \
    X(SIG_VALUE, "evidence_sig_value")                                                             \
    X(SIG_UNSIGNED, "evidence_sig_unsigned")

typedef enum word {
#define WORD_ENUM_(name, key) W_##name,
    WORDS(WORD_ENUM_)
#undef WORD_ENUM_
        W_COUNT
} word_t;

static const char *const word_keys[W_COUNT] = {
#define WORD_KEY_(name, key) key,
    WORDS(WORD_KEY_)
#undef WORD_KEY_
};

/* Set once by sitr_report_page_texts at start-up, read-only afterwards. */
static char *words[SITR_REPORT_NLANGS][W_COUNT];

static const char *text(word_t w, sitr_report_lang_t l)
{
    return words[l][w] ? words[l][w] : "";
}

void sitr_report_page_free_texts(void)
{
    for (int l = 0; l < SITR_REPORT_NLANGS; l++)
        for (int w = 0; w < W_COUNT; w++) {
            free(words[l][w]);
            words[l][w] = NULL;
        }
}

int sitr_report_page_texts(const char *json, size_t len, sitr_err_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return sitr_err_set(err, SITR_ECONFIG, "texts.json: not a JSON object (line %d: %s)",
                            jerr.line, jerr.text);
    }
    sitr_report_page_free_texts();
    int rc = 0;
    for (int l = 0; l < SITR_REPORT_NLANGS && rc == 0; l++) {
        const json_t *table = json_object_get(root, sitr_report_lang_code[l]);
        for (int w = 0; w < W_COUNT && rc == 0; w++) {
            const char *s = json_string_value(json_object_get(table, word_keys[w]));
            if (!s)
                rc = sitr_err_set(err, SITR_ECONFIG, "texts.json: \"%s\" has no \"%s\"",
                                  sitr_report_lang_code[l], word_keys[w]);
            else if (!(words[l][w] = strdup(s)))
                rc = sitr_err_set(err, SITR_ENOMEM, "out of memory");
        }
    }
    json_decref(root);
    if (rc < 0)
        sitr_report_page_free_texts();
    return rc;
}

/* On a phone (narrower than 30rem) every table is stacked, each label above
 * its value and each cell on its own line: a time never breaks (it is
 * nowrap) and nothing scrolls sideways. */
static const char STYLE[] =
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",\"Noto Naskh "
    "Arabic\",Tahoma,Arial,sans-serif;margin:2rem auto;max-width:54rem;padding:0 "
    "1rem;color:#111;background:#fff;line-height:1.45}h1{font-size:1.6rem;margin:0 0 "
    ".4rem}h2{font-size:1.2rem;border-bottom:2px solid #333;padding-bottom:.2rem;margin:2rem 0 "
    ".6rem}h3{font-size:1.05rem;margin:0 0 .5rem}h4{font-size:.95rem;margin:.6rem 0 "
    ".3rem}table{border-collapse:collapse;width:100%;margin:.3rem 0 .8rem}th,td{border:1px solid "
    "#999;padding:.3rem .5rem;text-align:start;vertical-align:top}table.kv "
    "th{width:40%;background:#f2f2f2;font-weight:600}thead "
    "th{background:#e6e6e6}.v{font-family:ui-monospace,\"DejaVu Sans "
    "Mono\",Menlo,Consolas,monospace;overflow-wrap:anywhere;word-break:break-all}.code{color:#555;"
    "font-size:.85em}.note{white-space:pre-wrap;overflow-wrap:anywhere}article{border:1px solid "
    "#bbb;padding:.8rem 1rem;margin:1rem 0}.warn{border:2px solid #333;padding:.5rem "
    ".8rem}footer{margin-top:2rem;font-size:.85rem;color:#444;border-top:1px solid "
    "#999;padding-top:.5rem}time{white-space:nowrap}.local{display:inline-block}ul{padding-inline-"
    "start:1.2rem}"
    "@page{size:A4;margin:15mm 15mm 18mm;@bottom-center{content:counter(page) \" / \" "
    "counter(pages);font-size:9pt}}@media "
    "print{body{margin:0;max-width:none;font-size:10pt}h2,h3,h4{break-after:avoid;page-break-after:"
    "avoid}table,article,tr,li{break-inside:avoid;page-break-inside:avoid}thead{display:table-"
    "header-group}th{background:none}}@media(max-width:30rem){body{margin:1rem auto;padding:0 "
    ".5rem}table,thead,tbody,tr,th,td{display:block;width:auto}table.kv "
    "th{width:auto}table{border:1px solid #999}tr+tr,tbody tr{border-top:1px solid "
    "#999}th,td{border:0;padding:.25rem .4rem}}";

const char *sitr_report_page_style(void)
{
    return STYLE;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void put(sitr_html_t *h, sitr_report_lang_t l, word_t w)
{
    sitr_html_raw(h, text(w, l));
}

/* A label with "{n}" replaced by n. */
static void put_num(sitr_html_t *h, sitr_report_lang_t l, word_t w, long long n)
{
    const char *s = text(w, l);
    const char *at = strstr(s, "{n}");
    if (!at) {
        sitr_html_raw(h, s);
        return;
    }
    sitr_html_rawf(h, "%.*s%lld%s", (int)(at - s), s, n, at + 3);
}

static void put_ltr(sitr_html_t *h, const char *value);

/* A time of the report ("2026-12-04T18:03:11.482Z") as
 * "2026-12-04 18:03:11 UTC" in a <time> that never breaks (the page that
 * saves the report adds the local time beside it), or a dash. */
static void put_time(sitr_html_t *h, const char *iso)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t i = 0;
    for (; iso && i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? iso[i] < '0' || iso[i] > '9' : iso[i] != shape[i])
            break;
    if (!iso || i < sizeof shape - 1) {
        put_ltr(h, iso); /* not the database's shape: shown as it is */
        return;
    }
    sitr_html_rawf(h, "<time dir=\"ltr\" datetime=\"%.19sZ\">%.10s %.8s UTC</time>", iso, iso,
                   iso + 11);
}

/* A value that reads left to right in any page (identifiers, URLs,
 * times), or a dash when absent. */
static void put_ltr(sitr_html_t *h, const char *value)
{
    if (!value || !*value) {
        sitr_html_raw(h, "—");
        return;
    }
    sitr_html_raw(h, "<span dir=\"ltr\" class=\"v\">");
    sitr_html_text(h, value);
    sitr_html_raw(h, "</span>");
}

static void row_open(sitr_html_t *h, sitr_report_lang_t l, word_t label)
{
    sitr_html_raw(h, "<tr><th>");
    put(h, l, label);
    sitr_html_raw(h, "</th><td>");
}

static void row_ltr(sitr_html_t *h, sitr_report_lang_t l, word_t label, const char *value)
{
    row_open(h, l, label);
    put_ltr(h, value);
    sitr_html_raw(h, "</td></tr>");
}

static void row_num(sitr_html_t *h, sitr_report_lang_t l, word_t label, long long n)
{
    row_open(h, l, label);
    sitr_html_rawf(h, "%lld</td></tr>", n);
}

static int status_word(const char *status)
{
    if (!status)
        return -1;
    if (strcmp(status, "pending") == 0)
        return W_ST_PENDING;
    if (strcmp(status, "removed") == 0)
        return W_ST_REMOVED;
    if (strcmp(status, "rejected") == 0)
        return W_ST_REJECTED;
    if (strcmp(status, "not_found") == 0)
        return W_ST_NOT_FOUND;
    if (strcmp(status, "cancelled") == 0)
        return W_ST_CANCELLED;
    return -1;
}

/* The status in the page's language only (the JSON carries the code). */
static void put_status(sitr_html_t *h, sitr_report_lang_t l, const char *status)
{
    int w = status_word(status);
    if (w >= 0)
        sitr_html_raw(h, text((word_t)w, l));
    else
        put_ltr(h, status);
}

static void row_time(sitr_html_t *h, sitr_report_lang_t l, word_t label, const char *iso)
{
    row_open(h, l, label);
    put_time(h, iso);
    sitr_html_raw(h, "</td></tr>");
}

/* "picture No. 1, picture No. 3, video No. 2": which of her pictures and
 * videos the platform held, numbered as she added them.  Each in a
 * <span data-image="N"> (or data-video), where the victims' page puts her
 * own thumbnail when it prints the report (app.js; never sent). */
static void put_items(sitr_html_t *h, sitr_report_lang_t l, const json_t *items)
{
    int any = 0;
    static const char *const kinds[] = {"images", "videos"};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(items, kinds[k]), i, n)
        {
            if (!json_is_integer(n))
                continue;
            if (any++)
                sitr_html_raw(h, l == SITR_REPORT_AR ? "، " : ", ");
            sitr_html_rawf(h, "<span data-%s=\"%lld\">", k ? "video" : "image",
                           (long long)json_integer_value(n));
            put_num(h, l, k ? W_ITEM_VIDEO : W_ITEM_IMAGE, (long long)json_integer_value(n));
            sitr_html_raw(h, "</span>");
        }
    }
    if (!any)
        sitr_html_raw(h, "—");
}

static void put_match(sitr_html_t *h, sitr_report_lang_t l, const char *signal, long long distance)
{
    if (signal && strcmp(signal, "pdq") == 0)
        put_num(h, l, W_MATCH_PDQ, distance);
    else if (signal && strcmp(signal, "md5") == 0)
        put(h, l, W_MATCH_MD5);
    else if (signal && strcmp(signal, "sha256") == 0)
        put(h, l, W_MATCH_SHA256);
    else if (signal && strcmp(signal, "vpdq_copy") == 0)
        put(h, l, W_MATCH_VCOPY);
    else if (signal && strcmp(signal, "vpdq_excerpt") == 0)
        put(h, l, W_MATCH_VEXCERPT);
    else if (signal && strcmp(signal, "video_frame") == 0)
        put(h, l, W_MATCH_VFRAME);
    else
        sitr_html_text(h, signal);
}

static void render_takedown(sitr_html_t *h, sitr_report_lang_t l, size_t index, const json_t *t)
{
    const json_t *up = json_object_get(t, "upload");
    sitr_html_rawf(h, "<article><h3>%zu. ", index);
    sitr_html_text(h, jstr(t, "platform"));
    sitr_html_raw(h, " — ");
    put_status(h, l, jstr(t, "status"));
    sitr_html_raw(h, "</h3><table class=\"kv\">");
    row_open(h, l, W_F_PLATFORM);
    sitr_html_text(h, jstr(t, "platform"));
    sitr_html_raw(h, "</td></tr>");
    row_open(h, l, W_F_ITEMS);
    put_items(h, l, json_object_get(t, "case_items"));
    sitr_html_raw(h, "</td></tr>");
    /* What the platform held: a picture or a video. */
    const char *kind = jstr(up, "kind");
    if (kind) {
        row_open(h, l, W_F_WHAT);
        put(h, l, strcmp(kind, "video") == 0 ? W_KIND_VIDEO : W_KIND_IMAGE);
        sitr_html_raw(h, "</td></tr>");
    }
    row_ltr(h, l, W_F_UPLOAD_ID, jstr(up, "id"));
    row_ltr(h, l, W_F_URL, jstr(up, "url"));
    row_time(h, l, W_F_REPORTED, jstr(up, "reported_at"));
    row_time(h, l, W_F_FOUND_AT, jstr(t, "found_at"));
    row_open(h, l, W_F_MATCH);
    put_match(h, l, jstr(t, "signal"), jint(t, "distance"));
    sitr_html_raw(h, "</td></tr>");
    /* A video's evidence: how much of the case video, and the longest
     * stretch found in order, rounded (no time of the video itself). */
    const json_t *cov = json_object_get(t, "coverage");
    if (json_is_number(cov)) {
        row_open(h, l, W_F_COVERAGE);
        put_num(h, l, W_COVERAGE, (long long)(json_number_value(cov) * 100 + 0.5));
        sitr_html_raw(h, "</td></tr>");
    }
    const json_t *run = json_object_get(t, "run_seconds");
    if (json_is_number(run) && json_number_value(run) > 0) {
        row_open(h, l, W_F_RUN);
        put_num(h, l, W_RUN, (long long)(json_number_value(run) + 0.5));
        sitr_html_raw(h, "</td></tr>");
    }
    row_num(h, l, W_F_MATCHED, (long long)json_array_size(json_object_get(t, "matches")));
    row_ltr(h, l, W_F_REQUEST, jstr(t, "id"));
    row_time(h, l, W_F_REQUESTED, jstr(t, "requested_at"));
    row_ltr(h, l, W_F_TOKEN, jstr(t, "platform_case"));
    row_open(h, l, W_F_STATUS);
    put_status(h, l, jstr(t, "status"));
    sitr_html_raw(h, "</td></tr>");
    /* When the platform gave that answer; and, only when it happened, when
     * it declared the upload itself deleted (DELETE /v1/uploads): a dash
     * there beside "Removed" read as a contradiction. */
    const char *status = jstr(t, "status");
    if (status && strcmp(status, "pending") != 0)
        row_time(h, l, W_F_ANSWERED, jstr(t, "updated_at"));
    const char *deleted = jstr(up, "removed_at");
    if (deleted && *deleted)
        row_time(h, l, W_F_DELETED, deleted);
    sitr_html_raw(h, "</table><h4>");
    put(h, l, W_HISTORY);
    sitr_html_raw(h, "</h4><table><thead><tr><th>");
    put(h, l, W_H_TIME);
    sitr_html_raw(h, "</th><th>");
    put(h, l, W_H_STATUS);
    sitr_html_raw(h, "</th><th>");
    put(h, l, W_H_NOTE);
    sitr_html_raw(h, "</th></tr></thead><tbody>");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(t, "history"), i, e)
    {
        sitr_html_raw(h, "<tr><td>");
        put_time(h, jstr(e, "at"));
        sitr_html_raw(h, "</td><td>");
        put_status(h, l, jstr(e, "status"));
        sitr_html_raw(h, "</td><td>");
        const char *note = jstr(e, "note");
        if (note && *note) {
            sitr_html_raw(h, "<bdi class=\"note\">");
            sitr_html_text(h, note);
            sitr_html_raw(h, "</bdi>");
        } else {
            sitr_html_raw(h, "—");
        }
        sitr_html_raw(h, "</td></tr>");
    }
    sitr_html_raw(h, "</tbody></table></article>");
}

static void render_blocked(sitr_html_t *h, sitr_report_lang_t l, const json_t *list)
{
    sitr_html_raw(h, "<p>");
    put(h, l, W_BLOCKED_INTRO);
    sitr_html_raw(h, "</p>");
    if (json_array_size(list) == 0) {
        sitr_html_raw(h, "<p>");
        put(h, l, W_NONE_BLOCKED);
        sitr_html_raw(h, "</p>");
        return;
    }
    sitr_html_raw(h, "<table><thead><tr><th>");
    put(h, l, W_B_DATE);
    sitr_html_raw(h, "</th><th>");
    put(h, l, W_F_PLATFORM);
    sitr_html_raw(h, "</th><th>");
    put(h, l, W_B_COUNT);
    sitr_html_raw(h, "</th><th>");
    put(h, l, W_B_FIRST);
    sitr_html_raw(h, "</th><th>");
    put(h, l, W_B_LAST);
    sitr_html_raw(h, "</th></tr></thead><tbody>");
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b)
    {
        sitr_html_raw(h, "<tr><td>");
        put_ltr(h, jstr(b, "date"));
        sitr_html_raw(h, "</td><td>");
        sitr_html_text(h, jstr(b, "platform"));
        sitr_html_rawf(h, "</td><td>%lld</td><td>", jint(b, "count"));
        put_time(h, jstr(b, "first_at"));
        sitr_html_raw(h, "</td><td>");
        put_time(h, jstr(b, "last_at"));
        sitr_html_raw(h, "</td></tr>");
    }
    sitr_html_raw(h, "</tbody></table>");
}

/* Who issued the report: the operator's name, contact and address as
 * configured (SITR_OPERATOR_*), or a plain warning that this service has
 * not named one (possible only outside production mode). */
static void render_operator(sitr_html_t *h, sitr_report_lang_t l, const json_t *op)
{
    const char *name = jstr(op, "name");
    sitr_html_raw(h, "<section><h2>");
    put(h, l, W_OPERATOR);
    sitr_html_raw(h, "</h2>");
    if (!name || !*name) {
        sitr_html_raw(h, "<p class=\"warn\">");
        put(h, l, W_OPERATOR_UNSET);
        sitr_html_raw(h, "</p></section>");
        return;
    }
    sitr_html_raw(h, "<table class=\"kv\">");
    static const struct {
        word_t label;
        const char *key;
    } rows[] = {{W_O_NAME, "name"}, {W_O_CONTACT, "contact"}, {W_O_ADDRESS, "address"}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        row_open(h, l, rows[i].label);
        sitr_html_raw(h, "<bdi>");
        sitr_html_text(h, jstr(op, rows[i].key));
        sitr_html_raw(h, "</bdi></td></tr>");
    }
    sitr_html_raw(h, "</table></section>");
}

/* The platforms taking part: those that check uploads against the case. */
static void render_platforms(sitr_html_t *h, sitr_report_lang_t l, const json_t *list)
{
    sitr_html_raw(h, "<section><h2>");
    put(h, l, W_PLATFORMS);
    sitr_html_raw(h, "</h2><p>");
    if (json_array_size(list) == 0) {
        put(h, l, W_NO_PLATFORMS);
        sitr_html_raw(h, "</p></section>");
        return;
    }
    put(h, l, W_PLATFORMS_INTRO);
    sitr_html_raw(h, "</p><ul>");
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        sitr_html_raw(h, "<li><bdi>");
        sitr_html_text(h, json_string_value(p));
        sitr_html_raw(h, "</bdi></li>");
    }
    sitr_html_raw(h, "</ul><p>");
    put(h, l, W_NEXT);
    sitr_html_raw(h, "</p></section>");
}

/* Reporting to the police (Iblagh in Morocco) and where to get help: the
 * operator's list (SITR_HELP). */
static void render_help(sitr_html_t *h, sitr_report_lang_t l, const json_t *op)
{
    sitr_html_raw(h, "<section><h2>");
    put(h, l, W_HELP);
    sitr_html_raw(h, "</h2><p>");
    put(h, l, W_HELP_POLICE);
    sitr_html_raw(h, "</p>");
    const json_t *list = json_object_get(op, "help");
    if (json_array_size(list)) {
        sitr_html_raw(h, "<p>");
        put(h, l, W_HELP_LIST);
        sitr_html_raw(h, "</p><ul>");
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
            sitr_html_raw(h, "<li><bdi>");
            sitr_html_text(h, json_string_value(e));
            sitr_html_raw(h, "</bdi></li>");
        }
        sitr_html_raw(h, "</ul>");
    }
    sitr_html_raw(h, "</section>");
}

/* The signature in words and, for the verifiers (sitr report verify, the
 * /verify page), the signed JSON itself in a data block that never runs
 * (type application/json; "<", ">" and "&" escaped so no text of a
 * platform can close it). */
static void render_signature(sitr_html_t *h, sitr_report_lang_t l, const json_t *r)
{
    const json_t *sig = json_object_get(r, "signature");
    sitr_html_raw(h, "<section class=\"sig\"><h2>");
    put(h, l, W_SIG_TITLE);
    sitr_html_raw(h, "</h2>");
    if (!json_is_object(sig)) {
        sitr_html_raw(h, "<p class=\"warn\">");
        put(h, l, W_SIG_UNSIGNED);
        sitr_html_raw(h, "</p></section>");
        return;
    }
    sitr_html_raw(h, "<p>");
    put(h, l, W_SIG_INTRO);
    sitr_html_raw(h, "</p><table class=\"kv\">");
    row_open(h, l, W_SIG_CODE);
    sitr_html_raw(h, "<strong dir=\"ltr\" class=\"v\">");
    sitr_html_text(h, jstr(sig, "code"));
    sitr_html_raw(h, "</strong></td></tr>");
    row_ltr(h, l, W_SIG_KEY, jstr(sig, "key_id"));
    row_ltr(h, l, W_SIG_PUBLIC, jstr(sig, "public_key"));
    row_ltr(h, l, W_SIG_VALUE, jstr(sig, "value"));
    sitr_html_raw(h, "</table>");
    char *json = json_dumps(r, JSON_COMPACT);
    if (json) {
        sitr_html_raw(h, "<script type=\"application/json\" id=\"sitr-report\">");
        const char *run = json;
        for (const char *p = json; *p; p++) {
            const char *esc = *p == '<'   ? "\\u003c"
                              : *p == '>' ? "\\u003e"
                              : *p == '&' ? "\\u0026"
                                          : NULL;
            if (!esc)
                continue;
            sitr_html_rawf(h, "%.*s%s", (int)(p - run), run, esc);
            run = p + 1;
        }
        sitr_html_raw(h, run);
        sitr_html_raw(h, "</script>");
        free(json);
    }
    sitr_html_raw(h, "</section>");
}

char *sitr_report_page(const json_t *r, sitr_report_lang_t l, size_t *len)
{
    sitr_html_t h;
    sitr_html_init(&h, REPORT_HTML_MAX);
    const json_t *sum = json_object_get(r, "summary");
    const json_t *td = json_object_get(sum, "takedowns");

    sitr_html_rawf(&h,
                   "<!DOCTYPE html>\n<html lang=\"%s\" dir=\"%s\"><head><meta charset=\"utf-8\">",
                   sitr_report_lang_code[l], l == SITR_REPORT_AR ? "rtl" : "ltr");
    sitr_html_raw(&h, "<meta name=\"viewport\" content=\"width=device-width, "
                      "initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\"><title>");
    put(&h, l, W_TITLE);
    sitr_html_raw(&h, " — ");
    sitr_html_text(&h, jstr(r, "case"));
    sitr_html_raw(&h, "</title><style>");
    sitr_html_raw(&h, STYLE);
    sitr_html_raw(&h, "</style></head><body><header><h1>");
    put(&h, l, W_TITLE);
    sitr_html_raw(&h, "</h1><p>");
    put(&h, l, W_INTRO);
    sitr_html_raw(&h, "</p></header>");

    sitr_html_raw(&h, "<section><h2>");
    put(&h, l, W_CASE);
    sitr_html_raw(&h, "</h2><table class=\"kv\">");
    row_ltr(&h, l, W_REFERENCE, jstr(r, "case"));
    row_time(&h, l, W_CREATED, jstr(r, "created_at"));
    row_num(&h, l, W_IMAGES, jint(r, "images"));
    row_num(&h, l, W_VIDEOS, jint(r, "videos"));
    row_time(&h, l, W_GENERATED, jstr(r, "generated_at"));
    sitr_html_raw(&h, "</table><p>");
    put(&h, l, W_UTC);
    sitr_html_raw(&h, "</p></section>");
    render_operator(&h, l, json_object_get(r, "operator"));

    sitr_html_raw(&h, "<section><h2>");
    put(&h, l, W_SUMMARY);
    sitr_html_raw(&h, "</h2><table class=\"kv\">");
    row_num(&h, l, W_S_PLATFORMS, jint(sum, "platforms"));
    row_num(&h, l, W_S_FOUND, jint(sum, "uploads_found"));
    row_num(&h, l, W_S_MATCHES, jint(sum, "matches"));
    row_num(&h, l, W_S_REMOVED, jint(td, "removed"));
    row_num(&h, l, W_S_REJECTED, jint(td, "rejected"));
    row_num(&h, l, W_S_NOT_FOUND, jint(td, "not_found"));
    row_num(&h, l, W_S_PENDING, jint(td, "pending"));
    row_num(&h, l, W_S_CANCELLED, jint(td, "cancelled"));
    row_num(&h, l, W_S_BLOCKED, jint(sum, "uploads_blocked"));
    sitr_html_raw(&h, "</table>");
    if (json_is_true(json_object_get(r, "truncated"))) {
        sitr_html_raw(&h, "<p class=\"warn\">");
        put_num(&h, l, W_TRUNCATED, SITR_REPORT_MAX_ROWS);
        sitr_html_raw(&h, "</p>");
    }
    sitr_html_raw(&h, "</section>");

    sitr_html_raw(&h, "<section><h2>");
    put(&h, l, W_FOUND);
    sitr_html_raw(&h, "</h2>");
    const json_t *list = json_object_get(r, "takedowns");
    if (json_array_size(list) == 0) {
        sitr_html_raw(&h, "<p>");
        put(&h, l, W_NONE_FOUND);
        sitr_html_raw(&h, "</p>");
    }
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) render_takedown(&h, l, i + 1, t);
    sitr_html_raw(&h, "</section>");

    sitr_html_raw(&h, "<section><h2>");
    put(&h, l, W_S_BLOCKED);
    sitr_html_raw(&h, "</h2>");
    render_blocked(&h, l, json_object_get(r, "uploads_blocked"));
    sitr_html_raw(&h, "</section>");
    render_platforms(&h, l, json_object_get(r, "platforms"));
    render_help(&h, l, json_object_get(r, "operator"));

    sitr_html_raw(&h, "<section class=\"explain\"><h2>");
    put(&h, l, W_POLICE);
    sitr_html_raw(&h, "</h2><p>");
    put(&h, l, W_P1);
    sitr_html_raw(&h, "</p><p>");
    put_num(&h, l, W_P2, jint(r, "match_threshold"));
    sitr_html_raw(&h, "</p><p>");
    put(&h, l, W_P3);
    sitr_html_raw(&h, "</p><p>");
    put(&h, l, W_P4);
    sitr_html_raw(&h, "</p><p>");
    put(&h, l, W_P5);
    sitr_html_raw(&h, "</p></section>");
    render_signature(&h, l, r);
    sitr_html_raw(&h, "<footer>");
    put(&h, l, W_TITLE);
    sitr_html_raw(&h, " — ");
    put_ltr(&h, jstr(r, "case"));
    sitr_html_raw(&h, " — ");
    put_time(&h, jstr(r, "generated_at"));
    sitr_html_raw(&h, "<br>");
    put(&h, l, W_FOOTER);
    sitr_html_raw(&h, "</footer></body></html>\n");
    return sitr_html_finish(&h, len);
}
