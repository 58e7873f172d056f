/* sitr-admin import / source against a real PostgreSQL (the pg fixture),
 * checked through SQL:
 *  - idempotence: re-importing a file changes no row anywhere;
 *  - one transaction per file: a file with a refused line changes nothing
 *    (not even the source), --skip-invalid imports the other lines;
 *  - an import is one case owned by the source with no secret, and ONE
 *    change-log row, whatever its size; jsonl dihedral variants are kept;
 *  - withdrawal of one hash, then of the source, erases: no imported hash
 *    is left in the tables, in pg_stats after ANALYZE, or in a pg_dump;
 *    and a withdrawn source takes no more imports;
 *  - staged imports (migrations/0012): absent from index_case_images, the
 *    figures and source_summary until published, present after; the
 *    change rows 'import_staged' then 'import_added'; publication refused
 *    for what is not a staged import; an abandoned one (its session gone)
 *    discarded by the next import: hashes erased (pg_dump), one
 *    'import_removed'; SIT05 for a hash of a staged import; the lock;
 *  - sitr-admin's wait for the replicas: --wait 0, replicas that
 *    acknowledge while it waits, one that never does (named, published at
 *    --wait), a dead one ignored, an interrupted import left staged and
 *    discarded by the next, a second import of the source waiting for the
 *    first, a source withdrawn while its import waits. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_support.h"

#define N 200

static char *url;
static char hashes[N][3][65]; /* pdq, md5, sha256 (lower-case hex) */
static char out_path[64];

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;
static void rand_hex(char *out, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        sprintf(out + 2 * i, "%02x", (unsigned)(rng >> 32) & 0xff);
    }
}

static int admin(const char *args)
{
    return pgt_run("'%s' --database-url '%s' %s >'%s' 2>&1", pgt_admin(), url, args, out_path);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static void assert_output_has(const char *want)
{
    char *o = slurp(out_path);
    if (!strstr(o, want))
        fail_msg("sitr-admin said:\n%s\nwithout '%s'", o, want);
    free(o);
}

/* The CSV of hashes[from..to), plus extra lines. */
static void write_csv(const char *path, int from, int to, const char *extra)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "pdq,quality,md5,sha256\n");
    for (int i = from; i < to; i++)
        fprintf(f, "%s,%d,%s,%s\n", hashes[i][0], 50 + i % 51, hashes[i][1], hashes[i][2]);
    if (extra)
        fputs(extra, f);
    fclose(f);
}

/* Every row count an import may touch, as one string. */
static void counts(char *out, size_t cap)
{
    PGresult *r = pgt_exec(url, "SELECT (SELECT count(*) FROM sources) || '/' || "
                                "(SELECT count(*) FROM cases) || '/' || "
                                "(SELECT count(*) FROM case_images) || '/' || "
                                "(SELECT count(*) FROM case_image_variants) || '/' || "
                                "(SELECT count(*) FROM imports) || '/' || "
                                "(SELECT count(*) FROM case_events) || '/' || "
                                "(SELECT coalesce(max(seq), 0) FROM changes)");
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* 1 when text holds hex (lower-case hex), in lower or upper case. */
static int has_hex(const char *text, const char *hex)
{
    char upper[65];
    size_t len = strlen(hex);
    for (size_t j = 0; j <= len; j++)
        upper[j] = (char)(hex[j] >= 'a' && hex[j] <= 'f' ? hex[j] - 32 : hex[j]);
    return strstr(text, hex) || strstr(text, upper);
}

/* Fails when text holds any imported hash, in lower or upper case. */
static void assert_no_hash(const char *text, const char *where)
{
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 3; k++)
            if (has_hex(text, hashes[i][k]))
                fail_msg("%s holds imported hash %d/%d", where, i, k);
}

/* A pg_dump of the database, as text (caller frees). */
static char *dump_db(void)
{
    char dump[64];
    snprintf(dump, sizeof dump, "/tmp/sitr-import-%d.sql", (int)getpid());
    assert_int_equal(
        pgt_run("/usr/lib/postgresql/15/bin/pg_dump --no-owner -f '%s' '%s'", dump, url), 0);
    char *text = slurp(dump);
    unlink(dump);
    return text;
}

/* A fresh migrated database as url. */
static void fresh_db(const char *prefix)
{
    free(url);
    url = pgt_create_db(prefix);
    assert_int_equal(pgt_run("'%s' migrate --database-url '%s' >/dev/null", pgt_admin(), url), 0);
}

static void test_import_and_withdraw(void **state)
{
    (void)state;
    fresh_db("timp");
    char csv[64], bad[64], jsonl[64], before[128], after[128];
    snprintf(csv, sizeof csv, "/tmp/sitr-import-%d.csv", (int)getpid());
    snprintf(bad, sizeof bad, "/tmp/sitr-import-%d-bad.csv", (int)getpid());
    snprintf(jsonl, sizeof jsonl, "/tmp/sitr-import-%d.jsonl", (int)getpid());
    for (int i = 0; i < N; i++) {
        rand_hex(hashes[i][0], 32);
        rand_hex(hashes[i][1], 16);
        rand_hex(hashes[i][2], 32);
    }

    /* A file with one refused line changes nothing, not even the source. */
    counts(before, sizeof before);
    write_csv(bad, 0, 150, "0123,90,,\n");
    assert_int_equal(admin("import --source helpline bad-path-does-not-exist.csv"), 1);
    assert_int_equal(pgt_run("'%s' --database-url '%s' import --source helpline '%s' >'%s' 2>&1",
                             pgt_admin(), url, bad, out_path),
                     1);
    assert_output_has("line 152: refused: pdq is not 64 hex digits");
    assert_output_has("refused, nothing imported");
    counts(after, sizeof after);
    assert_string_equal(after, before);

    /* --skip-invalid imports the other lines, in one case, one change row. */
    char args[256];
    snprintf(args, sizeof args, "import --source helpline --skip-invalid '%s'", bad);
    assert_int_equal(admin(args), 0);
    assert_output_has("added       150");
    assert_output_has("refused     1");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM cases c JOIN sources s "
                                     "ON s.id = c.source_id WHERE s.name = 'helpline' "
                                     "AND c.secret_digest IS NULL"),
                     1);
    /* Staged, then published (no live replica: at once). */
    assert_output_has("no live replica, published");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM changes"), 2);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM changes c JOIN imports i "
                                     "ON i.case_id = c.entity_id WHERE (c.seq, c.kind) IN "
                                     "((1, 'import_staged'), (2, 'import_added'))"),
                     2);

    /* The whole list: 150 already held, 50 new, a line with only the PDQ of
     * another (a different triple: an image of its own), and a line
     * repeated in the file (a duplicate). */
    char dup[400];
    snprintf(dup, sizeof dup, "%s,90,,\n%s,55,%s,%s\n", hashes[3][0], hashes[5][0], hashes[5][1],
             hashes[5][2]);
    write_csv(csv, 0, N, dup);
    snprintf(args, sizeof args, "import --source helpline '%s'", csv);
    assert_int_equal(admin(args), 0);
    assert_output_has("added       51");
    assert_output_has("duplicates  151");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_images WHERE erased_at IS NULL"),
                     N + 1);
    /* Idempotent: the same file again changes no row anywhere. */
    counts(before, sizeof before);
    assert_int_equal(admin(args), 0);
    assert_output_has("added       0");
    assert_output_has("duplicates  202");
    counts(after, sizeof after);
    assert_string_equal(after, before);

    /* jsonl keeps the dihedral variants (other than the PDQ itself). */
    FILE *f = fopen(jsonl, "w");
    assert_non_null(f);
    char p[65], v1[65], v2[65];
    rand_hex(p, 32);
    rand_hex(v1, 32);
    rand_hex(v2, 32);
    fprintf(f,
            "{\"type\":\"image\",\"path\":\"a.jpg\",\"pdq\":\"%s\",\"quality\":88,"
            "\"dihedral\":[\"%s\",\"%s\",\"%s\"],\"md5\":null,\"sha256\":null}\n",
            p, p, v1, v2);
    fclose(f);
    snprintf(args, sizeof args, "import --source other '%s'", jsonl);
    assert_int_equal(admin(args), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_image_variants"), 2);

    /* One hash withdrawn: its image erased, the others stay. */
    snprintf(args, sizeof args, "source withdraw helpline --hash %s", hashes[7][1]);
    assert_int_equal(admin(args), 0);
    assert_output_has("1 image(s) with that hash erased");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_images WHERE erased_at IS NULL"),
                     N + 1);
    assert_int_equal(admin("source withdraw nobody"), 1);
    assert_output_has("no source named 'nobody'");

    /* The source withdrawn: every hash erased, one import_removed row per
     * case and no per-image rows. */
    long long seq = pgt_scalar(url, "SELECT max(seq) FROM changes");
    assert_int_equal(admin("source withdraw helpline"), 0);
    assert_output_has("2 import(s), 200 image(s) erased");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_images i JOIN cases c ON "
                                     "c.id = i.case_id JOIN sources s ON s.id = c.source_id "
                                     "WHERE s.name = 'helpline' AND (i.pdq IS NOT NULL OR "
                                     "i.md5 IS NOT NULL OR i.sha256 IS NOT NULL)"),
                     0);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FILTER (WHERE kind = 'import_removed') * 1000 + "
             "count(*) FILTER (WHERE kind = 'case_image_removed') FROM changes WHERE seq > %lld",
             seq);
    assert_int_equal(pgt_scalar(url, sql), 2000);
    assert_int_equal(admin("source list"), 0);
    assert_output_has("helpline");
    snprintf(args, sizeof args, "import --source helpline '%s'", csv);
    assert_int_equal(admin(args), 1);
    assert_output_has("was withdrawn");

    /* No imported hash anywhere: statistics after ANALYZE, a pg_dump. */
    PQclear(pgt_exec(url, "ANALYZE"));
    PGresult *r = pgt_exec(url, "SELECT coalesce(string_agg(s::text, ' '), '') FROM pg_stats s");
    assert_no_hash(PQgetvalue(r, 0, 0), "pg_stats");
    PQclear(r);
    char *text = dump_db();
    assert_no_hash(text, "pg_dump");
    free(text);
    unlink(csv);
    unlink(bad);
    unlink(jsonl);
}

/* ---- staged imports, through SQL ------------------------------------- */

/* A session of its own (a sitr-admin's), kept across statements. */
static PGconn *session(void)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect: %s", PQerrorMessage(c));
    return c;
}

static long long sx(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs one statement on c (it must succeed); its first value, or 0. */
static long long sx(PGconn *c, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long long v =
        PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return v;
}

static long long scalarf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long scalarf(const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return pgt_scalar(url, sql);
}

/* Stages n images (random PDQ and MD5, kept in pdq/md5) into source src as
 * sitr-admin does, on session c, which keeps the import lock.  The case. */
static long long stage(PGconn *c, const char *src, int n, char (*pdq)[65], char (*md5)[65])
{
    sx(c, "SELECT sitr_source_lock('%s', true)", src);
    sx(c, "BEGIN");
    sx(c, "SELECT sitr_import_stage()");
    for (int i = 0; i < n; i++) {
        rand_hex(pdq[i], 32);
        rand_hex(md5[i], 16);
        sx(c,
           "INSERT INTO sitr_import_rows (line, pdq, quality, md5) "
           "VALUES (%d, decode('%s', 'hex'), 90, decode('%s', 'hex'))",
           i + 2, pdq[i], md5[i]);
    }
    long long id = sx(c, "SELECT case_id FROM sitr_source_import('%s', 'csv', %d, 0)", src, n + 1);
    sx(c, "COMMIT");
    assert_true(id > 0);
    return id;
}

/* What the figures say of source src: live images in index_case_images,
 * source_summary's imports/images/staged, the month's sitr_stats images
 * and the gauge, as "index/imports/images/staged/stats/gauge". */
static void figures(const char *src, char *out, size_t cap)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM index_case_images i JOIN cases c ON c.id = i.case_id "
             "JOIN sources s ON s.id = c.source_id WHERE s.name = '%s') || '/' || "
             "(SELECT imports || '/' || images || '/' || staged FROM source_summary "
             "WHERE name = '%s') || '/' || "
             "(SELECT coalesce(sum((e->>'images')::int), 0) FROM jsonb_array_elements("
             "sitr_stats((now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date)"
             "->'months'->0->'sources') e WHERE e->>'source' = '%s') || '/' || "
             "(SELECT coalesce(sum(value), 0) FROM sitr_stats_gauges() "
             "WHERE metric = 'sitr_stats_source_held' AND labels = 'source=\"%s\",kind=\"image\"')",
             src, src, src, src);
    PGresult *r = pgt_exec(url, sql);
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void assert_figures(const char *src, const char *want)
{
    char got[128];
    figures(src, got, sizeof got);
    assert_string_equal(got, want);
}

/* The kinds of the change rows after seq, with their entity, as
 * "kind:entity kind:entity". */
static void changes_after(long long seq, char *out, size_t cap)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(string_agg(kind || ':' || entity_id, ' ' ORDER BY seq), '') "
             "FROM changes WHERE seq > %lld",
             seq);
    PGresult *r = pgt_exec(url, sql);
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void test_staged_sql(void **state)
{
    (void)state;
    fresh_db("timps");
    char pdq[3][65], md5[3][65], gone_pdq[2][65], gone_md5[2][65], want[256], got[256];
    PGconn *a = session();

    /* Staged: stored, one 'import_staged' row, matched and counted by no one. */
    long long c1 = stage(a, "s", 3, pdq, md5);
    changes_after(0, got, sizeof got);
    snprintf(want, sizeof want, "import_staged:%lld", c1);
    assert_string_equal(got, want);
    assert_int_equal(scalarf("SELECT count(*) FROM case_images WHERE case_id = %lld", c1), 3);
    assert_figures("s", "0/0/0/1/0/0");
    assert_int_equal(scalarf("SELECT count(*) FROM staged_imports WHERE case_id = %lld", c1), 1);

    /* Without the import lock, no import and no discard. */
    pgt_expect_error(url, "SELECT * FROM sitr_source_import('s', 'csv', 1, 0)", "55000");
    pgt_expect_error(url, "SELECT sitr_source_discard_abandoned('s')", "55000");

    /* A hash of the staged import cannot be withdrawn alone (SIT05). */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT sitr_source_withdraw_hash('s', decode('%s', 'hex'))", md5[1]);
    pgt_expect_error(url, sql, "SIT05");
    char args[256];
    snprintf(args, sizeof args, "source withdraw s --hash %s", md5[1]);
    assert_int_equal(admin(args), 1);
    assert_output_has("an import of source 's' is being published; try again when it ends");

    /* Presence and acknowledgements: idempotent, bounded, nothing for
     * what is not a staged import. */
    PQclear(pgt_exec(url, "SELECT sitr_replica_seen('r1', 'host-a', 4242, 7, true)"));
    PQclear(pgt_exec(url, "SELECT sitr_replica_seen('r1', 'host-a', 4242, 9, true)"));
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM replicas WHERE instance = 'r1' "
                                     "AND applied = 9 AND ready AND started_at <= seen_at"),
                     1);
    pgt_expect_error(url, "SELECT sitr_replica_seen('', NULL, NULL, NULL, NULL)", "23514");
    pgt_expect_error(url, "SELECT sitr_replica_seen(E'a\\nb', NULL, NULL, NULL, NULL)", "23514");
    PQclear(pgt_exec(url, "UPDATE replicas SET seen_at = now() - interval '2 days' "
                          "WHERE instance = 'r1'"));
    PQclear(pgt_exec(url, "SELECT sitr_replica_seen('r2', 'host-b', 4243, 9, false)"));
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM replicas"), 1);
    sx(a, "SELECT sitr_import_prepared(%lld, 'r1')", c1);
    sx(a, "SELECT sitr_import_prepared(%lld, 'r1')", c1);
    sx(a, "SELECT sitr_import_prepared(%lld, 'r2')", c1);
    sx(a, "SELECT sitr_import_prepared(424242, 'r1')");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM import_prepared"), 2);

    /* Published: matched and counted; 'import_added'; acknowledgements gone. */
    long long seq = pgt_scalar(url, "SELECT max(seq) FROM changes");
    assert_int_equal(scalarf("SELECT sitr_source_publish(%lld)::int", c1), 1);
    changes_after(seq, got, sizeof got);
    snprintf(want, sizeof want, "import_added:%lld", c1);
    assert_string_equal(got, want);
    assert_figures("s", "3/1/3/0/3/3");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM import_prepared"), 0);
    sx(a, "SELECT sitr_import_prepared(%lld, 'r1')", c1); /* no longer staged: nothing */
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM import_prepared"), 0);

    /* Publishing again, an unknown case, a victim's: false, nothing changed. */
    char before[128], after[128];
    counts(before, sizeof before);
    assert_int_equal(scalarf("SELECT sitr_source_publish(%lld)::int", c1), 0);
    assert_int_equal(pgt_scalar(url, "SELECT sitr_source_publish(424242)::int"), 0);
    assert_int_equal(pgt_scalar(url, "SELECT sitr_source_publish(NULL)::int"), 0);
    counts(after, sizeof after);
    assert_string_equal(after, before);
    PQfinish(a);

    /* Abandoned: staged by a session that then went away without
     * publishing.  The next holder of the lock discards it: case withdrawn,
     * hashes erased, one 'import_removed' (no per-image row), discarded. */
    PGconn *b = session();
    long long c2 = stage(b, "s", 2, gone_pdq, gone_md5);
    sx(b, "SELECT sitr_import_prepared(%lld, 'r2')", c2);
    PQfinish(b);
    assert_figures("s", "3/1/3/1/3/3");
    PGconn *d = session();
    sx(d, "SELECT sitr_source_lock('s', true)");
    seq = pgt_scalar(url, "SELECT max(seq) FROM changes");
    assert_int_equal(sx(d, "SELECT sitr_source_discard_abandoned('s')"), 1);
    changes_after(seq, got, sizeof got);
    snprintf(want, sizeof want, "case_withdrawn:%lld import_removed:%lld", c2, c2);
    assert_string_equal(got, want);
    assert_int_equal(scalarf("SELECT count(*) FROM case_images WHERE case_id = %lld AND "
                             "erased_at IS NOT NULL AND pdq IS NULL AND md5 IS NULL",
                             c2),
                     2);
    assert_int_equal(scalarf("SELECT count(*) FROM imports WHERE case_id = %lld AND "
                             "discarded_at IS NOT NULL AND published_at IS NULL",
                             c2),
                     1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM import_prepared"), 0);
    assert_figures("s", "3/1/3/0/3/3");
    counts(before, sizeof before);
    assert_int_equal(scalarf("SELECT sitr_source_publish(%lld)::int", c2), 0);
    assert_int_equal(sx(d, "SELECT sitr_source_discard_abandoned('s')"), 0);
    counts(after, sizeof after);
    assert_string_equal(after, before);
    char *text = dump_db();
    for (int i = 0; i < 2; i++)
        if (has_hex(text, gone_pdq[i]) || has_hex(text, gone_md5[i]))
            fail_msg("pg_dump holds a hash of the discarded import (%d)", i);
    if (!has_hex(text, pdq[0]))
        fail_msg("pg_dump lacks a hash of the published import: the check cannot fail");
    free(text);

    /* A staged import withdrawn with its source: one 'import_removed' for
     * each case, and it can no longer be published. */
    long long c3 = stage(d, "s", 1, gone_pdq, gone_md5);
    sx(d, "SELECT sitr_import_prepared(%lld, 'r2')", c3);
    seq = pgt_scalar(url, "SELECT max(seq) FROM changes");
    assert_int_equal(admin("source withdraw s"), 0);
    assert_output_has("2 import(s), 4 image(s) erased");
    changes_after(seq, got, sizeof got);
    snprintf(want, sizeof want,
             "case_withdrawn:%lld import_removed:%lld case_withdrawn:%lld import_removed:%lld", c1,
             c1, c3, c3);
    assert_string_equal(got, want);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM import_prepared"), 0);
    assert_int_equal(scalarf("SELECT sitr_source_publish(%lld)::int", c3), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM staged_imports"), 0);
    PQfinish(d);
}

/* ---- sitr-admin's wait for the replicas ------------------------------- */

/* A CSV of n random lines. */
static void write_random_csv(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "pdq,quality,md5\n");
    for (int i = 0; i < n; i++) {
        char p[65], m[33];
        rand_hex(p, 32);
        rand_hex(m, 16);
        fprintf(f, "%s,90,%s\n", p, m);
    }
    fclose(f);
}

/* `sitr-admin import --source src --wait w file` in the background, its
 * stdout and stderr to out. */
static pid_t spawn_import(const char *src, const char *w, const char *file, const char *out)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execl(pgt_admin(), "sitr-admin", "--database-url", url, "import", "--source", src, "--wait",
              w, file, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int reap(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void nap(void)
{
    struct timespec ts = {0, 50000000L};
    nanosleep(&ts, NULL);
}

/* Waits (bounded: a broken build fails instead of hanging) until sql
 * answers non-zero; returns the answer.  The replicas r1 and r2 are kept
 * live meanwhile when live. */
static long long until(const char *sql, int live)
{
    for (int i = 0; i < 1200; i++) {
        if (live)
            PQclear(pgt_exec(url, "SELECT sitr_replica_seen('r1', 'h', 11, 0, true), "
                                  "sitr_replica_seen('r2', 'h', 12, 0, true)"));
        long long v = pgt_scalar(url, sql);
        if (v)
            return v;
        nap();
    }
    fail_msg("still 0 after 60 s: %s", sql);
    return 0;
}

static int count_in(const char *path, const char *what)
{
    if (access(path, R_OK) != 0)
        return 0; /* not opened by the child yet */
    char *o = slurp(path);
    int n = 0;
    for (const char *p = o; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    free(o);
    return n;
}

static void until_output(const char *path, const char *what)
{
    for (int i = 0; i < 1200 && count_in(path, what) == 0; i++)
        nap();
    if (count_in(path, what) == 0)
        fail_msg("sitr-admin never said '%s'", what);
}

static void test_wait_for_replicas(void **state)
{
    (void)state;
    fresh_db("timpw");
    char f[6][64], outa[64], outb[64], args[256];
    for (int i = 0; i < 6; i++) {
        snprintf(f[i], sizeof f[i], "/tmp/sitr-import-%d-w%d.csv", (int)getpid(), i);
        write_random_csv(f[i], 20);
    }
    snprintf(outa, sizeof outa, "/tmp/sitr-import-%d-a.out", (int)getpid());
    snprintf(outb, sizeof outb, "/tmp/sitr-import-%d-b.out", (int)getpid());

    /* --wait 0: published at once, a live replica or not. */
    PQclear(pgt_exec(url, "SELECT sitr_replica_seen('r1', 'h', 11, 0, true)"));
    snprintf(args, sizeof args, "import --source w --wait 0 '%s'", f[0]);
    assert_int_equal(admin(args), 0);
    assert_output_has("replicas not waited for (--wait 0), published");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM index_case_images"), 20);
    assert_int_equal(admin("import --source w --wait -1 x.csv"), 2);
    assert_int_equal(admin("import --source w --wait 3601 x.csv"), 2);

    /* Two live replicas: published when both acknowledged, not before. */
    pid_t pid = spawn_import("w", "60", f[1], outa);
    long long c1 = until("SELECT coalesce(max(case_id), 0) FROM staged_imports", 1);
    assert_int_equal(scalarf("SELECT count(*) FROM index_case_images WHERE case_id = %lld", c1), 0);
    PQclear(pgt_exec(url, "SELECT sitr_import_prepared(case_id, 'r1') FROM staged_imports"));
    assert_int_equal(scalarf("SELECT count(*) FROM imports WHERE case_id = %lld AND "
                             "published_at IS NULL",
                             c1),
                     1);
    PQclear(pgt_exec(url, "SELECT sitr_import_prepared(case_id, 'r2') FROM staged_imports"));
    assert_int_equal(reap(pid), 0);
    assert_int_equal(count_in(outa, "(2/2), published"), 1);
    assert_int_equal(scalarf("SELECT count(*) FROM index_case_images WHERE case_id = %lld", c1),
                     20);
    assert_int_equal(scalarf("SELECT count(*) FROM changes WHERE kind = 'import_added' AND "
                             "entity_id = %lld AND seq = (SELECT max(seq) FROM changes)",
                             c1),
                     1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM import_prepared"), 0);

    /* r2 dead (not seen for a minute): ignored.  r1 never acknowledges:
     * the wait ends at --wait, publishes, and names it. */
    PQclear(pgt_exec(url, "SELECT sitr_replica_seen('r1', 'h', 11, 0, true)"));
    PQclear(pgt_exec(url, "UPDATE replicas SET seen_at = now() - interval '1 minute' "
                          "WHERE instance = 'r2'"));
    snprintf(args, sizeof args, "import --source w --wait 1 '%s'", f[2]);
    assert_int_equal(admin(args), 0);
    assert_output_has("not prepared after 1 s by: r1 (they load the import");
    assert_output_has("(0/1), published");
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM index_case_images"), 60);

    /* Interrupted while waiting: left staged (said so), then discarded by
     * the next import of the source. */
    pid = spawn_import("w", "60", f[3], outa);
    long long c3 = until("SELECT coalesce(max(case_id), 0) FROM staged_imports", 1);
    kill(pid, SIGINT);
    assert_int_equal(reap(pid), 1);
    assert_int_equal(count_in(outa, "the import is stored but not published"), 1);
    assert_int_equal(count_in(outa, "until the next import of source 'w' discards it"), 1);
    assert_int_equal(scalarf("SELECT count(*) FROM staged_imports WHERE case_id = %lld", c3), 1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM index_case_images"), 60);

    /* The next import (a) discards it; a second one (b) waits for a's end. */
    pid = spawn_import("w", "60", f[4], outa);
    snprintf(args, sizeof args,
             "SELECT coalesce(max(case_id), 0) FROM staged_imports WHERE case_id > %lld", c3);
    long long c4 = until(args, 1);
    assert_int_equal(count_in(outa, "1 abandoned import(s) of source 'w' discarded"), 1);
    assert_int_equal(scalarf("SELECT count(*) FROM imports WHERE case_id = %lld AND "
                             "discarded_at IS NOT NULL",
                             c3),
                     1);
    pid_t pidb = spawn_import("w", "60", f[5], outb);
    until_output(outb, "another import of source 'w' is running; waiting for it to end");
    snprintf(args, sizeof args, "SELECT sitr_import_prepared(%lld, 'r%d')", c4, 1);
    PQclear(pgt_exec(url, args));
    snprintf(args, sizeof args, "SELECT sitr_import_prepared(%lld, 'r%d')", c4, 2);
    PQclear(pgt_exec(url, args));
    assert_int_equal(reap(pid), 0);
    snprintf(args, sizeof args,
             "SELECT coalesce(max(case_id), 0) FROM staged_imports "
             "WHERE case_id > %lld",
             c4);
    long long c5 = until(args, 1);
    PQclear(pgt_exec(url, "SELECT sitr_import_prepared(case_id, 'r1'), "
                          "sitr_import_prepared(case_id, 'r2') FROM staged_imports"));
    assert_int_equal(reap(pidb), 0);
    assert_int_equal(count_in(outb, "another import of source 'w' is running"), 1);
    assert_int_equal(count_in(outb, "(2/2), published"), 1);
    assert_int_equal(count_in(outb, "abandoned"), 0);
    assert_int_equal(scalarf("SELECT count(*) FROM index_case_images WHERE case_id IN "
                             "(%lld, %lld)",
                             c4, c5),
                     40);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM staged_imports"), 0);

    /* The source withdrawn while its import waits: nothing published. */
    pid = spawn_import("w2", "60", f[0], outa);
    until("SELECT count(*) FROM staged_imports", 1);
    assert_int_equal(admin("source withdraw w2"), 0);
    assert_output_has("source 'w2' withdrawn: 1 import(s), 20 image(s) erased");
    assert_int_equal(reap(pid), 1);
    assert_int_equal(count_in(outa, "the import was withdrawn before its publication"), 1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM imports i JOIN sources s ON "
                                     "s.id = i.source_id WHERE s.name = 'w2' AND "
                                     "i.published_at IS NULL"),
                     1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM index_case_images"), 100);
    for (int i = 0; i < 6; i++)
        unlink(f[i]);
    unlink(outa);
    unlink(outb);
}

static int setup(void **state)
{
    (void)state;
    snprintf(out_path, sizeof out_path, "/tmp/sitr-import-%d.out", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(out_path);
    free(url);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_and_withdraw),
        cmocka_unit_test(test_staged_sql),
        cmocka_unit_test(test_wait_for_replicas),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
