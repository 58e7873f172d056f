/* What a withdrawal leaves in PostgreSQL, end to end (issue 14): a real
 * sitrd, sitr-admin and matcher on a fresh database of the pg fixture.
 *
 * A victim opens a case of three images, each with its PDQ, seven more
 * dihedral variants, MD5 and SHA-256.  A platform reports near copies of two
 * of them (one through a dihedral variant) and an unrelated upload; the
 * matcher links them (matches, takedowns, timeline events); a /v1/match
 * check blocks one.  ANALYZE runs while the case is live.  Then the victim
 * withdraws, and:
 *   - no row joins the withdrawn case to an upload: the join over
 *     cases, case_images, matches and uploads, the same through
 *     case_videos, through takedowns, through timeline events, all empty
 *     (and all non-empty before, so the test can fail);
 *   - after another ANALYZE, neither pg_stats nor pg_statistic holds any
 *     of the victim's hashes (every dihedral variant, MD5, SHA-256, in lower
 *     and upper case hex, which also covers bytea's \x form);
 *   - a plain pg_dump of the whole database holds none of them either;
 *   - the uploads matched only to the withdrawn case are matched to nothing
 *     (no match row), and a new case with the same picture matches them
 *     again (a fresh takedown). */
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
#define NIMG            3
#define NVAR            7

static struct {
    char *db_url;
    sitr_e2e_server_t srv;
    char key[80];
} W;

typedef struct victim_img {
    sitr_e2e_img_t img;
    char var[NVAR][65];
} victim_img_t;

static victim_img_t V[NIMG];
static unsigned rng = 1414;

/* Every hex string of the victim: 3 x (pdq + 7 variants + md5 + sha256). */
static size_t victim_hashes(const char *out[NIMG * (NVAR + 3)])
{
    size_t n = 0;
    for (int i = 0; i < NIMG; i++) {
        out[n++] = V[i].img.pdq;
        for (int k = 0; k < NVAR; k++)
            out[n++] = V[i].var[k];
        out[n++] = V[i].img.md5;
        out[n++] = V[i].img.sha;
    }
    return n;
}

/* Fails when text holds any victim hash, in lower or upper case. */
static void assert_no_victim_hash(const char *text, const char *where)
{
    const char *h[NIMG * (NVAR + 3)];
    size_t n = victim_hashes(h);
    for (size_t i = 0; i < n; i++) {
        char upper[65];
        size_t len = strlen(h[i]);
        for (size_t k = 0; k <= len; k++)
            upper[k] = (char)(h[i][k] >= 'a' && h[i][k] <= 'f' ? h[i][k] - 32 : h[i][k]);
        if (strstr(text, h[i]) || strstr(text, upper))
            fail_msg("%s holds victim hash #%zu (image %zu)", where, i, i / (NVAR + 3));
    }
}

/* The first column of the first row as a malloc'd string ("" for NULL). */
static char *text_of(const char *sql)
{
    PGresult *r = pgt_exec(W.db_url, sql);
    char *s = strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return s;
}

static long long case_id_of(const char *ref)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM cases WHERE reference = '%s'", ref);
    return pgt_scalar(W.db_url, sql);
}

/* Rows that link case id to an upload, by every path the schema has. */
static long long links(long long id)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM cases c JOIN case_images i ON i.case_id = c.id "
             "          JOIN matches m ON m.case_image_id = i.id "
             "          JOIN uploads u ON u.id = m.upload_id WHERE c.id = %lld)"
             "     + (SELECT count(*) FROM case_videos v JOIN matches m ON m.case_video_id = v.id "
             "         WHERE v.case_id = %lld)"
             "     + (SELECT count(*) FROM takedowns t JOIN uploads u ON u.id = t.upload_id "
             "         WHERE t.case_id = %lld)"
             "     + (SELECT count(*) FROM case_events WHERE case_id = %lld "
             "          AND (takedown_id IS NOT NULL OR kind = 'match_found'))",
             id, id, id, id);
    return pgt_scalar(W.db_url, sql);
}

static void wait_takedowns(const char *content, long long want)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM takedowns t JOIN uploads u ON u.id = t.upload_id "
             "WHERE u.content_id = '%s'",
             content);
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    while (pgt_scalar(W.db_url, sql) != want) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("upload %s: not %lld takedown(s) in time", content, want);
        sitr_e2e_sleep_ms(100);
    }
}

static json_t *create_case(int n)
{
    json_t *imgs = json_array();
    for (int i = 0; i < n; i++) {
        json_t *d = json_array();
        for (int k = 0; k < NVAR; k++)
            json_array_append_new(d, json_string(V[i].var[k]));
        json_array_append_new(imgs, json_pack("{s:s,s:i,s:o,s:s,s:s}", "pdq", V[i].img.pdq,
                                              "quality", 90, "dihedral", d, "md5", V[i].img.md5,
                                              "sha256", V[i].img.sha));
    }
    json_t *body = json_pack("{s:o}", "images", imgs);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *c = sitr_e2e_call_json(&W.srv, "POST", "/v1/cases", NULL, text, 201);
    free(text);
    return c;
}

static char *pg_dump_text(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/sitr-erasure-%d.sql", (int)getpid());
    assert_int_equal(
        pgt_run("/usr/lib/postgresql/15/bin/pg_dump --no-owner -f '%s' '%s'", path, W.db_url), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    unlink(path);
    return buf;
}

static void test_withdrawal_leaves_nothing(void **state)
{
    (void)state;
    for (int i = 0; i < NIMG; i++) {
        V[i].img = sitr_e2e_new_img(&rng);
        for (int k = 0; k < NVAR; k++)
            sitr_e2e_random_hex(&rng, V[i].var[k], 64);
    }
    json_t *c = create_case(NIMG);
    char ref[64], path[128], auth[96];
    snprintf(ref, sizeof ref, "%s", json_string_value(json_object_get(c, "case")));
    snprintf(path, sizeof path, "/v1/cases/%s", ref);
    snprintf(auth, sizeof auth, "Case %s", json_string_value(json_object_get(c, "secret")));
    json_decref(c);
    long long id = case_id_of(ref);

    /* Near copies: image 0 at distance 5, image 1's third variant at 3 (a
     * rotated copy), and an unrelated upload.  Their digests are the
     * platform's own, not the victim's. */
    char near0[65], near1[65];
    sitr_e2e_flip_bits(V[0].img.pdq, 5, near0);
    sitr_e2e_flip_bits(V[1].var[2], 3, near1);
    sitr_e2e_img_t u[3];
    for (int i = 0; i < 3; i++)
        u[i] = sitr_e2e_new_img(&rng);
    char body[2048];
    snprintf(body, sizeof body,
             "{\"uploads\":[{\"id\":\"near0\",\"pdq\":\"%s\",\"quality\":80,\"md5\":\"%s\","
             "\"sha256\":\"%s\"},{\"id\":\"near1\",\"pdq\":\"%s\",\"quality\":80,\"md5\":\"%s\"},"
             "{\"id\":\"other\",\"pdq\":\"%s\",\"quality\":80}]}",
             near0, u[0].md5, u[0].sha, near1, u[1].md5, u[2].pdq);
    json_decref(sitr_e2e_call_json(&W.srv, "POST", "/v1/uploads", W.key, body, 202));
    wait_takedowns("near0", 1);
    wait_takedowns("near1", 1);
    /* A check that blocks image 2 (through its MD5). */
    snprintf(body, sizeof body, "{\"items\":[{\"md5\":\"%s\"}]}", V[2].img.md5);
    json_t *m = sitr_e2e_call_json(&W.srv, "POST", "/v1/match", W.key, body, 200);
    assert_true(
        json_is_true(json_object_get(json_array_get(json_object_get(m, "items"), 0), "matched")));
    json_decref(m);

    /* The links exist while the case is live, and ANALYZE samples nothing
     * from a hash column. */
    assert_true(links(id) >= 4);
    PQclear(pgt_exec(W.db_url, "ANALYZE"));
    assert_int_equal(pgt_scalar(W.db_url,
                                "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND "
                                "attname IN ('pdq', 'md5', 'sha256', 'frames', 'secret_digest', "
                                "'key_digest')"),
                     0);

    json_decref(sitr_e2e_call_json(&W.srv, "DELETE", path, auth, NULL, 200));

    /* 1. No row links the withdrawn case to an upload. */
    assert_int_equal(links(id), 0);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM cases c "
                                          "JOIN case_images i ON i.case_id = c.id "
                                          "JOIN matches m ON m.case_image_id = i.id "
                                          "JOIN uploads u ON u.id = m.upload_id "
                                          "WHERE c.withdrawn_at IS NOT NULL"),
                     0);
    /* The uploads are matched to nothing now; the platform's takedowns of
     * the case are gone from its list. */
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM matches"), 0);
    json_t *list = sitr_e2e_call_json(&W.srv, "GET", "/v1/takedowns?status=all", W.key, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "takedowns")), 0);
    json_decref(list);

    /* 2. No victim hash in the planner's statistics, even after ANALYZE. */
    PQclear(pgt_exec(W.db_url, "ANALYZE"));
    char *stats = text_of("SELECT coalesce(string_agg(concat_ws(' ', most_common_vals::text, "
                          "histogram_bounds::text), ' '), '') FROM pg_stats "
                          "WHERE schemaname = 'public'");
    assert_no_victim_hash(stats, "pg_stats");
    free(stats);
    char *raw = text_of("SELECT coalesce(string_agg(concat_ws(' ', s.stavalues1::text, "
                        "s.stavalues2::text, s.stavalues3::text, s.stavalues4::text, "
                        "s.stavalues5::text), ' '), '') FROM pg_statistic s "
                        "JOIN pg_class c ON c.oid = s.starelid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = 'public'");
    assert_no_victim_hash(raw, "pg_statistic");
    free(raw);

    /* 3. Nor anywhere in a dump of the database. */
    char *dump = pg_dump_text();
    assert_true(strstr(dump, "COPY public.uploads") != NULL); /* the dump has data */
    assert_true(strstr(dump, near0) != NULL);                 /* ... the platform's own */
    assert_no_victim_hash(dump, "pg_dump");
    free(dump);

    /* A new case with image 0 matches the platform's upload again. */
    json_decref(create_case(1));
    wait_takedowns("near0", 1);
    assert_int_equal(pgt_scalar(W.db_url, "SELECT count(*) FROM matches"), 1);
}

static int setup(void **state)
{
    (void)state;
    setenv("SITR_DIGEST_KEY", TEST_DIGEST_KEY, 1);
    W.db_url = sitr_e2e_migrated_db("erasure_e2e");
    if (!W.db_url)
        return -1;
    if (sitr_e2e_admin_key(W.db_url, "platform add alpha", W.key, sizeof W.key, NULL, 0) < 0)
        return -1;
    static char url_var[1200];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    const char *env[] = {url_var, "SITR_CASE_RATE=0", "SITR_DIGEST_KEY=" TEST_DIGEST_KEY, NULL};
    if (sitr_e2e_start(&W.srv, env) < 0)
        return -1;
    return sitr_e2e_wait_ready(&W.srv, DEADLINE_MS);
}

static int teardown(void **state)
{
    (void)state;
    const char *never[] = {W.key, NULL};
    int rc = sitr_e2e_stop_clean(&W.srv, never);
    free(W.db_url);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_withdrawal_leaves_nothing)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
