/* Partner lists end to end: two sitrd replicas (A and B) on one PostgreSQL,
 * a list imported with the real `sitr-admin import`.
 *  - Both replicas match the imported hashes (PDQ near, MD5, SHA-256) on
 *    /v1/match and /m/lookup once the import committed; the time from the
 *    import's exit to each replica's first match is printed (the figure
 *    belongs to docs/BENCHMARKS.md, tools/bench-import; nothing asserts on
 *    time: the wait is bounded only so that a broken build fails).
 *  - The matcher turns an upload reported before the import into one
 *    takedown for the import's case.
 *  - Withdrawing one hash, then the source, stops the matching on both
 *    replicas and deletes the takedown.
 *  - Platforms never see an imported hash: the answers carry opaque refs.
 * The two phases of an import (staged, prepared by every live replica in
 * the background, then published; service/match/replica_import.c):
 *  - both replicas are in the replicas table, and both attach a prepared
 *    import when it is published (their metrics say how);
 *  - a replica that could not prepare in time (stopped) reads the import
 *    inline at the publication and still matches it;
 *  - a replica started while an import is staged prepares it from the
 *    staged_imports view, and sitr-admin waits for its acknowledgement;
 *  - a withdrawal detaches an attached import whole, and scans on a replica
 *    that loaded the import at start. */
#include <signal.h>
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
#include "e2e_util.h"
#include "e2e_world.h"

#define DKEY        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define LINES       2000
#define DEADLINE_MS 60000

static char *url;
static char dburl_env[1024];
static const char *start_env[] = {dburl_env, "SITR_DIGEST_KEY=" DKEY, NULL};
static sitr_e2e_server_t A, B, C, D;
static char key[128];
static char pdq[LINES][65], md5[LINES][33], sha[LINES][65];

static unsigned long long rng = 0x2545f4914f6cdd1dULL;
static unsigned rnd8(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (unsigned)(rng >> 40) & 0xff;
}

static void rand_hex(char *out, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        sprintf(out + 2 * i, "%02x", rnd8());
}

/* hex with d distinct bits flipped (d <= 8: one per byte of the first 8). */
static void near(const char *hex, int d, char out[65])
{
    memcpy(out, hex, 65);
    for (int i = 0; i < d; i++) {
        unsigned v;
        char two[3];
        assert_int_equal(sscanf(out + 2 * i, "%2x", &v), 1);
        snprintf(two, sizeof two, "%02x", v ^ 1u);
        memcpy(out + 2 * i, two, 2);
    }
}

static json_t *call(sitr_e2e_server_t *s, const char *method, const char *path, const char *body,
                    int *status)
{
    char headers[512];
    snprintf(headers, sizeof headers,
             "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", key);
    sitr_e2e_resp_t r;
    assert_int_equal(sitr_e2e_request(s, method, path, headers, body, &r), 0);
    *status = r.status;
    json_t *j = r.body_len ? json_loads(r.body, 0, NULL) : NULL;
    sitr_e2e_resp_free(&r);
    return j;
}

/* POST /v1/match with one item (a JSON object's members); 1 matched, 0 not.
 * The answer must not carry the item's hashes. */
static int matched(sitr_e2e_server_t *s, const char *members, const char *hash)
{
    char body[512];
    snprintf(body, sizeof body, "{\"items\":[{%.300s}]}", members);
    int st;
    json_t *j = call(s, "POST", "/v1/match", body, &st);
    assert_int_equal(st, 200);
    char *text = json_dumps(j, 0);
    assert_null(strstr(text, hash));
    free(text);
    json_t *item = json_array_get(json_object_get(j, "items"), 0);
    int m = json_is_true(json_object_get(item, "matched"));
    json_decref(j);
    return m;
}

/* GET /m/lookup (HMA): 1 when the bank answers a match for the md5. */
static int hma_matched(sitr_e2e_server_t *s, const char *md5hex)
{
    char path[200];
    snprintf(path, sizeof path, "/m/lookup?signal=%s&signal_type=md5", md5hex);
    int st;
    json_t *j = call(s, "GET", path, NULL, &st);
    assert_int_equal(st, 200);
    int m = json_array_size(json_object_get(j, "SITR")) > 0;
    json_decref(j);
    return m;
}

typedef struct probe {
    char members[300];
    const char *hash;
} probe_t;

/* Polls until every probe gives want on s; returns the ms it took. */
static long long wait_all(sitr_e2e_server_t *s, const probe_t *p, int n, const char *md5hex,
                          int want, long long since)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        int ok = hma_matched(s, md5hex) == want;
        for (int i = 0; ok && i < n; i++)
            ok = matched(s, p[i].members, p[i].hash) == want;
        if (ok)
            return sitr_e2e_now_ms() - since;
        if (sitr_e2e_now_ms() > end)
            fail_msg("replica on port %d: imported hashes still %s", s->port,
                     want ? "unmatched" : "matched");
        sitr_e2e_sleep_ms(10);
    }
}

#define ATTACHED "sitr_replica_imports_published_total{how=\"attached\"}"
#define INLINE   "sitr_replica_imports_published_total{how=\"inline\"}"
#define DETACHED "sitr_replica_imports_withdrawn_total{how=\"detached\"}"
#define SCANNED  "sitr_replica_imports_withdrawn_total{how=\"scanned\"}"

/* Polls a metric until it reaches want (or the deadline); returns its last
 * value. */
static long long wait_metric(const sitr_e2e_server_t *s, const char *name, long long want)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS, v;
    while ((v = sitr_e2e_metric(s, name)) != want && sitr_e2e_now_ms() < end)
        sitr_e2e_sleep_ms(20);
    if (v != want)
        fprintf(stderr, "port %d: %s is %lld, not %lld (log: %s)\n", s->port, name, v, want,
                s->log_path);
    return v;
}

static long long takedowns(void)
{
    return pgt_scalar(url, "SELECT count(*) FROM takedowns t JOIN cases c ON c.id = t.case_id "
                           "WHERE c.source_id IS NOT NULL");
}

static void test_import_two_replicas(void **state)
{
    (void)state;
    for (int i = 0; i < LINES; i++) {
        rand_hex(pdq[i], 32);
        rand_hex(md5[i], 16);
        rand_hex(sha[i], 32);
    }
    /* An upload reported before the list exists: 5 bits from line 10. */
    char up[65], body[512];
    near(pdq[10], 5, up);
    snprintf(body, sizeof body,
             "{\"uploads\":[{\"id\":\"early\",\"url\":\"https://x.example/e\",\"pdq\":\"%s\","
             "\"quality\":80}]}",
             up);
    int st;
    json_t *j = call(&A, "POST", "/v1/uploads", body, &st);
    if (st < 200 || st >= 300) {
        char *text = j ? json_dumps(j, 0) : NULL;
        fail_msg("POST /v1/uploads: %d %s", st, text ? text : "");
    }
    json_decref(j);

    char path[64];
    snprintf(path, sizeof path, "/tmp/sitr-import-e2e-%d.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "pdq,quality,md5,sha256\n");
    for (int i = 0; i < LINES; i++)
        fprintf(f, "%s,90,%s,%s\n", pdq[i], md5[i], sha[i]);
    fclose(f);

    probe_t p[3];
    char q[65];
    near(pdq[0], 7, q);
    snprintf(p[0].members, sizeof p[0].members, "\"pdq\":\"%.64s\",\"quality\":80", q);
    p[0].hash = pdq[0];
    snprintf(p[1].members, sizeof p[1].members, "\"md5\":\"%s\"", md5[LINES / 2]);
    p[1].hash = md5[LINES / 2];
    snprintf(p[2].members, sizeof p[2].members, "\"sha256\":\"%s\"", sha[LINES - 1]);
    p[2].hash = sha[LINES - 1];
    assert_int_equal(matched(&A, p[0].members, p[0].hash), 0);
    assert_int_equal(matched(&B, p[1].members, p[1].hash), 0);

    assert_int_equal(pgt_run("'%s' --database-url '%s' import --source partner '%s' >/dev/null",
                             pgt_admin(), url, path),
                     0);
    long long t0 = sitr_e2e_now_ms();
    long long ta = wait_all(&A, p, 3, md5[1], 1, t0);
    long long tb = wait_all(&B, p, 3, md5[1], 1, t0);
    printf("import of %d lines: replica A matched %lld ms, replica B %lld ms after the import "
           "exited\n",
           LINES, ta, tb);
    /* Both were live, so sitr-admin waited for both: each attached the
     * import it had prepared. */
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM replicas WHERE ready "
                                     "AND seen_at > now() - interval '15 seconds'"),
                     2);
    assert_int_equal(wait_metric(&A, ATTACHED, 1), 1);
    assert_int_equal(wait_metric(&B, ATTACHED, 1), 1);
    assert_int_equal(sitr_e2e_metric(&A, INLINE), 0);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM imports WHERE published_at IS NULL"), 0);

    /* The matcher: one takedown for the early upload. */
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    while (takedowns() != 1) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("no takedown for the upload matching the import");
        sitr_e2e_sleep_ms(50);
    }

    /* One hash withdrawn: that image leaves both replicas, others stay. */
    assert_int_equal(pgt_run("'%s' --database-url '%s' source withdraw partner --hash %s "
                             ">/dev/null",
                             pgt_admin(), url, sha[LINES - 1]),
                     0);
    for (int i = 0; i < 2; i++) {
        sitr_e2e_server_t *s = i ? &B : &A;
        long long e = sitr_e2e_now_ms() + DEADLINE_MS;
        while (matched(s, p[2].members, p[2].hash)) {
            if (sitr_e2e_now_ms() > e)
                fail_msg("a withdrawn hash is still matched");
            sitr_e2e_sleep_ms(10);
        }
        /* The rest of the list is still matched. */
        assert_int_equal(matched(s, p[0].members, p[0].hash), 1);
        assert_int_equal(matched(s, p[1].members, p[1].hash), 1);
        assert_int_equal(hma_matched(s, md5[1]), 1);
    }

    /* The source withdrawn: nothing of it matches, the takedown is gone. */
    assert_int_equal(
        pgt_run("'%s' --database-url '%s' source withdraw partner >/dev/null", pgt_admin(), url),
        0);
    wait_all(&A, p, 2, md5[1], 0, 0);
    wait_all(&B, p, 2, md5[1], 0, 0);
    assert_int_equal(takedowns(), 0);
    /* Both had attached it: it left whole, without a scan. */
    assert_int_equal(wait_metric(&A, DETACHED, 1), 1);
    assert_int_equal(wait_metric(&B, DETACHED, 1), 1);
    assert_int_equal(sitr_e2e_metric(&A, SCANNED), 0);
    unlink(path);
}

/* The lines [0, n) of the arrays as a CSV list at path. */
static void write_list(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "pdq,quality,md5,sha256\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s,90,%s,%s\n", pdq[i], md5[i], sha[i]);
    assert_int_equal(fclose(f), 0);
}

/* Probes for lines 0 (a PDQ 6 bits away) and n - 1 (its MD5). */
static void list_probes(probe_t p[2], char q[65], int n)
{
    near(pdq[0], 6, q);
    snprintf(p[0].members, sizeof p[0].members, "\"pdq\":\"%.64s\",\"quality\":80", q);
    p[0].hash = pdq[0];
    snprintf(p[1].members, sizeof p[1].members, "\"md5\":\"%.32s\"", md5[n - 1]);
    p[1].hash = md5[n - 1];
}

static long long staged_of(const char *source)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM imports im JOIN sources s ON s.id = im.source_id "
             "WHERE s.name = '%s' AND im.published_at IS NULL",
             source);
    return pgt_scalar(url, sql);
}

static void wait_scalar(const char *sql, long long want)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS, v;
    while ((v = pgt_scalar(url, sql)) != want) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("%s: %lld, not %lld", sql, v, want);
        sitr_e2e_sleep_ms(20);
    }
}

static void test_import_phases(void **state)
{
    (void)state;
    enum { N = 100 };
    char path[64], done[64], q[65];
    probe_t p[2];
    snprintf(path, sizeof path, "/tmp/sitr-import-e2e-%d-b.csv", (int)getpid());
    snprintf(done, sizeof done, "/tmp/sitr-import-e2e-%d.done", (int)getpid());

    /* 1. B stopped through the whole import: sitr-admin waits --wait 3 s
     * for it, publishes; B reads the import inline when it resumes. */
    for (int i = 0; i < N; i++) {
        rand_hex(pdq[i], 32);
        rand_hex(md5[i], 16);
        rand_hex(sha[i], 32);
    }
    write_list(path, N);
    list_probes(p, q, N);
    sitr_e2e_signal(&B, SIGSTOP);
    int rc = pgt_run("'%s' --database-url '%s' import --source late --wait 3 '%s' >/dev/null",
                     pgt_admin(), url, path);
    sitr_e2e_signal(&B, SIGCONT);
    assert_int_equal(rc, 0);
    wait_all(&A, p, 2, md5[1], 1, 0);
    wait_all(&B, p, 2, md5[1], 1, 0);
    assert_int_equal(wait_metric(&A, ATTACHED, 2), 2);
    assert_int_equal(wait_metric(&B, INLINE, 1), 1);
    assert_int_equal(sitr_e2e_metric(&B, ATTACHED), 1);

    /* 2. A replica started while an import is staged (sitr-admin waits for
     * the stopped B) prepares it from staged_imports; nobody matches the
     * list before the publication; D attaches it when it comes. */
    char late_md5[33];
    memcpy(late_md5, md5[N - 1], sizeof late_md5);
    probe_t late[2];
    memcpy(late, p, sizeof late);
    char late_q[65];
    memcpy(late_q, q, sizeof late_q);
    for (int i = 0; i < N; i++) {
        rand_hex(pdq[i], 32);
        rand_hex(md5[i], 16);
        rand_hex(sha[i], 32);
    }
    write_list(path, N);
    list_probes(p, q, N);
    unlink(done);
    sitr_e2e_signal(&B, SIGSTOP);
    assert_int_equal(pgt_run("('%s' --database-url '%s' import --source early --wait 60 '%s' "
                             ">/dev/null 2>&1; echo $? >'%s') &",
                             pgt_admin(), url, path, done),
                     0);
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    while (staged_of("early") != 1) {
        if (sitr_e2e_now_ms() > end) {
            sitr_e2e_signal(&B, SIGCONT);
            fail_msg("the import was never staged");
        }
        sitr_e2e_sleep_ms(20);
    }
    assert_int_equal(sitr_e2e_start(&D, start_env), 0);
    assert_int_equal(sitr_e2e_wait_ready(&D, 30000), 0);
    wait_scalar("SELECT count(*) FROM import_prepared", 2); /* A and D */
    assert_int_equal(staged_of("early"), 1);
    assert_int_equal(matched(&A, p[0].members, p[0].hash), 0);
    assert_int_equal(matched(&D, p[1].members, p[1].hash), 0);
    sitr_e2e_signal(&B, SIGCONT);
    end = sitr_e2e_now_ms() + DEADLINE_MS;
    FILE *f;
    while (!(f = fopen(done, "r"))) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("sitr-admin import never ended");
        sitr_e2e_sleep_ms(50);
    }
    int code = -1;
    assert_int_equal(fscanf(f, "%d", &code), 1);
    fclose(f);
    unlink(done);
    assert_int_equal(code, 0);
    assert_int_equal(staged_of("early"), 0);
    wait_all(&A, p, 2, md5[1], 1, 0);
    wait_all(&B, p, 2, md5[1], 1, 0);
    wait_all(&D, p, 2, md5[1], 1, 0);
    assert_int_equal(wait_metric(&D, ATTACHED, 1), 1);
    assert_int_equal(wait_metric(&B, ATTACHED, 2), 2);
    assert_int_equal(wait_metric(&A, ATTACHED, 3), 3);

    /* 3. Withdrawals: A and B detach what they attached; C, started after
     * both publications, loaded them at start and scans; D attached
     * "early" and loaded "late". */
    assert_int_equal(sitr_e2e_start(&C, start_env), 0);
    assert_int_equal(sitr_e2e_wait_ready(&C, 30000), 0);
    wait_all(&C, late, 2, late_md5, 1, 0);
    assert_int_equal(
        pgt_run("'%s' --database-url '%s' source withdraw late >/dev/null", pgt_admin(), url), 0);
    sitr_e2e_server_t *all[4] = {&A, &B, &C, &D};
    for (int i = 0; i < 4; i++)
        wait_all(all[i], late, 2, late_md5, 0, 0);
    assert_int_equal(wait_metric(&A, DETACHED, 2), 2); /* "partner" was the first */
    assert_int_equal(wait_metric(&B, DETACHED, 2), 2);
    assert_int_equal(wait_metric(&C, SCANNED, 1), 1);
    assert_int_equal(wait_metric(&D, SCANNED, 1), 1);
    assert_int_equal(
        pgt_run("'%s' --database-url '%s' source withdraw early >/dev/null", pgt_admin(), url), 0);
    for (int i = 0; i < 4; i++)
        wait_all(all[i], p, 2, md5[1], 0, 0);
    assert_int_equal(wait_metric(&A, DETACHED, 3), 3);
    assert_int_equal(wait_metric(&B, DETACHED, 3), 3);
    assert_int_equal(wait_metric(&C, SCANNED, 2), 2);
    assert_int_equal(wait_metric(&D, DETACHED, 1), 1);
    unlink(path);
}

static int setup(void **state)
{
    (void)state;
    url = sitr_e2e_migrated_db("timpe2e");
    assert_non_null(url);
    setenv("SITR_DIGEST_KEY", DKEY, 1);
    assert_int_equal(sitr_e2e_admin_key(url, "platform add alpha", key, sizeof key, NULL, 0), 0);
    snprintf(dburl_env, sizeof dburl_env, "SITR_DATABASE_URL=%s", url);
    assert_int_equal(sitr_e2e_start(&A, start_env), 0);
    assert_int_equal(sitr_e2e_start(&B, start_env), 0);
    assert_int_equal(sitr_e2e_wait_ready(&A, 30000), 0);
    assert_int_equal(sitr_e2e_wait_ready(&B, 30000), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *never[] = {key, NULL};
    int rc = 0;
    if (A.pid > 0)
        rc |= sitr_e2e_stop_clean(&A, never);
    if (B.pid > 0) {
        sitr_e2e_signal(&B, SIGCONT); /* a failed test may leave it stopped */
        rc |= sitr_e2e_stop_clean(&B, never);
    }
    if (C.pid > 0)
        rc |= sitr_e2e_stop_clean(&C, never);
    if (D.pid > 0)
        rc |= sitr_e2e_stop_clean(&D, never);
    free(url);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_two_replicas),
        cmocka_unit_test(test_import_phases),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
