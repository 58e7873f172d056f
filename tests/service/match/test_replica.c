/* The replica against a real PostgreSQL (the `pg` fixture): the initial
 * bulk load, then following the change log (new cases, added images,
 * uploads reported, replaced and removed, withdrawal), including changes
 * written while the LISTEN connection was killed with
 * pg_terminate_backend.  Every check compares the indexes with what the
 * database says.  Writes go through the schema's SQL functions, exactly
 * as the API does.  Each test has its own loop and database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include <sitr/hex.h>

#include "db/db.h"
#include "match/replica.h"
#include "core/config.h"
#include "db_support.h"

/* Deterministic pseudo-random hex of n bytes. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static void rand_hex(char *out, size_t nbytes)
{
    uint8_t b[32];
    for (size_t i = 0; i < nbytes; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        b[i] = (uint8_t)rng;
    }
    sitr_hex_encode(b, nbytes, out);
    out[2 * nbytes] = 0;
}

typedef struct img {
    char pdq[65], var[3][65], md5[33], sha[65];
} img_t;

static void make_img(img_t *m)
{
    rand_hex(m->pdq, 32);
    for (int i = 0; i < 3; i++)
        rand_hex(m->var[i], 32);
    rand_hex(m->md5, 16);
    rand_hex(m->sha, 32);
}

static void pdq_bytes(const char *hex, sitr_pdq_t *out)
{
    assert_int_equal(sitr_hex_decode(hex, 64, out->b, 32), 0);
}

static char *migrated_db(void)
{
    char *url = pgt_create_db("trep");
    assert_int_equal(pgt_run("'%s' migrate --database-url '%s' --dir '%s' >/dev/null 2>&1",
                             pgt_admin(), url, SITR_SOURCE_DIR "/migrations"),
                     0);
    return url;
}

static long long create_case(const char *url, const img_t *m, int n)
{
    static int refno;
    char sql[8192];
    int off = snprintf(sql, sizeof sql,
                       "SELECT case_id FROM sitr_case_create('TESTREF%06d', "
                       "decode(repeat('ab', 32), 'hex'), '[",
                       refno++);
    for (int i = 0; i < n; i++)
        off += snprintf(sql + off, sizeof sql - (size_t)off,
                        "%s{\"pdq\":\"%s\",\"quality\":90,\"dihedral\":[\"%s\",\"%s\",\"%s\"],"
                        "\"md5\":\"%s\",\"sha256\":\"%s\"}",
                        i ? "," : "", m[i].pdq, m[i].var[0], m[i].var[1], m[i].var[2], m[i].md5,
                        m[i].sha);
    snprintf(sql + off, sizeof sql - (size_t)off, "]'::jsonb, NULL)");
    return pgt_scalar(url, sql);
}

static long long add_platform(const char *url, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO platforms (name, key_digest) VALUES ('%s', "
             "decode(md5('%s') || md5('%s!'), 'hex')) RETURNING id",
             name, name, name);
    return pgt_scalar(url, sql);
}

static long long report_upload(const char *url, long long platform, const char *content,
                               const img_t *m)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT upload_id FROM sitr_uploads_report(%lld, '[{\"id\":\"%s\",\"pdq\":\"%s\","
             "\"quality\":80,\"md5\":\"%s\",\"sha256\":\"%s\"}]'::jsonb)",
             platform, content, m->pdq, m->md5, m->sha);
    return pgt_scalar(url, sql);
}

/* ---- the loop side ---------------------------------------------------- */

typedef struct fixture {
    uv_loop_t loop;
    sitr_config_t cfg;
    sitr_db_t *db;
    sitr_replica_t *rep;
    uv_timer_t tick;
    int ready, closed;
    int64_t last_cb_seq;
    char *url;
} fixture_t;

static fixture_t *fx_ready_flag_owner;

static void on_ready(void *arg)
{
    (void)arg;
    fx_ready_flag_owner->ready++;
}

static void on_applied(int64_t seq, void *arg)
{
    fixture_t *f = arg;
    assert_true(seq >= f->last_cb_seq); /* never backwards */
    f->last_cb_seq = seq;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until cond(f) holds; fails after ~30 s instead of hanging. */
static void run_until(fixture_t *f, int (*cond)(fixture_t *f))
{
    for (int i = 0; i < 3000 && !cond(f); i++) {
        uv_timer_start(&f->tick, on_tick, 10, 0);
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(cond(f));
}

static int is_ready(fixture_t *f)
{
    return f->ready > 0;
}

static long long want_seq;
static int caught_up(fixture_t *f)
{
    return sitr_replica_applied_seq(f->rep) >= want_seq;
}

static void fx_start(fixture_t *f, const char *url)
{
    memset(f, 0, sizeof *f);
    f->url = (char *)url;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->cfg.database_url = (char *)url;
    sitr_db_options_t o = {
        .conninfo = url, .pool_size = 2, .max_queue = 64, .query_timeout_ms = 10000};
    sitr_err_t err;
    assert_int_equal(sitr_db_new(&f->loop, &o, &f->db, &err), 0);
    uv_timer_init(&f->loop, &f->tick);
    fx_ready_flag_owner = f;
    sitr_replica_opts_t ro = {
        .loop = &f->loop, .db = f->db, .database_url = f->cfg.database_url, .on_ready = on_ready};
    assert_int_equal(sitr_replica_start(&ro, &f->rep, &err), 0);
    sitr_replica_on_applied(f->rep, on_applied, f);
    run_until(f, is_ready);
    assert_true(sitr_replica_is_ready(f->rep));
}

static void on_rep_closed(void *arg)
{
    ((fixture_t *)arg)->closed++;
}
static void on_db_closed(void *arg)
{
    ((fixture_t *)arg)->closed++;
}

static void fx_stop(fixture_t *f)
{
    sitr_replica_close(f->rep, on_rep_closed, f);
    sitr_db_close(f->db, on_db_closed, f);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->closed, 2);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void catch_up(fixture_t *f)
{
    want_seq = pgt_scalar(f->url, "SELECT sitr_changes_head()");
    run_until(f, caught_up);
    assert_int_equal(sitr_replica_applied_seq(f->rep), want_seq);
}

/* ---- index probes ------------------------------------------------------- */

/* How many case PDQ entries of image_id are within 0 of hex, under that
 * variant number (-1: any of the variants 1..7, which the schema numbers in
 * its own order). */
static int case_pdq_has(fixture_t *f, const char *hex, long long image_id, int variant)
{
    sitr_pdq_t q;
    pdq_bytes(hex, &q);
    sitr_index_hit_t hits[64];
    size_t found = 0;
    assert_int_equal(
        sitr_index_search(sitr_replica_indexes(f->rep)->case_pdq, &q, 0, hits, 64, &found, NULL),
        0);
    int n = 0;
    for (size_t i = 0; i < found && i < 64; i++)
        if (variant >= 0 ? hits[i].id == SITR_REPLICA_CASE_PDQ_ID(image_id, variant)
                         : (SITR_REPLICA_IMAGE_OF(hits[i].id) == image_id && (hits[i].id & 7)))
            n++;
    return n;
}

static int upload_pdq_has(fixture_t *f, const char *hex, long long upload_id)
{
    sitr_pdq_t q;
    pdq_bytes(hex, &q);
    sitr_index_hit_t hits[64];
    size_t found = 0;
    assert_int_equal(
        sitr_index_search(sitr_replica_indexes(f->rep)->upload_pdq, &q, 0, hits, 64, &found, NULL),
        0);
    int n = 0;
    for (size_t i = 0; i < found && i < 64; i++)
        if (hits[i].id == (uint64_t)upload_id)
            n++;
    return n;
}

static int digest_has(sitr_digest_index_t *d, const char *hex, size_t nbytes, long long id)
{
    uint8_t key[32];
    assert_int_equal(sitr_hex_decode(hex, 2 * nbytes, key, nbytes), 0);
    uint64_t ids[16];
    size_t n = sitr_digest_index_lookup(d, key, ids, 16);
    int c = 0;
    for (size_t i = 0; i < n && i < 16; i++)
        if (ids[i] == (uint64_t)id)
            c++;
    return c;
}

/* 1 if every hash of image (id) is indexed, 0 if none is; fails if mixed. */
static int image_indexed(fixture_t *f, const img_t *m, long long id)
{
    const sitr_replica_indexes_t *ix = sitr_replica_indexes(f->rep);
    int n = case_pdq_has(f, m->pdq, id, 0) + digest_has(ix->case_md5, m->md5, 16, id) +
            digest_has(ix->case_sha256, m->sha, 32, id);
    for (int v = 0; v < 3; v++)
        n += case_pdq_has(f, m->var[v], id, -1);
    assert_true(n == 0 || n == 6);
    return n == 6;
}

static int upload_indexed(fixture_t *f, const img_t *m, long long id)
{
    const sitr_replica_indexes_t *ix = sitr_replica_indexes(f->rep);
    int n = upload_pdq_has(f, m->pdq, id) + digest_has(ix->upload_md5, m->md5, 16, id) +
            digest_has(ix->upload_sha256, m->sha, 32, id);
    assert_true(n == 0 || n == 3);
    return n == 3;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_load_then_follow(void **state)
{
    (void)state;
    char *url = migrated_db();
    long long plat = add_platform(url, "alpha");
    img_t a[3], u[4];
    for (int i = 0; i < 3; i++)
        make_img(&a[i]);
    for (int i = 0; i < 4; i++)
        make_img(&u[i]);
    long long case1 = create_case(url, a, 2);
    long long img_a0 = pgt_scalar(url, "SELECT min(id) FROM case_images");
    long long img_a1 = img_a0 + 1;
    long long up0 = report_upload(url, plat, "c0", &u[0]);
    long long up1 = report_upload(url, plat, "c1", &u[1]);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM case_images WHERE case_id = 1"), 2);
    (void)case1;

    fixture_t f;
    fx_start(&f, url);
    assert_int_equal(sitr_replica_applied_seq(f.rep),
                     pgt_scalar(url, "SELECT sitr_changes_head()"));
    const sitr_replica_indexes_t *ix = sitr_replica_indexes(f.rep);
    assert_int_equal(sitr_index_size(ix->case_pdq), 8);
    assert_int_equal(sitr_index_size(ix->upload_pdq), 2);
    assert_true(image_indexed(&f, &a[0], img_a0));
    assert_true(image_indexed(&f, &a[1], img_a1));
    assert_true(upload_indexed(&f, &u[0], up0));
    assert_true(upload_indexed(&f, &u[1], up1));

    /* Follow: a new case, a new upload, a replaced upload, a removed one. */
    long long case2 = create_case(url, &a[2], 1);
    long long img_a2 = pgt_scalar(url, "SELECT max(id) FROM case_images");
    long long up2 = report_upload(url, plat, "c2", &u[2]);
    assert_int_equal(report_upload(url, plat, "c0", &u[3]), up0); /* new hashes for c0 */
    char rm[96];
    snprintf(rm, sizeof rm, "SELECT sitr_upload_remove(%lld, 'c1')", plat);
    PQclear(pgt_exec(url, rm));
    catch_up(&f);
    assert_true(image_indexed(&f, &a[2], img_a2));
    assert_true(upload_indexed(&f, &u[2], up2));
    assert_false(upload_indexed(&f, &u[0], up0)); /* the old hashes are gone */
    assert_true(upload_indexed(&f, &u[3], up0));
    assert_false(upload_indexed(&f, &u[1], up1));
    assert_int_equal(sitr_index_size(ix->case_pdq), 12);
    assert_int_equal(sitr_index_size(ix->upload_pdq), 2);

    /* Withdrawal of the first case: both images leave every index. */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT sitr_case_withdraw(%lld)::int", 1LL);
    assert_int_equal(pgt_scalar(url, sql), 1);
    catch_up(&f);
    assert_false(image_indexed(&f, &a[0], img_a0));
    assert_false(image_indexed(&f, &a[1], img_a1));
    assert_true(image_indexed(&f, &a[2], img_a2));
    assert_int_equal(sitr_index_size(ix->case_pdq), 4);
    assert_int_equal(sitr_digest_index_size(ix->case_md5), 1);
    assert_int_equal(f.last_cb_seq, sitr_replica_applied_seq(f.rep));
    (void)case2;

    /* A second replica loading now sees the same state. */
    fx_stop(&f);
    fixture_t g;
    fx_start(&g, url);
    assert_false(image_indexed(&g, &a[0], img_a0));
    assert_true(image_indexed(&g, &a[2], img_a2));
    assert_true(upload_indexed(&g, &u[3], up0));
    assert_false(upload_indexed(&g, &u[1], up1));
    assert_int_equal(sitr_index_size(sitr_replica_indexes(g.rep)->case_pdq), 4);
    fx_stop(&g);
    free(url);
}

static const char *listen_url;
static int listener_up(fixture_t *f)
{
    (void)f;
    return pgt_scalar(listen_url, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                  "current_database() AND query ILIKE 'LISTEN%'") == 1;
}

static void test_listen_connection_killed(void **state)
{
    (void)state;
    char *url = migrated_db();
    long long plat = add_platform(url, "beta");
    fixture_t f;
    fx_start(&f, url);
    assert_int_equal(sitr_replica_applied_seq(f.rep), 0);

    enum { ROUNDS = 4, PER = 25 };
    img_t u[ROUNDS * PER];
    long long ids[ROUNDS * PER];
    for (int r = 0; r < ROUNDS; r++) {
        /* Kill the listener, then write while it reconnects: the writes'
         * notifications are lost; nothing else may be. */
        listen_url = url;
        run_until(&f, listener_up);
        PGresult *res =
            pgt_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND query ILIKE 'LISTEN%'");
        assert_int_equal(PQntuples(res), 1);
        PQclear(res);
        for (int i = 0; i < PER; i++) {
            char cid[32];
            snprintf(cid, sizeof cid, "k%d", r * PER + i);
            make_img(&u[r * PER + i]);
            ids[r * PER + i] = report_upload(url, plat, cid, &u[r * PER + i]);
        }
        catch_up(&f);
    }
    for (int i = 0; i < ROUNDS * PER; i++)
        assert_true(upload_indexed(&f, &u[i], ids[i]));
    assert_int_equal(sitr_index_size(sitr_replica_indexes(f.rep)->upload_pdq), ROUNDS * PER);
    fx_stop(&f);
    free(url);
}

/* A load big enough for the two-connection split (>= 64 heap blocks of
 * uploads), some removed, some without a PDQ: every live upload is in the
 * indexes exactly once, nothing else is, and a removal followed after the
 * load finds it (the present bits were set from the staged ids). */
static void test_split_load(void **state)
{
    (void)state;
    char *url = migrated_db();
    long long plat = add_platform(url, "bulk");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO uploads (platform_id, content_id, pdq, quality, md5, sha256, removed_at) "
             "SELECT %lld, 'b' || i, "
             "CASE WHEN i %% 7 = 0 OR i %% 11 = 0 THEN NULL "
             "ELSE decode(md5(i::text) || md5((i + 1000000007)::text), 'hex') END, "
             "CASE WHEN i %% 7 = 0 OR i %% 11 = 0 THEN NULL ELSE 60 END, "
             "CASE WHEN i %% 7 = 0 THEN NULL ELSE decode(md5((i + 3)::text), 'hex') END, "
             "CASE WHEN i %% 7 = 0 THEN NULL ELSE sha256(int8send(i)) END, "
             "CASE WHEN i %% 7 = 0 THEN now() END "
             "FROM generate_series(1, 6000) AS i",
             plat);
    PQclear(pgt_exec(url, sql));
    assert_true(pgt_scalar(url, "SELECT pg_relation_size('uploads') / 8192") >= 64);
    long long live = pgt_scalar(url, "SELECT count(*) FROM uploads WHERE removed_at IS NULL");
    long long with_pdq = pgt_scalar(url, "SELECT count(*) FROM uploads WHERE pdq IS NOT NULL");

    fixture_t f;
    fx_start(&f, url);
    sitr_replica_load_stats_t ls;
    sitr_replica_load_stats(f.rep, &ls);
    assert_int_equal(ls.connections, 2);
    const sitr_replica_indexes_t *ix = sitr_replica_indexes(f.rep);
    assert_int_equal(sitr_index_size(ix->upload_pdq), with_pdq);
    assert_int_equal(sitr_digest_index_size(ix->upload_md5), live);
    assert_int_equal(sitr_digest_index_size(ix->upload_sha256), live);
    PGresult *res = pgt_exec(url, "SELECT id, encode(pdq, 'hex'), encode(md5, 'hex'), "
                                  "encode(sha256, 'hex') FROM uploads WHERE removed_at IS NULL");
    assert_int_equal(PQntuples(res), live);
    for (int i = 0; i < PQntuples(res); i++) {
        long long id = atoll(PQgetvalue(res, i, 0));
        if (!PQgetisnull(res, i, 1))
            assert_int_equal(upload_pdq_has(&f, PQgetvalue(res, i, 1), id), 1);
        assert_int_equal(digest_has(ix->upload_md5, PQgetvalue(res, i, 2), 16, id), 1);
        assert_int_equal(digest_has(ix->upload_sha256, PQgetvalue(res, i, 3), 32, id), 1);
    }
    PQclear(res);

    snprintf(sql, sizeof sql, "SELECT sitr_upload_remove(%lld, 'b5')", plat);
    PQclear(pgt_exec(url, sql));
    catch_up(&f);
    assert_int_equal(sitr_index_size(ix->upload_pdq), with_pdq - 1);
    assert_int_equal(sitr_digest_index_size(ix->upload_md5), live - 1);
    assert_int_equal(sitr_digest_index_size(ix->upload_sha256), live - 1);
    fx_stop(&f);
    free(url);
}

/* ---- digest bulk build (no database) ------------------------------------ */

static uint64_t drng = 88172645463325252ULL;
static uint64_t dnext(void)
{
    drng ^= drng << 13, drng ^= drng >> 7, drng ^= drng << 17;
    return drng;
}

/* Bulk-builds n pairs given in two parts (one key shared by many ids, some
 * keys repeated under other ids, some pairs given twice), then compares every
 * lookup with the model, before and after removals and inserts (which must
 * keep working on a bulk-built table, wrap-around runs included). */
static void check_bulk(size_t n, size_t key_len)
{
    uint8_t *keys = malloc(n * key_len + 1);
    uint64_t *ids = malloc(n * sizeof *ids + 1);
    uint8_t *live = calloc(n + 1, 1);
    assert_true(keys && ids && live);
    for (size_t i = 0; i < n; i++) {
        for (size_t b = 0; b < key_len; b++)
            keys[i * key_len + b] = (uint8_t)dnext();
        ids[i] = i;
        if (i % 10 == 3) /* same key, another id */
            memcpy(keys + i * key_len, keys + (i - 1) * key_len, key_len);
        if (i % 13 == 5) { /* the same pair again */
            memcpy(keys + i * key_len, keys + (i - 1) * key_len, key_len);
            ids[i] = ids[i - 1];
        }
        if (i % 50 == 7) /* one popular digest (a large home group) */
            memset(keys + i * key_len, 0xab, key_len);
        live[i] = 1;
    }
    /* live[i] = 1 for the first occurrence of each pair only. */
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 13 == 5 && ids[i] == ids[i - 1] &&
            memcmp(keys + i * key_len, keys + (i - 1) * key_len, key_len) == 0)
            live[i] = 0;
        distinct += live[i];
    }
    sitr_digest_index_t *d = sitr_digest_index_new(key_len);
    assert_non_null(d);
    uint8_t junk[32] = {1};
    assert_int_equal(sitr_digest_index_insert(d, junk, 99999999), 1); /* replaced by the build */
    size_t half = n / 2;
    sitr_digest_part_t parts[2] = {{keys, ids, half},
                                   {keys + half * key_len, ids + half, n - half}};
    assert_int_equal(sitr_digest_index_bulk_build(d, parts, 2), 0);
    assert_int_equal(sitr_digest_index_size(d), distinct);
    uint64_t out[1024];
    assert_int_equal(sitr_digest_index_lookup(d, junk, out, 1), 0);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < n; i++) {
            const uint8_t *k = keys + i * key_len;
            size_t want = 0, have = 0;
            for (size_t j = 0; j < n; j++)
                if (live[j] && memcmp(keys + j * key_len, k, key_len) == 0)
                    want++;
            size_t got = sitr_digest_index_lookup(d, k, out, 1024);
            assert_int_equal(got, want);
            for (size_t x = 0; x < got && x < 1024; x++)
                if (out[x] == ids[i])
                    have++;
            int pair_live = 0;
            for (size_t j = 0; j < n; j++)
                if (live[j] && ids[j] == ids[i] && memcmp(keys + j * key_len, k, key_len) == 0)
                    pair_live = 1;
            assert_int_equal(have, pair_live);
            if (i > 64 && i % 97 == 0)
                i += 37; /* the quadratic model: sample the large sizes */
        }
        if (round == 1)
            break;
        /* Remove a third, re-insert some of them. */
        for (size_t i = 0; i < n; i += 3)
            if (live[i]) {
                assert_int_equal(sitr_digest_index_remove(d, keys + i * key_len, ids[i]), 1);
                live[i] = 0;
            }
        for (size_t i = 0; i < n; i += 9)
            if (!(i % 13 == 5 && ids[i] == ids[i - 1])) {
                assert_int_equal(sitr_digest_index_insert(d, keys + i * key_len, ids[i]), 1);
                live[i] = 1;
            }
    }
    sitr_digest_index_free(d);
    free(keys);
    free(ids);
    free(live);
}

static void test_digest_bulk(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 44, 45, 100, 2867, 2868, 5000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        check_bulk(sizes[s], SITR_DIGEST_MD5_BYTES);
        check_bulk(sizes[s], SITR_DIGEST_SHA256_BYTES);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_bulk),
        cmocka_unit_test(test_split_load),
        cmocka_unit_test(test_load_then_follow),
        cmocka_unit_test(test_listen_connection_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
