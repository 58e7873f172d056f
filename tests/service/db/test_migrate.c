/* Migrations against a real PostgreSQL (the `pg` fixture): every file
 * applied to an empty database, re-running is a no-op, an edited or
 * missing applied file is refused (by sitr-admin and by sitrd's async
 * check), and the SQL functions leave exactly the rows expected; after a
 * withdrawal no row anywhere holds a hash of the case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include <sitr/err_service.h>

#include "db/db.h"
#include "db/schema.h"
#include "db_support.h"

#define MIGRATIONS SITR_SOURCE_DIR "/migrations"

static int migrate(const char *url, const char *dir, const char *log)
{
    return pgt_run("'%s' migrate --database-url '%s' --dir '%s' >'%s' 2>&1", pgt_admin(), url, dir,
                   log);
}

static int file_contains(const char *path, const char *needle)
{
    char buf[8192];
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static char *temp_copy(void)
{
    char tmpl[] = "/tmp/sitr-mig.XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    assert_int_equal(pgt_run("cp '%s'/*.sql '%s'/", MIGRATIONS, d), 0);
    return strdup(d);
}

static void test_fresh_and_rerun(void **state)
{
    (void)state;
    char *url = pgt_create_db("tmig");
    assert_int_equal(migrate(url, MIGRATIONS, "/dev/null"), 0);
    static const char *tables[] = {
        "platforms",         "cases",         "case_images",      "case_image_variants",
        "uploads",           "matches",       "takedowns",        "takedown_history",
        "case_events",       "changes",       "matcher_progress", "schema_migrations",
        "index_case_images", "index_uploads", "case_videos",      "index_case_videos",
        "case_matches",      "case_blocks",   "case_blocked_days"};
    char sql[256];
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT (to_regclass('%s') IS NOT NULL)::int", tables[i]);
        assert_int_equal(pgt_scalar(url, sql), 1);
    }
    sitr_migrations_t m;
    sitr_err_t err;
    assert_int_equal(sitr_schema_scan(MIGRATIONS, &m, &err), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM schema_migrations"), m.n);
    long long before = pgt_scalar(url, "SELECT extract(epoch FROM max(applied_at))*1e6 FROM "
                                       "schema_migrations");
    assert_int_equal(migrate(url, MIGRATIONS, "/dev/null"), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM schema_migrations"), m.n);
    assert_int_equal(pgt_scalar(url, "SELECT extract(epoch FROM max(applied_at))*1e6 FROM "
                                     "schema_migrations"),
                     before);
    /* The recorded checksum is the SHA-256 of the file. */
    snprintf(sql, sizeof sql,
             "SELECT (checksum = '%s')::int FROM schema_migrations WHERE version = %d",
             m.v[0].checksum, m.v[0].version);
    assert_int_equal(pgt_scalar(url, sql), 1);
    assert_int_equal(pgt_run("'%s' status --database-url '%s' --dir '%s' >/dev/null", pgt_admin(),
                             url, MIGRATIONS),
                     0);
    sitr_schema_free(&m);
    free(url);
}

static void test_edited_and_missing_refused(void **state)
{
    (void)state;
    char *url = pgt_create_db("tmig");
    char *dir = temp_copy();
    char log[256], path[512];
    snprintf(log, sizeof log, "%s.log", dir);
    assert_int_equal(migrate(url, dir, log), 0);

    /* One byte more in an applied file. */
    snprintf(path, sizeof path, "%s/0001_schema.sql", dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputc('\n', f);
    fclose(f);
    /* and a new pending file, which must NOT be applied either */
    snprintf(path, sizeof path, "%s/0999_extra.sql", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("CREATE TABLE extra_should_not_exist (x int);\n", f);
    fclose(f);
    assert_int_not_equal(migrate(url, dir, log), 0);
    assert_true(file_contains(log, "0001_schema.sql was edited"));
    assert_int_equal(pgt_scalar(url, "SELECT (to_regclass('extra_should_not_exist') IS NULL)::int"),
                     1);
    assert_int_equal(pgt_run("'%s' status --database-url '%s' --dir '%s' >/dev/null 2>&1",
                             pgt_admin(), url, dir),
                     1);

    /* An applied file missing from the directory. */
    assert_int_equal(pgt_run("cp '%s/0001_schema.sql' '%s/'", MIGRATIONS, dir), 0);
    assert_int_equal(pgt_run("mv '%s/0001_schema.sql' '%s/0001_schema.sql.off'", dir, dir), 0);
    assert_int_not_equal(migrate(url, dir, log), 0);
    assert_true(file_contains(log, "missing"));
    assert_int_equal(pgt_run("rm -rf '%s' '%s'", dir, log), 0);
    free(dir);
    free(url);
}

/* ---- the async check sitrd runs at start ---- */

typedef struct check_result {
    int done, rc;
    char msg[512];
} check_result_t;

static void on_check(int rc, const char *message, void *arg)
{
    check_result_t *r = arg;
    r->done++;
    r->rc = rc;
    snprintf(r->msg, sizeof r->msg, "%s", message ? message : "");
}

static void on_closed(void *arg)
{
    (*(int *)arg)++;
}

static check_result_t run_check(const char *url, const char *dir)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    sitr_db_options_t o = {.conninfo = url, .pool_size = 1};
    sitr_db_t *db;
    sitr_err_t err;
    assert_int_equal(sitr_db_new(&loop, &o, &db, &err), 0);
    check_result_t r = {0};
    sitr_migrations_t files;
    assert_int_equal(sitr_schema_scan(dir, &files, &err), 0);
    assert_int_equal(sitr_schema_check(db, &files, on_check, &r, &err), 0);
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    sitr_schema_free(&files);
    int closed = 0;
    sitr_db_close(db, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    return r;
}

static void test_schema_check(void **state)
{
    (void)state;
    char *url = pgt_create_db("tmig");
    char *dir = temp_copy();
    check_result_t r = run_check(url, dir);
    assert_int_equal(r.rc, SITR_ESCHEMA);
    assert_non_null(strstr(r.msg, "sitr-admin migrate"));

    assert_int_equal(migrate(url, dir, "/dev/null"), 0);
    r = run_check(url, dir);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.msg, "");

    char path[512];
    snprintf(path, sizeof path, "%s/0999_extra.sql", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("CREATE TABLE extra (x int);\n", f);
    fclose(f);
    r = run_check(url, dir);
    assert_int_equal(r.rc, SITR_ESCHEMA);
    assert_non_null(strstr(r.msg, "0999_extra.sql is not applied"));
    assert_non_null(strstr(r.msg, "sitr-admin migrate"));

    assert_int_equal(migrate(url, dir, "/dev/null"), 0);
    assert_int_equal(pgt_scalar(url, "SELECT (to_regclass('extra') IS NOT NULL)::int"), 1);
    r = run_check(url, dir);
    assert_int_equal(r.rc, 0);

    /* Edited after being applied. */
    f = fopen(path, "a");
    assert_non_null(f);
    fputc(' ', f);
    fclose(f);
    r = run_check(url, dir);
    assert_int_equal(r.rc, SITR_ESCHEMA);
    assert_non_null(strstr(r.msg, "0999_extra.sql differs"));

    /* The database knows a migration this binary does not: a warning. */
    r = run_check(url, MIGRATIONS);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.msg, "999"));
    assert_int_equal(pgt_run("rm -rf '%s'", dir), 0);
    free(dir);
    free(url);
}

/* ---- the SQL functions ---- */

#define PDQ_A "abababababababababababababababababababababababababababababababab"
#define PDQ_B "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
#define PDQ_C "efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef"
#define MD5_A "0123456789abcdef0123456789abcdef"
#define MD5_B "fedcba9876543210fedcba9876543210"
#define SHA_A "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define SHA_B "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"

/* Rows anywhere in the database (any table) whose text form contains hex. */
static long long rows_containing(const char *url, const char *hex)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "DO $$ DECLARE t text; n bigint; total bigint := 0; BEGIN "
             "FOR t IN SELECT quote_ident(table_name) FROM information_schema.tables "
             "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' LOOP "
             "EXECUTE format('SELECT count(*) FROM %%s x WHERE x::text LIKE ''%%%%%s%%%%''', t) "
             "INTO n; total := total + n; END LOOP; "
             "PERFORM set_config('sitr.found', total::text, false); END $$; ",
             hex);
    /* One connection: the DO block reports through a session setting. */
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s", PQerrorMessage(c));
    PQclear(r);
    r = PQexec(c, "SELECT current_setting('sitr.found')");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return n;
}

static void test_case_functions(void **state)
{
    (void)state;
    char *url = pgt_create_db("tmig");
    assert_int_equal(migrate(url, MIGRATIONS, "/dev/null"), 0);

    /* Two images: a PDQ with two extra variants (one duplicate of the PDQ
     * itself, skipped) and an MD5-only image whose PDQ quality was < 50. */
    assert_int_equal(
        pgt_scalar(url, "SELECT images FROM sitr_case_create('CASE-TEST-0001', "
                        "decode(repeat('aa', 32), 'hex'), '[{\"pdq\":\"" PDQ_A "\",\"quality\":90,"
                        "\"dihedral\":[\"" PDQ_A "\",\"" PDQ_B "\",\"" PDQ_C "\"],\"md5\":\"" MD5_A
                        "\",\"sha256\":\"" SHA_A "\"},{\"pdq\":null,\"quality\":20,\"md5\":\"" MD5_B
                        "\"}]', 10)"),
        2);
    long long id = pgt_scalar(url, "SELECT id FROM cases WHERE reference = 'CASE-TEST-0001'");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_images"), 2);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_image_variants"), 2);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_images WHERE pdq IS NULL "
                                     "AND quality IS NULL AND md5 IS NOT NULL"),
                     1);
    assert_int_equal(
        pgt_scalar(url, "SELECT count(*) FROM changes WHERE kind = 'case_image_added'"), 2);
    assert_int_equal(
        pgt_scalar(url, "SELECT count(*) FROM case_events WHERE kind = 'case_created'"), 1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM index_case_images"), 2);

    /* Refusals: quality < 50 with a PDQ, bad hex, and the per-case cap. */
    pgt_expect_error(
        url,
        "SELECT * FROM sitr_case_create('CASE-TEST-0002', decode(repeat('aa',32),'hex'),"
        " '[{\"pdq\":\"" PDQ_A "\",\"quality\":49}]', 10)",
        "22023");
    pgt_expect_error(
        url,
        "SELECT * FROM sitr_case_create('CASE-TEST-0002', decode(repeat('aa',32),'hex'),"
        " '[{\"md5\":\"zz\"}]', 10)",
        "22023");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT * FROM sitr_case_add_images(%lld, '[{\"sha256\":\"" SHA_B "\"}]', 2)", id);
    pgt_expect_error(url, sql, "SIT01");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_images"), 2);
    snprintf(sql, sizeof sql,
             "SELECT added FROM sitr_case_add_images(%lld, '[{\"sha256\":\"" SHA_B
             "\"},{\"md5\":\"" MD5_B "\"}]', 10)",
             id);
    assert_int_equal(pgt_scalar(url, sql), 1); /* the MD5_B image exists already */
    pgt_expect_error(url, "SELECT * FROM sitr_case_add_images(999999, '[]', 10)", "SIT03");

    /* A platform's upload matches: a pending takedown. */
    PQclear(pgt_exec(url, "INSERT INTO platforms (name, key_digest) "
                          "VALUES ('p1', decode(repeat('11', 32), 'hex'))"));
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM sitr_uploads_report(1, '[{\"id\":\"u1\","
                                     "\"url\":\"https://p1.example/u1\",\"md5\":\"" MD5_B "\"}]')"),
                     1);
    snprintf(sql, sizeof sql,
             "SELECT sitr_matcher_commit(100, jsonb_build_array(jsonb_build_object("
             "'case_image_id', (SELECT id FROM case_images WHERE md5 = decode('" MD5_B
             "', 'hex')), 'upload_id', 1, 'signal', 'md5', 'distance', 0)))");
    assert_int_equal(pgt_scalar(url, sql), 1);
    assert_int_equal(pgt_scalar(url, sql), 0); /* replay: nothing twice */
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedowns WHERE status = 'pending'"), 1);
    assert_int_equal(pgt_scalar(url, "SELECT last_seq FROM matcher_progress"), 100);

    /* Status for the victim: counts, no hash. */
    snprintf(sql, sizeof sql,
             "SELECT ((s->'takedowns'->>'pending')::int * 100 + (s->>'images')::int)"
             " FROM sitr_case_status(%lld) s",
             id);
    assert_int_equal(pgt_scalar(url, sql), 103);
    snprintf(sql, sizeof sql,
             "SELECT (position('" MD5_B "' in sitr_case_status(%lld)::text) = 0)::int", id);
    assert_int_equal(pgt_scalar(url, sql), 1);

    /* Withdrawal: every hash of the case erased, and every row linking the
     * case to an upload (match, takedown, its history, their change-log rows
     * and timeline events) deleted; the takedown counts stay on the case. */
    assert_true(rows_containing(url, PDQ_C) > 0);
    assert_true(rows_containing(url, SHA_A) > 0);
    assert_true(rows_containing(url, SHA_B) > 0);
    snprintf(sql, sizeof sql, "SELECT sitr_case_withdraw(%lld)::int", id);
    assert_int_equal(pgt_scalar(url, sql), 1);
    assert_int_equal(pgt_scalar(url, sql), 0); /* already withdrawn */
    assert_int_equal(pgt_scalar(url,
                                "SELECT count(*) FROM case_images WHERE pdq IS NOT NULL OR "
                                "md5 IS NOT NULL OR sha256 IS NOT NULL OR quality IS NOT NULL"),
                     0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_image_variants"), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM index_case_images"), 0);
    assert_int_equal(rows_containing(url, PDQ_A), 0);
    assert_int_equal(rows_containing(url, PDQ_B), 0);
    assert_int_equal(rows_containing(url, PDQ_C), 0);
    assert_int_equal(rows_containing(url, MD5_A), 0);
    assert_int_equal(rows_containing(url, SHA_A), 0);
    assert_int_equal(rows_containing(url, SHA_B), 0);
    /* MD5_B survives only in the platform's own upload row. */
    assert_int_equal(rows_containing(url, MD5_B), 1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM uploads WHERE md5 IS NOT NULL"), 1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedowns"), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedown_history"), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM matches"), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM changes WHERE kind LIKE 'takedown%'"),
                     0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM case_events WHERE case_id = %lld AND kind NOT IN "
             "('case_created', 'images_added', 'case_withdrawn')",
             id);
    assert_int_equal(pgt_scalar(url, sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT takedowns * 100 + rejected * 10 + removed FROM case_rejection_stats "
             "WHERE case_id = %lld",
             id);
    assert_int_equal(pgt_scalar(url, sql), 100);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM changes WHERE kind = "
                                     "'case_image_removed'"),
                     3);
    snprintf(sql, sizeof sql,
             "SELECT * FROM sitr_case_add_images(%lld, '[{\"md5\":\"" MD5_A "\"}]', 10)", id);
    pgt_expect_error(url, sql, "SIT04");
    /* The platform's takedown is gone: answering it is "no such takedown". */
    pgt_expect_error(url, "SELECT * FROM sitr_takedown_answer(1, 1, 'removed', NULL)", "SIT03");

    /* The change log is ordered and gap-free but for the one takedown_created
     * row the withdrawal deleted. */
    assert_int_equal(pgt_scalar(url, "SELECT (max(seq) = count(*) + 1)::int FROM changes"), 1);
    assert_int_equal(pgt_scalar(url, "SELECT sitr_changes_head()"),
                     pgt_scalar(url, "SELECT max(seq) FROM changes"));
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_and_rerun),
        cmocka_unit_test(test_edited_and_missing_refused),
        cmocka_unit_test(test_schema_check),
        cmocka_unit_test(test_case_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
