/* Concurrency of the SQL functions against a real PostgreSQL (the `pg`
 * fixture): two sessions interleaved on purpose, one holding its
 * transaction open while the other runs.
 *
 * The matcher's commit racing a withdrawal (or an upload removal) must not
 * leave a pending takedown behind: the matcher session is started while the
 * other transaction is open and only released (by COMMIT) once it is either
 * finished or waiting for a lock, so the outcome does not depend on timing.
 * Synchronous libpq plus PQsendQuery for the session that must not block
 * the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "db_support.h"

#define MIGRATIONS SITR_SOURCE_DIR "/migrations"
#define MD5_A      "fedcba9876543210fedcba9876543210"

static PGconn *connect_to(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect: %s", PQerrorMessage(c));
    return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* A migrated database with one case whose image (an MD5) equals a live
 * upload of platform 1; *case_id receives the case. */
static char *setup(long long *case_id)
{
    char *url = pgt_create_db("trace");
    assert_int_equal(pgt_run("'%s' migrate --database-url '%s' --dir '%s' >/dev/null 2>&1",
                             pgt_admin(), url, MIGRATIONS),
                     0);
    PQclear(pgt_exec(url, "SELECT * FROM sitr_case_create('CASE-RACE-0001', "
                          "decode(repeat('aa', 32), 'hex'), '[{\"md5\":\"" MD5_A "\"}]', 10)"));
    *case_id = pgt_scalar(url, "SELECT id FROM cases WHERE reference = 'CASE-RACE-0001'");
    PQclear(pgt_exec(url, "INSERT INTO platforms (name, key_digest) "
                          "VALUES ('p1', decode(repeat('11', 32), 'hex'))"));
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM sitr_uploads_report(1, "
                                     "'[{\"id\":\"u1\",\"md5\":\"" MD5_A "\"}]')"),
                     1);
    return url;
}

static const char COMMIT_SQL[] =
    "SELECT sitr_matcher_commit(100, jsonb_build_array(jsonb_build_object("
    "'case_image_id', (SELECT min(id) FROM case_images), 'upload_id', "
    "(SELECT min(id) FROM uploads), 'signal', 'md5', 'distance', 0)))";

/* Starts the matcher's commit on its own session and returns once that
 * session has either finished or is waiting for a lock held by the other
 * transaction (bounded: 60 s). */
static PGconn *start_commit_and_settle(const char *url)
{
    PGconn *m = connect_to(url);
    char pid[24];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(m));
    assert_int_equal(PQsendQuery(m, COMMIT_SQL), 1);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
             pid);
    for (int i = 0; i < 6000; i++) {
        assert_int_equal(PQconsumeInput(m), 1);
        if (!PQisBusy(m))
            return m; /* finished without waiting */
        if (pgt_scalar(url, sql) == 1)
            return m; /* blocked by the open transaction */
        usleep(10000);
    }
    fail_msg("the matcher session neither finished nor waited for a lock");
    return NULL;
}

/* Collects the commit's result: the number of takedowns it created. */
static long long finish_commit(PGconn *m)
{
    long long created = -1;
    PGresult *r;
    while ((r = PQgetResult(m)) != NULL) {
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("matcher commit: %s", PQresultErrorMessage(r));
        created = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    PQfinish(m);
    return created;
}

/* A withdrawal in progress when the matcher commits: once both have
 * committed, the withdrawn case has no pending takedown and no webhook is
 * due for it. */
static void test_withdraw_vs_matcher_commit(void **state)
{
    (void)state;
    long long case_id = 0;
    char *url = setup(&case_id);
    PGconn *w = connect_to(url);
    char sql[256];
    exec_ok(w, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT sitr_case_withdraw(%lld)", case_id);
    exec_ok(w, sql);
    PGconn *m = start_commit_and_settle(url);
    exec_ok(w, "COMMIT");
    PQfinish(w);
    assert_int_equal(finish_commit(m), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM takedowns WHERE case_id = %lld AND status = 'pending'", case_id);
    assert_int_equal(pgt_scalar(url, sql), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM matches"), 0);
    free(url);
}

/* The other order: the matcher's commit is open when the victim withdraws;
 * the withdrawal waits for it and deletes the takedown it created. */
static void test_matcher_commit_vs_withdraw(void **state)
{
    (void)state;
    long long case_id = 0;
    char *url = setup(&case_id);
    PGconn *m = connect_to(url);
    exec_ok(m, "BEGIN");
    PGresult *r = PQexec(m, COMMIT_SQL);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    PGconn *w = connect_to(url);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT sitr_case_withdraw(%lld)::int", case_id);
    assert_int_equal(PQsendQuery(w, sql), 1);
    exec_ok(m, "COMMIT");
    PQfinish(m);
    long long withdrawn = -1;
    while ((r = PQgetResult(w)) != NULL) {
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        withdrawn = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    PQfinish(w);
    assert_int_equal(withdrawn, 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM takedowns WHERE case_id = %lld AND status = 'pending'", case_id);
    assert_int_equal(pgt_scalar(url, sql), 0);
    /* The takedown the commit created is deleted with the case's links. */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM takedowns WHERE case_id = %lld", case_id);
    assert_int_equal(pgt_scalar(url, sql), 0);
    snprintf(sql, sizeof sql, "SELECT withdrawn_takedowns FROM cases WHERE id = %lld", case_id);
    assert_int_equal(pgt_scalar(url, sql), 1);
    free(url);
}

/* An upload removal in progress when the matcher commits: no takedown for
 * an upload the platform has just removed. */
static void test_upload_remove_vs_matcher_commit(void **state)
{
    (void)state;
    long long case_id = 0;
    char *url = setup(&case_id);
    PGconn *p = connect_to(url);
    exec_ok(p, "BEGIN");
    exec_ok(p, "SELECT sitr_upload_remove(1, 'u1')");
    PGconn *m = start_commit_and_settle(url);
    exec_ok(p, "COMMIT");
    PQfinish(p);
    assert_int_equal(finish_commit(m), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedowns"), 0);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_withdraw_vs_matcher_commit),
        cmocka_unit_test(test_matcher_commit_vs_withdraw),
        cmocka_unit_test(test_upload_remove_vs_matcher_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
