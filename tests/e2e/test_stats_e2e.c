/* The transparency figures, end to end (issue 12): a real sitrd, matcher
 * and sitr-admin on a fresh database of the pg fixture.
 *
 * Three victims open cases: A (two images, moved to the previous month in
 * SQL), B and C (one image each, this month).  Platform alpha reports
 * copies of A's, B's and C's first images and beta a copy of B's; the
 * matcher turns them into four takedowns.  alpha answers three of them
 * through the API (removed, rejected, not_found) and the test sets their
 * request and answer times in SQL: A's in the previous month, answered
 * after 2 h; B's and C's this month, after 1 h and 30 min.  alpha checks
 * three items with POST /v1/match (one blocks A's second image) and beta
 * makes two HMA lookups (one blocks B's image).  Then C's victim
 * withdraws, which deletes C's takedown (0006) but keeps it in the figures.
 * A partner source imports a list of three MD5s with `sitr-admin import`;
 * beta reports a copy of one, and the source withdraws that hash, which
 * deletes beta's takedown: counted as cancelled, and the list's figures
 * apart from the victims' cases.
 *
 * Then `sitr-admin stats` must give the exact figures in json, csv and
 * table form, honour --from/--to and refuse bad bounds, and hold no case
 * reference, secret, hash, upload id or API key; and sitrd's /metrics
 * must show the same figures as sitr_stats_* gauges. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "db_support.h"
#include "e2e_api.h"
#include "e2e_img.h"
#include "e2e_util.h"
#include "e2e_world.h"

#define TEST_DIGEST_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define DEADLINE_MS     30000

static struct {
    char *db_url;
    sitr_e2e_server_t srv;
    char key_a[80], key_b[80];
} W;

typedef struct victim {
    char ref[64], auth[128];
    long long id;
} victim_t;

static unsigned rng = 2718;
/* a0 a1 (case A), b0 (B), c0 (C), two that no case holds, then the three
 * MD5s of the partner's list. */
static sitr_e2e_img_t IMG[9];
static victim_t A, B, C;
static const char *const UPLOADS[] = {"upl-a0-4f1c", "upl-b0-9d2e", "upl-c0-77aa",
                                      "upl-b0-beta-31c5", "upl-imp-8c0d"};
static char M0[8], M1[8], M11[8]; /* this month, the one before, and 11 before */
static char out_path[256], csv_path[256];

static void create_case(victim_t *v, const sitr_e2e_img_t *imgs, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:i,s:s,s:s}", "pdq", imgs[i].pdq, "quality", 90,
                                             "md5", imgs[i].md5, "sha256", imgs[i].sha));
    json_t *body = json_pack("{s:o}", "images", arr);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *c = sitr_e2e_call_json(&W.srv, "POST", "/v1/cases", NULL, text, 201);
    free(text);
    snprintf(v->ref, sizeof v->ref, "%s", json_string_value(json_object_get(c, "case")));
    snprintf(v->auth, sizeof v->auth, "Case %s", json_string_value(json_object_get(c, "secret")));
    json_decref(c);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM cases WHERE reference = '%s'", v->ref);
    v->id = pgt_scalar(W.db_url, sql);
}

static void report(const char *key, const char *id, const sitr_e2e_img_t *img)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"uploads\":[{\"id\":\"%s\",\"pdq\":\"%s\",\"quality\":80,\"md5\":\"%s\","
             "\"sha256\":\"%s\"}]}",
             id, img->pdq, img->md5, img->sha);
    json_decref(sitr_e2e_call_json(&W.srv, "POST", "/v1/uploads", key, body, 202));
}

/* The id of the takedown of upload content_id, waiting for the matcher. */
static long long takedown_of(const char *content_id)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(max(t.id), 0) FROM takedowns t JOIN uploads u ON u.id = t.upload_id "
             "WHERE u.content_id = '%s'",
             content_id);
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    long long id;
    while ((id = pgt_scalar(W.db_url, sql)) == 0) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("upload %s: no takedown in time", content_id);
        sitr_e2e_sleep_ms(100);
    }
    return id;
}

static void answer(long long id, const char *status)
{
    char path[64], body[64];
    snprintf(path, sizeof path, "/v1/takedowns/%lld", id);
    snprintf(body, sizeof body, "{\"status\":\"%s\"}", status);
    json_decref(sitr_e2e_call_json(&W.srv, "POST", path, W.key_a, body, 200));
}

/* Takedown id requested at `at` (an SQL timestamptz expression) and
 * answered `after` later (an interval). */
static void set_times(long long id, const char *at, const char *after)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "UPDATE takedowns SET created_at = %s WHERE id = %lld;"
             "UPDATE takedown_history SET created_at = %s WHERE takedown_id = %lld "
             "AND status = 'pending';"
             "UPDATE takedown_history SET created_at = %s + interval '%s' "
             "WHERE takedown_id = %lld AND status <> 'pending'",
             at, id, at, id, at, after, id);
    PQclear(pgt_exec(W.db_url, sql));
}

/* Runs sitr-admin stats with args; its stdout in *out (caller frees).
 * Returns the exit status. */
static int stats(const char *args, char **out)
{
    int rc = pgt_run("'%s' --database-url '%s' stats %s >'%s' 2>/dev/null", pgt_admin(), W.db_url,
                     args, out_path);
    FILE *f = fopen(out_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)len + 1);
    assert_int_equal(fread(*out, 1, (size_t)len, f), (size_t)len);
    (*out)[len] = '\0';
    fclose(f);
    return rc;
}

/* Nothing that names a victim, an image or an upload. */
static void assert_nothing_personal(const char *text, const char *where)
{
    for (size_t i = 0; i < sizeof IMG / sizeof IMG[0]; i++)
        sitr_e2e_assert_no_hash(text, &IMG[i], where);
    const victim_t *v[] = {&A, &B, &C};
    for (int i = 0; i < 3; i++) {
        if (strstr(text, v[i]->ref))
            fail_msg("%s holds case reference %d", where, i);
        if (strstr(text, v[i]->auth + 5))
            fail_msg("%s holds case secret %d", where, i);
    }
    for (size_t i = 0; i < sizeof UPLOADS / sizeof UPLOADS[0]; i++)
        if (strstr(text, UPLOADS[i]))
            fail_msg("%s holds upload id %s", where, UPLOADS[i]);
    if (strstr(text, W.key_a) || strstr(text, W.key_b))
        fail_msg("%s holds an API key", where);
}

static const json_t *platform(const json_t *month, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(month, "platforms"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "platform")), name) == 0)
            return p;
    }
    fail_msg("no platform %s", name);
    return NULL;
}

static long long at(const json_t *o, const char *k1, const char *k2)
{
    const json_t *v = json_object_get(o, k1);
    if (k2)
        v = json_object_get(v, k2);
    if (!json_is_integer(v))
        fail_msg("%s.%s is not an integer", k1, k2 ? k2 : "");
    return json_integer_value(v);
}

static void expect_platform(const json_t *p, long long checks, long long blocks,
                            const long long td[6], long long answered, long long median,
                            long long p90)
{
    static const char *const names[] = {"requested", "pending",   "removed",
                                        "rejected",  "not_found", "cancelled"};
    assert_int_equal(at(p, "checks", NULL), checks);
    assert_int_equal(at(p, "blocks", NULL), blocks);
    for (int i = 0; i < 6; i++)
        assert_int_equal(at(p, "takedowns", names[i]), td[i]);
    assert_int_equal(at(p, "answer_seconds", "answered"), answered);
    const json_t *a = json_object_get(p, "answer_seconds");
    if (median < 0) {
        assert_true(json_is_null(json_object_get(a, "median")));
        assert_true(json_is_null(json_object_get(a, "p90")));
    } else {
        assert_int_equal(at(p, "answer_seconds", "median"), median);
        assert_int_equal(at(p, "answer_seconds", "p90"), p90);
    }
}

static const long long TD_ALPHA_M1[6] = {1, 0, 1, 0, 0, 0};
static const long long TD_ALPHA_M0[6] = {2, 0, 0, 1, 1, 0};
static const long long TD_BETA_M0[6] = {2, 1, 0, 0, 0, 1};

static void check_json(void)
{
    char args[64], *text;
    snprintf(args, sizeof args, "--from %s --to %s --format json", M1, M0);
    assert_int_equal(stats(args, &text), 0);
    assert_nothing_personal(text, "stats --format json");
    json_t *doc = sitr_e2e_json(text);
    free(text);
    assert_string_equal(json_string_value(json_object_get(doc, "from")), M1);
    assert_string_equal(json_string_value(json_object_get(doc, "to")), M0);
    const json_t *months = json_object_get(doc, "months");
    assert_int_equal(json_array_size(months), 2);
    const json_t *m1 = json_array_get(months, 0), *m0 = json_array_get(months, 1);
    assert_string_equal(json_string_value(json_object_get(m1, "month")), M1);
    assert_int_equal(at(m1, "cases", "opened"), 1);
    assert_int_equal(at(m1, "cases", "withdrawn"), 0);
    assert_int_equal(at(m1, "held", "images"), 2);
    assert_int_equal(at(m1, "held", "videos"), 0);
    assert_int_equal(json_array_size(json_object_get(m1, "sources")), 0);
    assert_int_equal(json_array_size(json_object_get(m1, "platforms")), 1);
    expect_platform(platform(m1, "alpha"), 0, 0, TD_ALPHA_M1, 1, 7200, 7200);

    assert_string_equal(json_string_value(json_object_get(m0, "month")), M0);
    assert_int_equal(at(m0, "cases", "opened"), 2);
    assert_int_equal(at(m0, "cases", "withdrawn"), 1);
    assert_int_equal(at(m0, "held", "images"), 3); /* A's two and B's; C's erased */
    assert_int_equal(at(m0, "held", "videos"), 0);
    /* The partner's list: apart from the victims' figures above. */
    const json_t *srcs = json_object_get(m0, "sources");
    assert_int_equal(json_array_size(srcs), 1);
    const json_t *src = json_array_get(srcs, 0);
    assert_string_equal(json_string_value(json_object_get(src, "source")), "helpline-x");
    assert_int_equal(at(src, "imports", NULL), 1);
    assert_int_equal(at(src, "withdrawn", NULL), 0);
    assert_int_equal(at(src, "held", "images"), 2);
    assert_int_equal(at(src, "held", "videos"), 0);
    assert_int_equal(json_array_size(json_object_get(m0, "platforms")), 2);
    /* 1 h and 30 min: median 45 min, p90 30 min + 0.9 x 30 min. */
    expect_platform(platform(m0, "alpha"), 3, 1, TD_ALPHA_M0, 2, 2700, 3420);
    expect_platform(platform(m0, "beta"), 2, 1, TD_BETA_M0, 0, -1, -1);
    json_decref(doc);
}

static void check_csv(void)
{
    char args[64], *text, want[4096];
    snprintf(args, sizeof args, "--from=%s --to=%s --format=csv", M1, M0);
    assert_int_equal(stats(args, &text), 0);
    assert_nothing_personal(text, "stats --format csv");
    snprintf(want, sizeof want,
             "month,platform,source,figure,value\n"
             "%1$s,,,cases_opened,1\n%1$s,,,cases_withdrawn,0\n%1$s,,,images_held,2\n"
             "%1$s,,,videos_held,0\n"
             "%1$s,alpha,,checks,0\n%1$s,alpha,,blocks,0\n%1$s,alpha,,takedowns_requested,1\n"
             "%1$s,alpha,,takedowns_pending,0\n%1$s,alpha,,takedowns_removed,1\n"
             "%1$s,alpha,,takedowns_rejected,0\n%1$s,alpha,,takedowns_not_found,0\n"
             "%1$s,alpha,,takedowns_cancelled,0\n%1$s,alpha,,takedowns_answered,1\n"
             "%1$s,alpha,,answer_median_seconds,7200\n%1$s,alpha,,answer_p90_seconds,7200\n"
             "%2$s,,,cases_opened,2\n%2$s,,,cases_withdrawn,1\n%2$s,,,images_held,3\n"
             "%2$s,,,videos_held,0\n"
             "%2$s,,helpline-x,imports,1\n%2$s,,helpline-x,imports_withdrawn,0\n"
             "%2$s,,helpline-x,images_held,2\n%2$s,,helpline-x,videos_held,0\n"
             "%2$s,alpha,,checks,3\n%2$s,alpha,,blocks,1\n%2$s,alpha,,takedowns_requested,2\n"
             "%2$s,alpha,,takedowns_pending,0\n%2$s,alpha,,takedowns_removed,0\n"
             "%2$s,alpha,,takedowns_rejected,1\n%2$s,alpha,,takedowns_not_found,1\n"
             "%2$s,alpha,,takedowns_cancelled,0\n%2$s,alpha,,takedowns_answered,2\n"
             "%2$s,alpha,,answer_median_seconds,2700\n%2$s,alpha,,answer_p90_seconds,3420\n"
             "%2$s,beta,,checks,2\n%2$s,beta,,blocks,1\n%2$s,beta,,takedowns_requested,2\n"
             "%2$s,beta,,takedowns_pending,1\n%2$s,beta,,takedowns_removed,0\n"
             "%2$s,beta,,takedowns_rejected,0\n%2$s,beta,,takedowns_not_found,0\n"
             "%2$s,beta,,takedowns_cancelled,1\n%2$s,beta,,takedowns_answered,0\n"
             "%2$s,beta,,answer_median_seconds,\n%2$s,beta,,answer_p90_seconds,\n",
             M1, M0);
    assert_string_equal(text, want);
    free(text);
}

/* line with every run of blanks made one space, leading ones dropped. */
static void squeeze(const char *line, char *out, size_t cap)
{
    size_t n = 0;
    int blank = 1;
    for (const char *p = line; *p && *p != '\n' && n + 1 < cap; p++) {
        if (isspace((unsigned char)*p)) {
            blank = 1;
            continue;
        }
        if (blank && n > 0)
            out[n++] = ' ';
        if (n + 1 < cap)
            out[n++] = *p;
        blank = 0;
    }
    out[n] = '\0';
}

static void check_table(void)
{
    char args[64], *text;
    snprintf(args, sizeof args, "--from %s --to %s", M1, M0);
    assert_int_equal(stats(args, &text), 0);
    assert_nothing_personal(text, "stats (table)");
    char want[24][160];
    int n = 0;
    snprintf(want[n++], 160, "sitr statistics, %s to %s (UTC months)", M1, M0);
    snprintf(want[n++], 160, "%s", M1);
    snprintf(want[n++], 160,
             "victims' cases opened 1, withdrawn 0; held at the end of the month: 2 images, 0 "
             "videos");
    snprintf(want[n++], 160,
             "PLATFORM CHECKS BLOCKS TAKEDOWNS PENDING REMOVED REJECTED "
             "NOT_FOUND CANCELLED ANSWERED MEDIAN P90");
    snprintf(want[n++], 160, "alpha 0 0 1 0 1 0 0 0 1 2h00m 2h00m");
    snprintf(want[n++], 160, "%s", M0);
    snprintf(want[n++], 160,
             "victims' cases opened 2, withdrawn 1; held at the end of the month: 3 images, 0 "
             "videos");
    snprintf(want[n++], 160,
             "imported by helpline-x: 1 lists, 0 withdrawn; held at the end of "
             "the month: 2 images, 0 videos");
    snprintf(want[n++], 160,
             "PLATFORM CHECKS BLOCKS TAKEDOWNS PENDING REMOVED REJECTED "
             "NOT_FOUND CANCELLED ANSWERED MEDIAN P90");
    snprintf(want[n++], 160, "alpha 3 1 2 0 0 1 1 0 2 45m00s 57m00s");
    snprintf(want[n++], 160, "beta 2 1 2 1 0 0 0 1 0 - -");
    int k = 0;
    for (const char *p = text; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        char got[512];
        squeeze(p, got, sizeof got);
        if (!got[0])
            continue;
        if (k >= n)
            fail_msg("unexpected table line: %s", got);
        assert_string_equal(got, want[k]);
        k++;
    }
    assert_int_equal(k, n);
    free(text);
}

static void check_bounds(void)
{
    char args[96], *text;
    /* One month each. */
    snprintf(args, sizeof args, "--from %s --to %s --format json", M0, M0);
    assert_int_equal(stats(args, &text), 0);
    json_t *doc = sitr_e2e_json(text);
    free(text);
    assert_int_equal(json_array_size(json_object_get(doc, "months")), 1);
    const json_t *m = json_array_get(json_object_get(doc, "months"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "month")), M0);
    expect_platform(platform(m, "alpha"), 3, 1, TD_ALPHA_M0, 2, 2700, 3420);
    json_decref(doc);
    snprintf(args, sizeof args, "--from %s --to %s --format json", M1, M1);
    assert_int_equal(stats(args, &text), 0);
    doc = sitr_e2e_json(text);
    free(text);
    assert_int_equal(json_array_size(json_object_get(doc, "months")), 1);
    m = json_array_get(json_object_get(doc, "months"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "month")), M1);
    assert_int_equal(at(m, "cases", "withdrawn"), 0);
    expect_platform(platform(m, "alpha"), 0, 0, TD_ALPHA_M1, 1, 7200, 7200);
    json_decref(doc);
    /* The default: the last twelve months, this one included. */
    assert_int_equal(stats("--format json", &text), 0);
    doc = sitr_e2e_json(text);
    free(text);
    const json_t *months = json_object_get(doc, "months");
    assert_int_equal(json_array_size(months), 12);
    assert_string_equal(json_string_value(json_object_get(doc, "from")), M11);
    assert_string_equal(json_string_value(json_object_get(json_array_get(months, 11), "month")),
                        M0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(months, 0), "month")),
                        M11);
    assert_int_equal(json_array_size(json_object_get(json_array_get(months, 0), "platforms")), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(months, 10), "month")),
                        M1);
    assert_int_equal(json_array_size(json_object_get(json_array_get(months, 10), "platforms")), 1);
    json_decref(doc);

    /* Refused, nothing printed: usage errors exit 2. */
    const char *bad[] = {"--from 2026-13", "--from 26-01", "--to 2026-1",
                         "--from 1969-12", "--format xml", "--from 2026-05 --to 2026-04",
                         "extra"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(stats(bad[i], &text), 2);
        assert_string_equal(text, "");
        free(text);
    }
    /* After the current month. */
    char next[32];
    int y = atoi(M0), mo = atoi(M0 + 5);
    snprintf(next, sizeof next, "%04d-%02d", mo == 12 ? y + 1 : y, mo == 12 ? 1 : mo + 1);
    snprintf(args, sizeof args, "--to %s", next);
    assert_int_equal(stats(args, &text), 2);
    assert_string_equal(text, "");
    free(text);
    /* More than 600 months. */
    snprintf(args, sizeof args, "--from 1970-01 --to %s", M0);
    assert_int_equal(stats(args, &text), 2);
    free(text);
}

/* Polls /metrics until every line of want is in it. */
static void wait_metrics(const char *const *want)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    const char *missing = NULL;
    while (sitr_e2e_now_ms() < end) {
        sitr_e2e_resp_t r;
        assert_int_equal(sitr_e2e_request(&W.srv, "GET", "/metrics", NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        missing = NULL;
        for (size_t i = 0; want[i] && !missing; i++) {
            char line[256];
            snprintf(line, sizeof line, "\n%s\n", want[i]);
            if (!strstr(r.body, line))
                missing = want[i];
        }
        if (!missing)
            assert_nothing_personal(r.body, "/metrics");
        sitr_e2e_resp_free(&r);
        if (!missing)
            return;
        sitr_e2e_sleep_ms(200);
    }
    fail_msg("/metrics never showed: %s", missing);
}

static void test_stats(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof IMG / sizeof IMG[0]; i++)
        IMG[i] = sitr_e2e_new_img(&rng);
    PGresult *r =
        pgt_exec(W.db_url, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'), "
                           "to_char(now() AT TIME ZONE 'UTC' - interval '1 month', 'YYYY-MM'), "
                           "to_char(now() AT TIME ZONE 'UTC' - interval '11 months', 'YYYY-MM')");
    snprintf(M0, sizeof M0, "%s", PQgetvalue(r, 0, 0));
    snprintf(M1, sizeof M1, "%s", PQgetvalue(r, 0, 1));
    snprintf(M11, sizeof M11, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);

    create_case(&A, &IMG[0], 2);
    create_case(&B, &IMG[2], 1);
    create_case(&C, &IMG[3], 1);
    /* A was opened on the 10th of the previous month. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE cases SET created_at = date_trunc('month', now() AT TIME ZONE 'UTC' - "
             "interval '1 month') AT TIME ZONE 'UTC' + interval '9 days' WHERE id = %lld;"
             "UPDATE case_images i SET created_at = c.created_at FROM cases c "
             "WHERE c.id = i.case_id AND c.id = %lld",
             A.id, A.id);
    PQclear(pgt_exec(W.db_url, sql));

    report(W.key_a, UPLOADS[0], &IMG[0]);
    report(W.key_a, UPLOADS[1], &IMG[2]);
    report(W.key_a, UPLOADS[2], &IMG[3]);
    report(W.key_b, UPLOADS[3], &IMG[2]);
    long long ta = takedown_of(UPLOADS[0]), tb = takedown_of(UPLOADS[1]);
    long long tc = takedown_of(UPLOADS[2]);
    (void)takedown_of(UPLOADS[3]);
    answer(ta, "removed");
    answer(tb, "rejected");
    answer(tc, "not_found");
    const char *m1_start = "(date_trunc('month', now() AT TIME ZONE 'UTC' - interval '1 month') "
                           "AT TIME ZONE 'UTC')";
    const char *m0_start = "(date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')";
    char when[256];
    snprintf(when, sizeof when, "%s + interval '9 days 12 hours'", m1_start);
    set_times(ta, when, "2 hours");
    snprintf(when, sizeof when, "%s + interval '1 minute'", m0_start);
    set_times(tb, when, "1 hour");
    snprintf(when, sizeof when, "%s + interval '2 minutes'", m0_start);
    set_times(tc, when, "30 minutes");

    /* Checks: three items from alpha (A's second image blocked), two HMA
     * lookups from beta (B's image blocked). */
    char body[512], path[256];
    snprintf(body, sizeof body, "{\"items\":[{\"md5\":\"%s\"},{\"md5\":\"%s\"},{\"md5\":\"%s\"}]}",
             IMG[1].md5, IMG[4].md5, IMG[5].md5);
    json_decref(sitr_e2e_call_json(&W.srv, "POST", "/v1/match", W.key_a, body, 200));
    snprintf(path, sizeof path, "/m/lookup?signal=%s&signal_type=md5", IMG[2].md5);
    json_t *l = sitr_e2e_call_json(&W.srv, "GET", path, W.key_b, NULL, 200);
    assert_int_equal(json_object_size(l), 1);
    json_decref(l);
    snprintf(path, sizeof path, "/m/lookup?signal=%s&signal_type=md5", IMG[4].md5);
    l = sitr_e2e_call_json(&W.srv, "GET", path, W.key_b, NULL, 200);
    assert_int_equal(json_object_size(l), 0);
    json_decref(l);
    assert_int_equal(sitr_e2e_wait_blocks_written(&W.srv, DEADLINE_MS), 0);
    const char *written[] = {"sitr_checks_written_total 5", "sitr_checks_pending 0",
                             "sitr_checks_dropped_total 0", NULL};
    wait_metrics(written);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT sum(checks) FROM platform_checks"), 5);

    /* C's victim leaves: C's takedown is deleted, its figures stay. */
    snprintf(path, sizeof path, "/v1/cases/%s", C.ref);
    json_decref(sitr_e2e_call_json(&W.srv, "DELETE", path, C.auth, NULL, 200));
    snprintf(sql, sizeof sql, "SELECT count(*) FROM takedowns WHERE case_id = %lld", C.id);
    assert_int_equal(pgt_scalar(W.db_url, sql), 0);

    /* A partner's list of three MD5s, one of them withdrawn again. */
    FILE *f = fopen(csv_path, "w");
    assert_non_null(f);
    fprintf(f, "md5\n%s\n%s\n%s\n", IMG[6].md5, IMG[7].md5, IMG[8].md5);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(pgt_run("'%s' --database-url '%s' import --source helpline-x '%s' "
                             ">/dev/null 2>&1",
                             pgt_admin(), W.db_url, csv_path),
                     0);
    report(W.key_b, UPLOADS[4], &IMG[8]);
    long long ti = takedown_of(UPLOADS[4]);
    assert_int_equal(pgt_run("'%s' --database-url '%s' source withdraw helpline-x --hash %s "
                             ">/dev/null 2>&1",
                             pgt_admin(), W.db_url, IMG[8].md5),
                     0);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM cases WHERE source_id IS NOT NULL"),
                     1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM takedowns WHERE id = %lld", ti);
    assert_int_equal(pgt_scalar(W.db_url, sql), 0);

    check_json();
    check_csv();
    check_table();
    check_bounds();

    /* The same figures as gauges (SITR_STATS_INTERVAL=1). */
    const char *gauges[] = {
        "sitr_stats_cases{state=\"open\"} 2",
        "sitr_stats_cases{state=\"withdrawn\"} 1",
        "sitr_stats_held{kind=\"image\"} 3",
        "sitr_stats_held{kind=\"video\"} 0",
        "sitr_stats_source_held{source=\"helpline-x\",kind=\"image\"} 2",
        "sitr_stats_checks{platform=\"alpha\"} 3",
        "sitr_stats_checks{platform=\"beta\"} 2",
        "sitr_stats_blocks{platform=\"alpha\"} 1",
        "sitr_stats_blocks{platform=\"beta\"} 1",
        "sitr_stats_takedowns{platform=\"alpha\",status=\"not_found\"} 1",
        "sitr_stats_takedowns{platform=\"alpha\",status=\"rejected\"} 1",
        "sitr_stats_takedowns{platform=\"alpha\",status=\"removed\"} 1",
        "sitr_stats_takedowns{platform=\"beta\",status=\"cancelled\"} 1",
        "sitr_stats_takedowns{platform=\"beta\",status=\"pending\"} 1",
        "sitr_stats_takedown_answer_seconds{platform=\"alpha\",quantile=\"0.5\"} 2700",
        "sitr_stats_takedown_answer_seconds{platform=\"alpha\",quantile=\"0.9\"} 3420",
        "sitr_stats_refresh_errors_total 0",
        NULL};
    wait_metrics(gauges);
}

static int setup(void **state)
{
    (void)state;
    setenv("SITR_DIGEST_KEY", TEST_DIGEST_KEY, 1);
    snprintf(out_path, sizeof out_path, "/tmp/sitr-stats-e2e-%d.out", (int)getpid());
    snprintf(csv_path, sizeof csv_path, "/tmp/sitr-stats-e2e-%d.csv", (int)getpid());
    W.db_url = sitr_e2e_migrated_db("stats_e2e");
    if (!W.db_url)
        return -1;
    if (sitr_e2e_admin_key(W.db_url, "platform add alpha", W.key_a, sizeof W.key_a, NULL, 0) < 0 ||
        sitr_e2e_admin_key(W.db_url, "platform add beta", W.key_b, sizeof W.key_b, NULL, 0) < 0)
        return -1;
    static char url_var[1200];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    const char *env[] = {url_var, "SITR_CASE_RATE=0", "SITR_DIGEST_KEY=" TEST_DIGEST_KEY,
                         "SITR_STATS_INTERVAL=1", NULL};
    if (sitr_e2e_start(&W.srv, env) < 0)
        return -1;
    return sitr_e2e_wait_ready(&W.srv, DEADLINE_MS);
}

static int teardown(void **state)
{
    (void)state;
    const char *never[] = {W.key_a, W.key_b, NULL};
    int rc = sitr_e2e_stop_clean(&W.srv, never);
    unlink(out_path);
    unlink(csv_path);
    free(W.db_url);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stats)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
