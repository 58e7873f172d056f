/* sitr-admin import / source against a real PostgreSQL (the pg fixture),
 * checked through SQL:
 *  - idempotence: re-importing a file changes no row anywhere;
 *  - one transaction per file: a file with a refused line changes nothing
 *    (not even the source), --skip-invalid imports the other lines;
 *  - an import is one case owned by the source with no secret, and ONE
 *    change-log row, whatever its size; jsonl dihedral variants are kept;
 *  - withdrawal of one hash, then of the source, erases: no imported hash
 *    is left in the tables, in pg_stats after ANALYZE, or in a pg_dump;
 *    and a withdrawn source takes no more imports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Fails when text holds any imported hash, in lower or upper case. */
static void assert_no_hash(const char *text, const char *where)
{
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 3; k++) {
            char upper[65];
            size_t len = strlen(hashes[i][k]);
            for (size_t j = 0; j <= len; j++)
                upper[j] =
                    (char)(hashes[i][k][j] >= 'a' && hashes[i][k][j] <= 'f' ? hashes[i][k][j] - 32
                                                                            : hashes[i][k][j]);
            if (strstr(text, hashes[i][k]) || strstr(text, upper))
                fail_msg("%s holds imported hash %d/%d", where, i, k);
        }
}

static void test_import_and_withdraw(void **state)
{
    (void)state;
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
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM changes"), 1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM changes WHERE kind = 'import_added'"),
                     1);

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
    char dump[64];
    snprintf(dump, sizeof dump, "/tmp/sitr-import-%d.sql", (int)getpid());
    assert_int_equal(
        pgt_run("/usr/lib/postgresql/15/bin/pg_dump --no-owner -f '%s' '%s'", dump, url), 0);
    char *text = slurp(dump);
    assert_no_hash(text, "pg_dump");
    free(text);
    unlink(dump);
    unlink(csv);
    unlink(bad);
    unlink(jsonl);
}

static int setup(void **state)
{
    (void)state;
    snprintf(out_path, sizeof out_path, "/tmp/sitr-import-%d.out", (int)getpid());
    url = pgt_create_db("timp");
    return pgt_run("'%s' migrate --database-url '%s' >/dev/null", pgt_admin(), url);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
