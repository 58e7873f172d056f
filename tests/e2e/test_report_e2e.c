/* End-to-end test of GET /v1/cases/{case}/report against a real sitrd,
 * sitr-admin and a fresh, migrated PostgreSQL database (the `pg` fixture).
 *
 * The world: case A with two images, case B with one.  Platform beta
 * reports an upload with a hostile content id and URL; the matcher's commit
 * function (called directly, as platform_e2e does) turns it into a
 * takedown for case A, which beta answers "removed" with a note holding
 * <script>, quotes and a right-to-left override.  Case B gets a takedown
 * of its own on alpha, and alpha's /v1/match blocks an upload of case A.
 *
 * Checked: the JSON report member by member (exact values and exact member
 * sets, the case token equal to the one beta sees, nothing of case B, no
 * hash of any case); the HTML page (headers, CSP, escaping of the note,
 * the URL and the content id, no markup from the data, no link or script,
 * the direction override made visible, lang/dir for en, fr, ar, language
 * from Accept-Language); content negotiation and parameter errors; and the
 * one 404 for a wrong secret, an unknown case and a withdrawn case,
 * identical bytes whatever was asked.  Polls have deadlines; no timing
 * assertions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include <sitr/token.h>

#include "e2e_api.h"
#include "e2e_img.h"
#include "e2e_matches.h"
#include "e2e_util.h"
#include "e2e_world.h"
#include "db_support.h"

#define TEST_DIGEST_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define DEADLINE_MS     20000

/* What the platform sends: hostile on purpose. */
#define EVIL_ID     "vid\\\"<i>1" /* JSON text of: vid"<i>1 */
#define EVIL_ID_T   "vid\"<i>1"
#define EVIL_URL    "https://p.example/v?a=<b>&c=\\\"d\\\"&e='f'&next=javascript:alert(1)"
#define EVIL_URL_T  "https://p.example/v?a=<b>&c=\"d\"&e='f'&next=javascript:alert(1)"
#define EVIL_NOTE   "<script>alert('x')</script> \\\"quoted\\\" & done \\u202egnp.exe"
#define EVIL_NOTE_T "<script>alert('x')</script> \"quoted\" & done \xe2\x80\xaegnp.exe"
#define EVIL_NOTE_HTML                                                                             \
    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;quoted&quot; &amp; done "               \
    "[U+202E]gnp.exe"
#define EVIL_ID_HTML "vid&quot;&lt;i&gt;1"
#define EVIL_URL_HTML                                                                              \
    "https://p.example/v?a=&lt;b&gt;&amp;c=&quot;d&quot;&amp;e=&#39;f&#39;&amp;next="              \
    "javascript:alert(1)"

typedef sitr_e2e_img_t img_t;

typedef struct made {
    char ref[64], secret[64], path[160], auth[96];
} made_t;

static struct {
    char *db_url;
    sitr_e2e_server_t srv;
    char key_a[80], key_b[80]; /* platforms alpha and beta */
    img_t a1, a2, b1, up_other;
    made_t A, B;
    char td_id[32], token[64]; /* case A's takedown as beta sees it */
} W;

static unsigned rng_state = 4242;

static img_t new_img(void)
{
    return sitr_e2e_new_img(&rng_state);
}

/* One request.  auth: NULL, "Case <secret>" as is, or an API key (sent as
 * Bearer).  extra: more header lines ("Name: v\r\n") or NULL. */
static void call(const char *method, const char *path, const char *auth, const char *extra,
                 const char *body, sitr_e2e_resp_t *r)
{
    sitr_e2e_call(&W.srv, method, path, auth, extra, body, r);
}

static json_t *call_json(const char *method, const char *path, const char *auth, const char *body,
                         int status)
{
    return sitr_e2e_call_json(&W.srv, method, path, auth, body, status);
}

static made_t create_case(const img_t *imgs, int n)
{
    char body[2048];
    size_t o = (size_t)snprintf(body, sizeof body, "{\"images\":[");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(body + o, sizeof body - o,
                              "%s{\"pdq\":\"%s\",\"quality\":90,\"md5\":\"%s\",\"sha256\":\"%s\"}",
                              i ? "," : "", imgs[i].pdq, imgs[i].md5, imgs[i].sha);
    snprintf(body + o, sizeof body - o, "]}");
    json_t *j = call_json("POST", "/v1/cases", NULL, body, 201);
    made_t m;
    snprintf(m.ref, sizeof m.ref, "%s", json_string_value(json_object_get(j, "case")));
    snprintf(m.secret, sizeof m.secret, "%s", json_string_value(json_object_get(j, "secret")));
    snprintf(m.path, sizeof m.path, "/v1/cases/%s/report", m.ref);
    snprintf(m.auth, sizeof m.auth, "Case %s", m.secret);
    json_decref(j);
    return m;
}

static void assert_no_hashes(const char *body)
{
    sitr_e2e_assert_no_hash(body, &W.a1, "the report");
    sitr_e2e_assert_no_hash(body, &W.a2, "the report");
    sitr_e2e_assert_no_hash(body, &W.b1, "the report");
    sitr_e2e_assert_no_hash(body, &W.up_other, "the report");
}

static void report_upload(const char *key, const char *id_json, const char *url_json,
                          const char *pdq)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"uploads\":[{\"id\":\"%s\",\"url\":\"%s\",\"pdq\":\"%s\",\"quality\":80}]}",
             id_json, url_json, pdq);
    json_decref(call_json("POST", "/v1/uploads", key, body, 202));
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    if (!s)
        fail_msg("member %s is not a string", k);
    return s;
}

static long long jint(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("member %s is not an integer", k);
    return (long long)json_integer_value(v);
}

/* o has exactly the members in names (NULL-terminated). */
static void assert_members(const json_t *o, const char *const *names)
{
    size_t n = 0;
    for (; names[n]; n++)
        if (!json_object_get(o, names[n]))
            fail_msg("member %s missing", names[n]);
    if (json_object_size(o) != n) {
        char *d = json_dumps(o, JSON_COMPACT);
        fail_msg("unexpected members: %s", d);
    }
}

/* A time as the report writes it: 2026-11-28T21:03:11.482Z. */
static void assert_time(const char *t)
{
    assert_non_null(t);
    if (strlen(t) != 24 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
        t[16] != ':' || t[19] != '.' || t[23] != 'Z')
        fail_msg("not a UTC time with milliseconds: %s", t);
}

/* ---- fixture ---------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    setenv("SITR_DIGEST_KEY", TEST_DIGEST_KEY, 1);
    W.db_url = sitr_e2e_migrated_db("report_e2e");
    if (!W.db_url)
        return -1;
    if (sitr_e2e_admin_key(W.db_url, "platform add alpha", W.key_a, sizeof W.key_a, NULL, 0) < 0 ||
        sitr_e2e_admin_key(W.db_url, "platform add beta", W.key_b, sizeof W.key_b, NULL, 0) < 0)
        return -1;
    static char url_var[1200];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    const char *env[] = {url_var, "SITR_MATCH_THRESHOLD=31", "SITR_CASE_RATE=0",
                         "SITR_DIGEST_KEY=" TEST_DIGEST_KEY, NULL};
    if (sitr_e2e_start(&W.srv, env) < 0)
        return -1;
    return sitr_e2e_wait_ready(&W.srv, DEADLINE_MS);
}

static int teardown(void **state)
{
    (void)state;
    /* The log carries no secret, key, note or URL. */
    const char *const never[] = {W.A.secret, W.key_b, "gnp.exe", "p.example", NULL};
    int rc = sitr_e2e_stop_clean(&W.srv, never);
    free(W.db_url);
    return rc;
}

/* ---- tests ----------------------------------------------------------------------- */

/* Builds the world described at the top. */
static void test_world(void **state)
{
    (void)state;
    W.a1 = new_img();
    W.a2 = new_img();
    W.b1 = new_img();
    W.up_other = new_img();
    img_t a[2] = {W.a1, W.a2};
    W.A = create_case(a, 2);
    W.B = create_case(&W.b1, 1);

    /* A report before anything was found: empty lists, zero counts. */
    json_t *r = call_json("GET", W.A.path, W.A.auth, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(r, "takedowns")), 0);
    assert_int_equal(json_array_size(json_object_get(r, "uploads_blocked")), 0);
    assert_int_equal(jint(json_object_get(r, "summary"), "uploads_found"), 0);
    assert_int_equal(jint(r, "images"), 2);
    json_decref(r);

    /* beta: the hostile upload, matched to A's first image at distance 9. */
    report_upload(W.key_b, EVIL_ID, EVIL_URL, W.up_other.pdq);
    sitr_e2e_commit_match(W.db_url, sitr_e2e_image_id(W.db_url, W.a1.md5),
                          sitr_e2e_upload_id(W.db_url, "beta", "vid\"<i>1"), 9);
    /* alpha: an upload matched to case B only. */
    img_t other = new_img();
    report_upload(W.key_a, "other-1", "https://alpha.example/other-1", other.pdq);
    sitr_e2e_commit_match(W.db_url, sitr_e2e_image_id(W.db_url, W.b1.md5),
                          sitr_e2e_upload_id(W.db_url, "alpha", "other-1"), 4);

    /* beta finds and answers its takedown. */
    json_t *l = call_json("GET", "/v1/takedowns?status=all", W.key_b, NULL, 200);
    json_t *list = json_object_get(l, "takedowns");
    assert_int_equal(json_array_size(list), 1);
    json_t *t = json_array_get(list, 0);
    snprintf(W.td_id, sizeof W.td_id, "%s", jstr(t, "id"));
    snprintf(W.token, sizeof W.token, "%s", jstr(t, "case"));
    json_decref(l);
    char path[64];
    snprintf(path, sizeof path, "/v1/takedowns/%s", W.td_id);
    json_decref(call_json("POST", path, W.key_b,
                          "{\"status\":\"removed\",\"note\":\"" EVIL_NOTE "\"}", 200));

    /* alpha's /v1/match blocks a copy of A's second image (by MD5), once
     * the replica has the case. */
    char body[256];
    snprintf(body, sizeof body, "{\"items\":[{\"md5\":\"%s\"}]}", W.a2.md5);
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        json_t *m = call_json("POST", "/v1/match", W.key_a, body, 200);
        int hit = json_is_true(
            json_object_get(json_array_get(json_object_get(m, "items"), 0), "matched"));
        json_decref(m);
        if (hit)
            break;
        if (sitr_e2e_now_ms() > end)
            fail_msg("case A never matched on /v1/match");
        sitr_e2e_sleep_ms(50);
    }
    /* The block goes to the database through sitrd's queue. */
    assert_int_equal(sitr_e2e_wait_blocks_written(&W.srv, DEADLINE_MS), 0);
}

static void test_json(void **state)
{
    (void)state;
    sitr_e2e_resp_t resp;
    call("GET", W.A.path, W.A.auth, "Accept: application/json\r\n", NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(sitr_e2e_header(&resp, "Content-Type"), "application/json");
    assert_string_equal(sitr_e2e_header(&resp, "Cache-Control"), "no-store");
    assert_no_hashes(resp.body);
    /* Nothing of case B. */
    assert_null(strstr(resp.body, W.B.ref));
    assert_null(strstr(resp.body, "other-1"));
    assert_null(strstr(resp.body, "alpha.example"));
    json_t *r = sitr_e2e_json(resp.body);
    sitr_e2e_resp_free(&resp);

    static const char *const top[] = {
        "case",      "created_at",      "generated_at", "images",          "videos",    "summary",
        "takedowns", "uploads_blocked", "truncated",    "match_threshold", "platforms", "operator",
        NULL};
    assert_members(r, top);
    /* The platforms taking part (alphabetical), and the operator: none
     * configured outside production mode. */
    json_t *pl = json_object_get(r, "platforms");
    assert_int_equal(json_array_size(pl), 2);
    assert_string_equal(json_string_value(json_array_get(pl, 0)), "alpha");
    assert_string_equal(json_string_value(json_array_get(pl, 1)), "beta");
    json_t *op = json_object_get(r, "operator");
    static const char *const opm[] = {"name", "contact", "address", "help", NULL};
    assert_members(op, opm);
    assert_string_equal(jstr(op, "name"), "");
    assert_int_equal(json_array_size(json_object_get(op, "help")), 0);
    assert_string_equal(jstr(r, "case"), W.A.ref);
    assert_time(jstr(r, "created_at"));
    assert_time(jstr(r, "generated_at"));
    assert_true(strcmp(jstr(r, "created_at"), jstr(r, "generated_at")) <= 0);
    assert_int_equal(jint(r, "images"), 2);
    assert_int_equal(jint(r, "videos"), 0);
    assert_true(json_is_false(json_object_get(r, "truncated")));
    assert_int_equal(jint(r, "match_threshold"), 31);

    json_t *s = json_object_get(r, "summary");
    static const char *const sum[] = {"platforms", "uploads_found",   "matches",
                                      "takedowns", "uploads_blocked", NULL};
    assert_members(s, sum);
    assert_int_equal(jint(s, "platforms"), 2); /* beta (takedown), alpha (blocked) */
    assert_int_equal(jint(s, "uploads_found"), 1);
    assert_int_equal(jint(s, "matches"), 1);
    assert_int_equal(jint(s, "uploads_blocked"), 1);
    json_t *st = json_object_get(s, "takedowns");
    static const char *const sts[] = {"pending",   "removed",   "rejected",
                                      "not_found", "cancelled", NULL};
    assert_members(st, sts);
    assert_int_equal(jint(st, "removed"), 1);
    assert_int_equal(jint(st, "pending") + jint(st, "rejected") + jint(st, "not_found") +
                         jint(st, "cancelled"),
                     0);

    json_t *tds = json_object_get(r, "takedowns");
    assert_int_equal(json_array_size(tds), 1);
    json_t *t = json_array_get(tds, 0);
    static const char *const tdm[] = {
        "id",           "platform",   "platform_case", "upload",     "signal",
        "distance",     "found_at",   "matches",       "status",     "note",
        "requested_at", "updated_at", "history",       "case_items", NULL};
    assert_members(t, tdm);
    /* Which of her pictures: the first she added (a1), none of her videos. */
    json_t *items = json_object_get(t, "case_items");
    assert_int_equal(json_array_size(json_object_get(items, "images")), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(items, "images"), 0)), 1);
    assert_int_equal(json_array_size(json_object_get(items, "videos")), 0);
    assert_string_equal(jstr(t, "id"), W.td_id);
    assert_string_equal(jstr(t, "platform"), "beta");
    assert_string_equal(jstr(t, "platform_case"), W.token);
    assert_string_equal(jstr(t, "signal"), "pdq");
    assert_int_equal(jint(t, "distance"), 9);
    assert_string_equal(jstr(t, "status"), "removed");
    assert_string_equal(jstr(t, "note"), EVIL_NOTE_T);
    assert_time(jstr(t, "found_at"));
    assert_time(jstr(t, "requested_at"));
    assert_time(jstr(t, "updated_at"));
    assert_true(strcmp(jstr(t, "requested_at"), jstr(t, "updated_at")) <= 0);

    json_t *up = json_object_get(t, "upload");
    static const char *const upm[] = {"id", "url", "kind", "reported_at", "removed_at", NULL};
    assert_members(up, upm);
    assert_string_equal(jstr(up, "kind"), "image");
    assert_string_equal(jstr(up, "id"), EVIL_ID_T);
    assert_string_equal(jstr(up, "url"), EVIL_URL_T);
    assert_time(jstr(up, "reported_at"));
    assert_true(json_is_null(json_object_get(up, "removed_at")));

    json_t *ms = json_object_get(t, "matches");
    assert_int_equal(json_array_size(ms), 1);
    json_t *m = json_array_get(ms, 0);
    static const char *const mm[] = {"target", "signal", "distance", "found_at", NULL};
    assert_members(m, mm);
    assert_string_equal(jstr(m, "target"), "image");
    assert_string_equal(jstr(m, "signal"), "pdq");
    assert_int_equal(jint(m, "distance"), 9);
    assert_string_equal(jstr(m, "found_at"), jstr(t, "found_at"));

    json_t *h = json_object_get(t, "history");
    assert_int_equal(json_array_size(h), 2);
    static const char *const hm[] = {"status", "at", "note", NULL};
    json_t *h0 = json_array_get(h, 0), *h1 = json_array_get(h, 1);
    assert_members(h0, hm);
    assert_members(h1, hm);
    assert_string_equal(jstr(h0, "status"), "pending");
    assert_true(json_is_null(json_object_get(h0, "note")));
    assert_string_equal(jstr(h0, "at"), jstr(t, "requested_at"));
    assert_string_equal(jstr(h1, "status"), "removed");
    assert_string_equal(jstr(h1, "note"), EVIL_NOTE_T);
    assert_string_equal(jstr(h1, "at"), jstr(t, "updated_at"));

    json_t *bl = json_object_get(r, "uploads_blocked");
    assert_int_equal(json_array_size(bl), 1);
    json_t *b = json_array_get(bl, 0);
    static const char *const bm[] = {"platform", "date", "count", "first_at", "last_at", NULL};
    assert_members(b, bm);
    assert_string_equal(jstr(b, "platform"), "alpha");
    assert_int_equal(jint(b, "count"), 1);
    assert_time(jstr(b, "first_at"));
    assert_string_equal(jstr(b, "first_at"), jstr(b, "last_at"));
    assert_int_equal(strlen(jstr(b, "date")), 10);
    assert_memory_equal(jstr(b, "date"), jstr(b, "first_at"), 10);
    json_decref(r);

    /* Case B's own report: its takedown, none of A's. */
    r = call_json("GET", W.B.path, W.B.auth, NULL, 200);
    tds = json_object_get(r, "takedowns");
    assert_int_equal(json_array_size(tds), 1);
    assert_string_equal(jstr(json_array_get(tds, 0), "platform"), "alpha");
    assert_string_equal(jstr(json_object_get(json_array_get(tds, 0), "upload"), "id"), "other-1");
    assert_int_equal(json_array_size(json_object_get(r, "uploads_blocked")), 0);
    char *dump = json_dumps(r, JSON_COMPACT);
    assert_null(strstr(dump, "p.example"));
    assert_null(strstr(dump, W.A.ref));
    free(dump);
    json_decref(r);
}

/* Fetches the page with extra headers and a query; checks what every
 * report page must satisfy and returns it (caller frees). */
static char *get_page(const char *query, const char *extra, const char *want_lang)
{
    char path[256];
    snprintf(path, sizeof path, "%s%s", W.A.path, query);
    sitr_e2e_resp_t r;
    call("GET", path, W.A.auth, extra, NULL, &r);
    if (r.status != 200)
        fail_msg("GET %s: %d %s", path, r.status, r.body);
    assert_string_equal(sitr_e2e_header(&r, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(sitr_e2e_header(&r, "Content-Security-Policy"),
                        "default-src 'none'; style-src 'unsafe-inline'");
    assert_string_equal(sitr_e2e_header(&r, "Cache-Control"), "no-store");
    assert_string_equal(sitr_e2e_header(&r, "Content-Language"), want_lang);
    const char *body = r.body;
    assert_int_equal(strlen(body), r.body_len);
    assert_int_equal(strncmp(body, "<!DOCTYPE html>", 15), 0);
    assert_non_null(strstr(body, "</html>"));
    /* Hostile values only escaped; the page itself has no script, link,
     * external resource or event handler. */
    assert_non_null(strstr(body, EVIL_NOTE_HTML));
    assert_non_null(strstr(body, EVIL_URL_HTML));
    assert_non_null(strstr(body, EVIL_ID_HTML));
    const char *banned[] = {"<script", "<a ",     "href",        "src=",    "<i>",
                            "<b>",     "onerror", "url(",        "@import", "<link",
                            "<img",    "<iframe", "\xe2\x80\xae"};
    for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++)
        if (strcasestr(body, banned[i]))
            fail_msg("the page holds %s", banned[i]);
    assert_no_hashes(body);
    assert_null(strstr(body, W.B.ref));
    assert_null(strstr(body, "other-1"));
    /* The data: reference, platform, request number, token, threshold. */
    assert_non_null(strstr(body, W.A.ref));
    assert_non_null(strstr(body, "beta"));
    assert_non_null(strstr(body, W.token));
    char want[64];
    snprintf(want, sizeof want, ">%s</span>", W.td_id);
    assert_non_null(strstr(body, want));
    assert_non_null(strstr(body, "31"));
    assert_non_null(strstr(body, "@media print"));
    char *page = strdup(body);
    sitr_e2e_resp_free(&r);
    return page;
}

static void test_html(void **state)
{
    (void)state;
    char *p = get_page("", "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n", "en");
    assert_non_null(strstr(p, "<html lang=\"en\" dir=\"ltr\">"));
    assert_non_null(strstr(p, "sitr evidence report"));
    assert_non_null(strstr(p, "For the police"));
    assert_non_null(strstr(p, "distance 9 of 256 bits"));
    /* One vocabulary: the status in words, never its code; no "deleted on
     * —" beside "Removed"; which picture; the platforms; times to the
     * second in UTC; no operator named in development. */
    assert_non_null(strstr(p, "Removed"));
    assert_null(strstr(p, "(removed)"));
    assert_null(strstr(p, "(pending)"));
    assert_null(strstr(p, "declared deleted"));
    assert_non_null(strstr(p, "picture No. 1"));
    assert_non_null(strstr(p, "<li><bdi>alpha</bdi></li><li><bdi>beta</bdi></li>"));
    assert_non_null(strstr(p, " UTC</time>"));
    assert_null(strstr(p, ".000Z"));
    assert_non_null(strstr(p, "has not named its operator"));
    assert_non_null(strstr(p, "Iblagh"));
    free(p);

    p = get_page("?format=html&lang=ar", NULL, "ar");
    assert_non_null(strstr(p, "<html lang=\"ar\" dir=\"rtl\">"));
    assert_non_null(strstr(p, "تقرير أدلة سِتر"));
    assert_non_null(strstr(p, "للشرطة"));
    /* Identifiers keep their left-to-right order inside the Arabic page. */
    char want[128];
    snprintf(want, sizeof want, "<span dir=\"ltr\" class=\"v\">%s</span>", W.A.ref);
    assert_non_null(strstr(p, want));
    free(p);

    p = get_page("?format=html&lang=fr", "Accept: application/json\r\n", "fr");
    assert_non_null(strstr(p, "<html lang=\"fr\" dir=\"ltr\">"));
    assert_non_null(strstr(p, "Rapport de preuves sitr"));
    assert_non_null(strstr(p, "Retirée"));
    assert_null(strstr(p, "(removed)"));
    assert_non_null(strstr(p, "image n° 1"));
    free(p);

    /* The language from Accept-Language when ?lang is absent. */
    p = get_page("?format=html", "Accept-Language: de;q=1, ar-MA;q=0.9, fr;q=0.8\r\n", "ar");
    assert_non_null(strstr(p, "dir=\"rtl\""));
    free(p);
    p = get_page("", "Accept: text/html\r\nAccept-Language: fr-FR, en;q=0.5\r\n", "fr");
    free(p);
}

static void test_negotiation(void **state)
{
    (void)state;
    static const char *const as_json[] = {
        NULL, "Accept: */*\r\n", "Accept: application/json, text/html;q=0.5\r\n",
        "Accept: text/html;q=0\r\n", "Accept: text/html;q=0.5, application/*;q=0.9\r\n"};
    for (size_t i = 0; i < sizeof as_json / sizeof as_json[0]; i++) {
        sitr_e2e_resp_t r;
        call("GET", W.A.path, W.A.auth, as_json[i], NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(sitr_e2e_header(&r, "Content-Type"), "application/json");
        assert_null(sitr_e2e_header(&r, "Content-Security-Policy"));
        sitr_e2e_resp_free(&r);
    }
    /* ?format=json wins over Accept. */
    char path[256];
    snprintf(path, sizeof path, "%s?format=json&lang=ar", W.A.path);
    sitr_e2e_resp_t r;
    call("GET", path, W.A.auth, "Accept: text/html\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(sitr_e2e_header(&r, "Content-Type"), "application/json");
    sitr_e2e_resp_free(&r);

    /* Bad parameters: 422 naming the parameter. */
    const char *bad[][3] = {{"?format=xml", "invalid_format", "format"},
                            {"?format=", "invalid_format", "format"},
                            {"?format=html&lang=de", "invalid_lang", "lang"},
                            {"?lang=", "invalid_lang", "lang"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s%s", W.A.path, bad[i][0]);
        json_t *j = call_json("GET", path, W.A.auth, NULL, 422);
        json_t *e = json_object_get(j, "error");
        assert_string_equal(jstr(e, "code"), bad[i][1]);
        assert_string_equal(jstr(e, "field"), bad[i][2]);
        json_decref(j);
    }
    /* HEAD: the headers without the page. */
    sitr_e2e_client_t c;
    assert_int_equal(sitr_e2e_connect(&W.srv, &c), 0);
    char req[512];
    snprintf(req, sizeof req,
             "HEAD %s?format=html HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n", W.A.path,
             W.A.auth);
    assert_int_equal(sitr_e2e_send_str(&c, req), 0);
    assert_int_equal(sitr_e2e_read(&c, &r, 1), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(sitr_e2e_header(&r, "Content-Type"), "text/html; charset=utf-8");
    sitr_e2e_resp_free(&r);
    sitr_e2e_close(&c);
}

/* The 404 body for path with auth and extra headers. */
static char *not_found(const char *path, const char *auth, const char *extra)
{
    sitr_e2e_resp_t r;
    call("GET", path, auth, extra, NULL, &r);
    if (r.status != 404)
        fail_msg("GET %s: %d, want 404: %s", path, r.status, r.body);
    assert_string_equal(sitr_e2e_header(&r, "Content-Type"), "application/json");
    assert_null(sitr_e2e_header(&r, "Content-Security-Policy"));
    char *body = strdup(r.body);
    sitr_e2e_resp_free(&r);
    json_t *j = sitr_e2e_json(body);
    assert_string_equal(jstr(json_object_get(j, "error"), "code"), "case_not_found");
    json_decref(j);
    return body;
}

static void test_not_found(void **state)
{
    (void)state;
    /* A's report with B's secret, and an unknown (well-formed) reference. */
    char *wrong = not_found(W.A.path, W.B.auth, NULL);
    char unknown_ref[SITR_TOKEN_MAX_LEN + 1], path[256];
    assert_int_equal(sitr_token_generate(SITR_TOKEN_REFERENCE, unknown_ref, sizeof unknown_ref), 0);
    snprintf(path, sizeof path, "/v1/cases/%s/report?format=html", unknown_ref);
    char *unknown = not_found(path, W.A.auth, "Accept: text/html\r\n");
    assert_string_equal(wrong, unknown);
    /* A wrong secret asking for HTML gets the same JSON too. */
    snprintf(path, sizeof path, "%s?format=html&lang=ar", W.A.path);
    char *wrong_html = not_found(path, W.B.auth, "Accept: text/html\r\n");
    assert_string_equal(wrong, wrong_html);

    /* Withdrawn: A's owner gets the same 404; B is untouched. */
    char del[160];
    snprintf(del, sizeof del, "/v1/cases/%s", W.A.ref);
    json_decref(call_json("DELETE", del, W.A.auth, NULL, 200));
    char *withdrawn = not_found(W.A.path, W.A.auth, NULL);
    assert_string_equal(wrong, withdrawn);
    char *withdrawn_html = not_found(path, W.A.auth, "Accept: text/html\r\n");
    assert_string_equal(wrong, withdrawn_html);
    json_decref(call_json("GET", W.B.path, W.B.auth, NULL, 200));
    free(wrong);
    free(unknown);
    free(wrong_html);
    free(withdrawn);
    free(withdrawn_html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world),     cmocka_unit_test(test_json),
        cmocka_unit_test(test_html),      cmocka_unit_test(test_negotiation),
        cmocka_unit_test(test_not_found),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
