/* sitrd across a PostgreSQL outage (issue 10), on a private cluster of its
 * own (the pg_outage fixture) that this test stops and starts again:
 *  - while it is down, /v1/match answers 200 with the same matches and refs
 *    as before (platform keys and indexes come from memory), its blocks are
 *    queued ("recorded" true), writes and case routes answer 503
 *    unavailable with Retry-After, and the pool's state is in /metrics;
 *  - a second sitrd started during the outage logs the failed start-up
 *    connection once, however many retries follow, and becomes ready when
 *    the database returns;
 *  - once it is back, every queued block is in case_blocks: one row per
 *    (case image, platform, UTC day), the counts summing to the matched
 *    answers the test received, and the victim's timeline shows one entry
 *    per (platform, day) with that sum;
 *  - so are the checks counted per (platform, day) during the outage
 *    (platform_checks sums to every check this sitrd counted, none dropped);
 *  - each change of the database's state is logged once.
 * Waiting loops poll with deadlines; nothing asserts on time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "db_support.h"
#include "e2e_api.h"
#include "e2e_img.h"
#include "e2e_util.h"
#include "e2e_world.h"

#define DKEY        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define DEADLINE_MS 30000
#define PG_DIR      SITR_BINARY_DIR "/pg-outage"

static char *url;
static char dburl_env[1024];
static char port[16];
static sitr_e2e_server_t A, C;
static char key_a[128], key_b[128];
static sitr_e2e_img_t img[2];
static char ref_a0[64], ref_b1[64];
static char case_path[128], case_auth[128], case_ref[64];
/* Matched answers received, per (image, platform): what case_blocks must
 * sum to in the end. */
static long long hits_a0, hits_b1;
static unsigned rng_state = 4242;

/* The private cluster's URL to its "postgres" database, and its port. */
static char *outage_server_url(void)
{
    FILE *f = fopen(PG_DIR "/conninfo", "r");
    if (!f)
        fail_msg("no %s/conninfo: is the pg_outage fixture running?", PG_DIR);
    char buf[1024];
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    const char *at = strrchr(buf, '@');
    const char *colon = at ? strchr(at, ':') : NULL;
    assert_non_null(colon);
    snprintf(port, sizeof port, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    return strdup(buf);
}

static void pg_pause(void)
{
    assert_int_equal(pgt_run("'%s/tools/pg-local' pause '%s'", SITR_SOURCE_DIR, PG_DIR), 0);
}

static void pg_resume(void)
{
    assert_int_equal(pgt_run("'%s/tools/pg-local' start '%s' %s --tmp-fallback >/dev/null",
                             SITR_SOURCE_DIR, PG_DIR, port),
                     0);
}

/* POST /v1/match with one MD5 item on s with key: 200 expected; returns
 * whether it matched and copies the first ref. */
static int match_md5(sitr_e2e_server_t *s, const char *key, const char *md5, char *ref,
                     size_t ref_cap)
{
    char body[256];
    snprintf(body, sizeof body, "{\"items\":[{\"md5\":\"%s\"}]}", md5);
    json_t *j = sitr_e2e_call_json(s, "POST", "/v1/match", key, body, 200);
    json_t *item = json_array_get(json_object_get(j, "items"), 0);
    int hit = json_is_true(json_object_get(item, "matched"));
    /* Queued for the timeline, whatever the database's state. */
    assert_true(json_is_true(json_object_get(j, "recorded")));
    assert_null(json_object_get(item, "recorded"));
    if (hit && ref)
        snprintf(ref, ref_cap, "%s",
                 json_string_value(
                     json_object_get(json_array_get(json_object_get(item, "matches"), 0), "ref")));
    json_decref(j);
    return hit;
}

static int setup(void **state)
{
    (void)state;
    char *server = outage_server_url();
    PQclear(pgt_exec(server, "DROP DATABASE IF EXISTS outage"));
    PQclear(pgt_exec(server, "CREATE DATABASE outage"));
    char *slash = strrchr(server, '/');
    *slash = '\0';
    size_t n = strlen(server) + 16;
    url = malloc(n);
    snprintf(url, n, "%s/outage", server);
    free(server);
    assert_int_equal(pgt_run("'%s' --database-url '%s' migrate >/dev/null", pgt_admin(), url), 0);
    setenv("SITR_DIGEST_KEY", DKEY, 1);
    assert_int_equal(sitr_e2e_admin_key(url, "platform add alpha", key_a, sizeof key_a, NULL, 0),
                     0);
    assert_int_equal(sitr_e2e_admin_key(url, "platform add beta", key_b, sizeof key_b, NULL, 0), 0);
    snprintf(dburl_env, sizeof dburl_env, "SITR_DATABASE_URL=%s", url);
    const char *env[] = {dburl_env, "SITR_DIGEST_KEY=" DKEY, "SITR_CASE_RATE=0", NULL};
    assert_int_equal(sitr_e2e_start(&A, env), 0);
    assert_int_equal(sitr_e2e_wait_ready(&A, DEADLINE_MS), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *never[] = {key_a, key_b, img[0].md5, img[1].md5, NULL};
    if (A.pid > 0)
        assert_int_equal(sitr_e2e_stop_clean(&A, never), 0);
    if (C.pid > 0)
        assert_int_equal(sitr_e2e_stop_clean(&C, never), 0);
    free(url);
    return 0;
}

/* A case of two images; both platforms see it matched before the outage. */
static void test_before(void **state)
{
    (void)state;
    img[0] = sitr_e2e_new_img(&rng_state);
    img[1] = sitr_e2e_new_img(&rng_state);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"images\":[{\"pdq\":\"%s\",\"quality\":90,\"md5\":\"%s\"},"
             "{\"pdq\":\"%s\",\"quality\":90,\"md5\":\"%s\"}]}",
             img[0].pdq, img[0].md5, img[1].pdq, img[1].md5);
    json_t *j = sitr_e2e_call_json(&A, "POST", "/v1/cases", NULL, body, 201);
    snprintf(case_ref, sizeof case_ref, "%s", json_string_value(json_object_get(j, "case")));
    snprintf(case_path, sizeof case_path, "/v1/cases/%s", case_ref);
    snprintf(case_auth, sizeof case_auth, "Case %s",
             json_string_value(json_object_get(j, "secret")));
    json_decref(j);
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    while (!match_md5(&A, key_a, img[0].md5, ref_a0, sizeof ref_a0)) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("the case never matched");
        sitr_e2e_sleep_ms(50);
    }
    hits_a0++;
    assert_true(match_md5(&A, key_b, img[1].md5, ref_b1, sizeof ref_b1));
    hits_b1++;
    assert_int_equal(sitr_e2e_wait_blocks_written(&A, DEADLINE_MS), 0);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM case_blocks b JOIN cases c ON c.id = b.case_id "
             "WHERE c.reference = '%s'",
             case_ref);
    assert_int_equal(pgt_scalar(url, sql), 2);
    assert_int_equal(sitr_e2e_metric(&A, "sitr_db_unreachable"), 0);
}

/* PostgreSQL stops: matches still answered from memory, writes refused at
 * once with 503 and Retry-After. */
static void test_during(void **state)
{
    (void)state;
    pg_pause();
    assert_true(sitr_e2e_wait_log(&A, "database unreachable:", DEADLINE_MS));
    assert_int_equal(sitr_e2e_metric(&A, "sitr_db_unreachable"), 1);

    /* A replica started now: the failed start-up connection, once. */
    const char *env[] = {dburl_env, "SITR_DIGEST_KEY=" DKEY, NULL};
    assert_int_equal(sitr_e2e_start(&C, env), 0);
    assert_true(sitr_e2e_wait_log(&C, "database unreachable at start-up", DEADLINE_MS));

    char ref[64];
    for (int i = 0; i < 40; i++) {
        assert_true(match_md5(&A, key_a, img[0].md5, ref, sizeof ref));
        assert_string_equal(ref, ref_a0);
        hits_a0++;
        if (i % 4 == 0) {
            assert_true(match_md5(&A, key_b, img[1].md5, ref, sizeof ref));
            assert_string_equal(ref, ref_b1);
            hits_b1++;
        }
    }
    /* The other image is not a match for a random MD5. */
    sitr_e2e_img_t other = sitr_e2e_new_img(&rng_state);
    assert_false(match_md5(&A, key_a, other.md5, NULL, 0));
    /* A PDQ item too: the index is in memory. */
    char body[512];
    snprintf(body, sizeof body, "{\"items\":[{\"pdq\":\"%s\",\"quality\":90}]}", img[0].pdq);
    json_t *j = sitr_e2e_call_json(&A, "POST", "/v1/match", key_a, body, 200);
    json_t *m = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "items"), 0), "matches"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "ref")), ref_a0);
    assert_string_equal(json_string_value(json_object_get(m, "signal")), "pdq");
    json_decref(j);
    hits_a0++;

    /* Writes and the victims' routes need the database: 503 at once. */
    snprintf(body, sizeof body, "{\"uploads\":[{\"id\":\"u1\",\"md5\":\"%s\"}]}", other.md5);
    sitr_e2e_resp_t r;
    sitr_e2e_call(&A, "POST", "/v1/uploads", key_a, NULL, body, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(sitr_e2e_header(&r, "Retry-After"), "1");
    assert_non_null(strstr(r.body, "\"unavailable\""));
    sitr_e2e_resp_free(&r);
    sitr_e2e_call(&A, "GET", case_path, case_auth, NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(sitr_e2e_header(&r, "Retry-After"));
    sitr_e2e_resp_free(&r);

    /* The blocks wait in memory, and so do the check counts. */
    assert_true(sitr_e2e_metric(&A, "sitr_blocks_pending") >= 40);
    assert_int_equal(sitr_e2e_metric(&A, "sitr_blocks_dropped_total"), 0);
    assert_true(sitr_e2e_metric(&A, "sitr_checks_pending") >= 50);
    /* The check writer tries every second: wait for one failed write (the
     * outage can be shorter than its period), after which the counts must
     * still be held, none dropped. */
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    while (sitr_e2e_metric(&A, "sitr_checks_write_errors_total") < 1) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("the check writer never tried to write during the outage");
        sitr_e2e_sleep_ms(50);
    }
    assert_true(sitr_e2e_metric(&A, "sitr_checks_pending") >= 50);
    assert_int_equal(sitr_e2e_metric(&A, "sitr_checks_dropped_total"), 0);
}

/* PostgreSQL returns: the queued blocks are written, summed per item,
 * platform and day; writes work again; each state change logged once. */
static void test_after(void **state)
{
    (void)state;
    pg_resume();
    assert_true(sitr_e2e_wait_log(&A, "database reachable again", DEADLINE_MS));
    assert_int_equal(sitr_e2e_wait_blocks_written(&A, DEADLINE_MS), 0);
    assert_int_equal(sitr_e2e_wait_ready(&C, DEADLINE_MS), 0);

    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(b.count), 0) FROM case_blocks b JOIN case_images i ON "
             "i.id = b.case_image_id JOIN platforms p ON p.id = b.platform_id "
             "WHERE i.md5 = decode('%s', 'hex') AND p.name = '%s'",
             img[0].md5, "alpha");
    assert_int_equal(pgt_scalar(url, sql), hits_a0);
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(b.count), 0) FROM case_blocks b JOIN case_images i ON "
             "i.id = b.case_image_id JOIN platforms p ON p.id = b.platform_id "
             "WHERE i.md5 = decode('%s', 'hex') AND p.name = '%s'",
             img[1].md5, "beta");
    assert_int_equal(pgt_scalar(url, sql), hits_b1);
    /* One row per (item, platform, day): a day of checks is one row. */
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_blocks"),
                     pgt_scalar(url, "SELECT count(DISTINCT (case_image_id, platform_id, day)) "
                                     "FROM case_blocks"));
    assert_true(pgt_scalar(url, "SELECT count(*) FROM case_blocks") <= 4);

    /* Every check counted by this sitrd, written once the database was
     * back (the checks of the start, of the outage and the PDQ item). */
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    while (sitr_e2e_metric(&A, "sitr_checks_pending") != 0) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("the check counts were never written");
        sitr_e2e_sleep_ms(50);
    }
    assert_int_equal(sitr_e2e_metric(&A, "sitr_checks_dropped_total"), 0);
    assert_true(sitr_e2e_metric(&A, "sitr_checks_write_errors_total") >= 1);
    long long counted = sitr_e2e_metric(&A, "sitr_checks_counted_total");
    assert_true(counted >= 53);
    assert_int_equal(pgt_scalar(url, "SELECT coalesce(sum(checks), 0) FROM platform_checks"),
                     counted);

    /* The victim's timeline: one entry per (platform, day), summed. */
    json_t *st = sitr_e2e_call_json(&A, "GET", case_path, case_auth, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(st, "uploads_blocked")), hits_a0 + hits_b1);
    long long seen = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(st, "timeline"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "event")), "upload_blocked") == 0)
            seen += json_integer_value(json_object_get(e, "count"));
    }
    assert_int_equal(seen, hits_a0 + hits_b1);
    json_decref(st);

    /* Writes work again (the pool reconnected on its own). */
    sitr_e2e_img_t u = sitr_e2e_new_img(&rng_state);
    char body[256];
    snprintf(body, sizeof body, "{\"uploads\":[{\"id\":\"u2\",\"md5\":\"%s\"}]}", u.md5);
    json_decref(sitr_e2e_call_json(&A, "POST", "/v1/uploads", key_a, body, 202));

    /* Each change once, not per retry or per request. */
    assert_int_equal(sitr_e2e_log_count(&A, "database unreachable:"), 1);
    assert_int_equal(sitr_e2e_log_count(&A, "database reachable again"), 1);
    assert_int_equal(sitr_e2e_log_count(&A, "block records not written"), 1);
    assert_int_equal(sitr_e2e_log_count(&A, "block records written again"), 1);
    assert_int_equal(sitr_e2e_log_count(&C, "database unreachable at start-up"), 1);
    assert_int_equal(sitr_e2e_log_count(&C, "database unreachable:"), 0);
    assert_int_equal(sitr_e2e_log_count(&C, "database reachable again"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before),
        cmocka_unit_test(test_during),
        cmocka_unit_test(test_after),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
