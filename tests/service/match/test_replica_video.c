/* Videos in the replica and the matcher, against a real PostgreSQL (the
 * `pg` fixture).  Case videos and video uploads are written through the
 * schema's SQL functions with frames packed by match/vpack (as the API
 * does); their frames are generated sequences (a random walk of PDQ
 * hashes at 5 frames a second for case videos, excerpts at 1 frame a
 * second with noise for uploads).
 *
 *  - load and follow: every stored frame hash and variant is in the right
 *    index under its frame id (vid.h), the catalogues and digest tables
 *    agree with the database, after the initial load and after following
 *    case_video_added, upload_added (new, replaced), upload_removed and a
 *    withdrawal (case_video_removed); a second replica loading afterwards
 *    sees the same;
 *  - the matcher: a video upload that is an excerpt of a case video becomes
 *    a takedown with signal vpdq_excerpt, coverage and run_seconds; an
 *    image upload equal to a case video frame becomes a video_frame match
 *    of that video; a case image contained in a video upload, found from
 *    the case side, a video_frame match of the image; a replay changes
 *    nothing; withdrawal erases the case video's frames and digests (row
 *    check). */
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

#include "core/config.h"
#include "db/db.h"
#include "db_support.h"
#include "jobs/matcher.h"
#include "match/replica.h"
#include "match/vcat.h"
#include "match/vframes.h"
#include "match/vid.h"
#include "match/vpack.h"

static uint64_t rng = 0x0123456789abcdefULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static void random_pdq(sitr_pdq_t *h)
{
    for (int i = 0; i < 32; i++)
        h->b[i] = (uint8_t)rnd();
}

static sitr_pdq_t near(const sitr_pdq_t *h, int bits)
{
    sitr_pdq_t o = *h;
    for (int i = 0; i < bits; i++) {
        unsigned b = (unsigned)(rnd() % 256);
        o.b[b / 8] ^= (uint8_t)(1u << (b % 8));
    }
    return o;
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    sitr_hex_encode(b, n, out);
}

#define CASE_FRAMES 300 /* 60 s at 5 fps */

typedef struct video {
    sitr_vframe_in_t f[CASE_FRAMES];
    size_t n;
    char md5[33], sha[65];
    char *hex; /* packed */
} video_t;

/* A case video: a random walk, each frame within a few bits of the last. */
static void make_case_video(video_t *v, size_t n)
{
    free(v->hex);
    v->hex = NULL;
    sitr_pdq_t cur;
    random_pdq(&cur);
    memset(v->f, 0, sizeof v->f);
    for (size_t i = 0; i < n; i++) {
        cur = near(&cur, 8);
        v->f[i].n = (uint32_t)i * 6;
        v->f[i].t = (double)i * 0.2;
        v->f[i].pdq = cur;
        v->f[i].quality = i % 50 == 7 ? 20 : 90; /* a few dropped */
        v->f[i].has_dihedral = 1;
        v->f[i].dihedral[0] = cur;
        for (int d = 1; d < 8; d++)
            random_pdq(&v->f[i].dihedral[d]);
        if (i % 10 == 3) {
            v->f[i].has_trimmed = 1;
            random_pdq(&v->f[i].trimmed);
            v->f[i].trimmed_quality = 70;
        }
    }
    v->n = n;
    uint8_t d[32];
    for (int i = 0; i < 32; i++)
        d[i] = (uint8_t)rnd();
    hex_of(d, 16, v->md5);
    hex_of(d, 32, v->sha);
    size_t kept;
    assert_int_equal(
        sitr_vpack_hex(v->f, n, SITR_VPACK_CASE, SITR_VPACK_VARIANTS_DEFAULT, &v->hex, &kept, NULL),
        0);
}

/* An upload: seconds [from, from + len) of a case video at 1 fps, with
 * noise; frame 0 may be replaced by a given hash. */
static void make_excerpt(video_t *u, const video_t *c, size_t from_s, size_t len_s,
                         const sitr_pdq_t *first)
{
    free(u->hex);
    u->hex = NULL;
    memset(u->f, 0, sizeof u->f);
    u->n = 0;
    for (size_t s = 0; s < len_s; s++) {
        size_t k = (from_s + s) * 5;
        sitr_vframe_in_t *f = &u->f[u->n++];
        f->n = (uint32_t)s * 30;
        f->t = (double)s;
        f->pdq = near(&c->f[k].pdq, 6);
        f->quality = 80;
    }
    if (first)
        u->f[0].pdq = *first;
    uint8_t d[32];
    for (int i = 0; i < 32; i++)
        d[i] = (uint8_t)rnd();
    hex_of(d, 16, u->md5);
    hex_of(d, 32, u->sha);
    size_t kept;
    assert_int_equal(sitr_vpack_hex(u->f, u->n, SITR_VPACK_UPLOAD, 0, &u->hex, &kept, NULL), 0);
}

static char *migrated_db(void)
{
    char *url = pgt_create_db("trepv");
    assert_int_equal(pgt_run("'%s' migrate --database-url '%s' --dir '%s' >/dev/null 2>&1",
                             pgt_admin(), url, SITR_SOURCE_DIR "/migrations"),
                     0);
    return url;
}

static char *sqlbuf(size_t n)
{
    char *s = malloc(n);
    assert_non_null(s);
    return s;
}

/* A case with the given videos and, when img_hex is set, one image. */
static long long create_case(const char *url, video_t *const *v, int n, const char *img_hex)
{
    static int refno;
    size_t cap = 4096;
    for (int i = 0; i < n; i++)
        cap += strlen(v[i]->hex) + 256;
    char *sql = sqlbuf(cap);
    int off = snprintf(sql, cap,
                       "SELECT case_id FROM sitr_case_create('VIDREF%06d', "
                       "decode(repeat('ab', 32), 'hex'), '[",
                       refno++);
    if (img_hex)
        off += snprintf(sql + off, cap - (size_t)off, "{\"pdq\":\"%s\",\"quality\":90}", img_hex);
    off += snprintf(sql + off, cap - (size_t)off, "]'::jsonb, '[");
    for (int i = 0; i < n; i++)
        off += snprintf(sql + off, cap - (size_t)off,
                        "%s{\"md5\":\"%s\",\"sha256\":\"%s\",\"duration\":%.1f,\"frames\":\"%s\"}",
                        i ? "," : "", v[i]->md5, v[i]->sha, v[i]->n * 0.2, v[i]->hex);
    snprintf(sql + off, cap - (size_t)off, "]'::jsonb, NULL, NULL)");
    long long id = pgt_scalar(url, sql);
    free(sql);
    return id;
}

static void add_video(const char *url, long long case_id, const video_t *v)
{
    size_t cap = strlen(v->hex) + 1024;
    char *sql = sqlbuf(cap);
    snprintf(sql, cap,
             "SELECT videos_added FROM sitr_case_add(%lld, '[]'::jsonb, '[{\"md5\":\"%s\","
             "\"sha256\":\"%s\",\"frames\":\"%s\"}]'::jsonb, NULL, NULL)",
             case_id, v->md5, v->sha, v->hex);
    assert_int_equal(pgt_scalar(url, sql), 1);
    free(sql);
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

static long long report_video(const char *url, long long plat, const char *content,
                              const video_t *u)
{
    size_t cap = strlen(u->hex) + 1024;
    char *sql = sqlbuf(cap);
    snprintf(sql, cap,
             "SELECT upload_id FROM sitr_uploads_report(%lld, '[{\"id\":\"%s\",\"frames\":\"%s\","
             "\"duration\":%zu,\"md5\":\"%s\",\"sha256\":\"%s\"}]'::jsonb)",
             plat, content, u->hex, u->n, u->md5, u->sha);
    long long id = pgt_scalar(url, sql);
    free(sql);
    return id;
}

static long long report_image(const char *url, long long plat, const char *content,
                              const sitr_pdq_t *h)
{
    char hex[65], sql[512];
    hex_of(h->b, 32, hex);
    snprintf(sql, sizeof sql,
             "SELECT upload_id FROM sitr_uploads_report(%lld, '[{\"id\":\"%s\",\"pdq\":\"%s\","
             "\"quality\":80}]'::jsonb)",
             plat, content, hex);
    return pgt_scalar(url, sql);
}

/* ---- the loop side ---------------------------------------------------- */

typedef struct fixture {
    uv_loop_t loop;
    sitr_db_t *db;
    sitr_replica_t *rep;
    sitr_matcher_t *matcher;
    uv_timer_t tick;
    int ready, closed;
    char *url;
} fixture_t;

static fixture_t *current;

static void on_ready(void *arg)
{
    (void)arg;
    current->ready++;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

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

static int matched_up(fixture_t *f)
{
    return sitr_matcher_last_seq(f->matcher) >= want_seq;
}

static void fx_start(fixture_t *f, const char *url, int with_matcher)
{
    memset(f, 0, sizeof *f);
    f->url = (char *)url;
    current = f;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    sitr_db_options_t o = {
        .conninfo = url, .pool_size = 2, .max_queue = 64, .query_timeout_ms = 10000};
    sitr_err_t err;
    assert_int_equal(sitr_db_new(&f->loop, &o, &f->db, &err), 0);
    uv_timer_init(&f->loop, &f->tick);
    sitr_replica_opts_t ro = {
        .loop = &f->loop, .db = f->db, .database_url = url, .on_ready = on_ready};
    assert_int_equal(sitr_replica_start(&ro, &f->rep, &err), 0);
    run_until(f, is_ready);
    if (with_matcher) {
        sitr_matcher_options_t mo = {.conninfo = url, .threshold = 31};
        assert_int_equal(sitr_matcher_start(&f->loop, f->rep, &mo, &f->matcher, &err), 0);
    }
}

static void on_closed(void *arg)
{
    ((fixture_t *)arg)->closed++;
}

static void fx_stop(fixture_t *f)
{
    int want = 2;
    if (f->matcher) {
        sitr_matcher_close(f->matcher, on_closed, f);
        want++;
    }
    sitr_replica_close(f->rep, on_closed, f);
    sitr_db_close(f->db, on_closed, f);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->closed, want);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void catch_up(fixture_t *f)
{
    want_seq = pgt_scalar(f->url, "SELECT sitr_changes_head()");
    run_until(f, caught_up);
    if (f->matcher)
        run_until(f, matched_up);
}

/* ---- probes ---------------------------------------------------------------- */

/* Entries of idx exactly equal to h whose id is `id`. */
static int has_entry(sitr_index_t *idx, const sitr_pdq_t *h, uint64_t id)
{
    sitr_index_hit_t hits[256];
    size_t found = 0;
    assert_int_equal(sitr_index_search(idx, h, 0, hits, 256, &found, NULL), 0);
    int n = 0;
    for (size_t i = 0; i < found && i < 256; i++)
        n += hits[i].id == id;
    return n;
}

static int digest_has(sitr_digest_index_t *d, const char *hex, size_t nbytes, uint64_t id)
{
    uint8_t key[32];
    assert_int_equal(sitr_hex_decode(hex, 2 * nbytes, key, nbytes), 0);
    uint64_t ids[16];
    size_t n = sitr_digest_index_lookup(d, key, ids, 16);
    int c = 0;
    for (size_t i = 0; i < n && i < 16; i++)
        c += ids[i] == id;
    return c;
}

/* Checks that video `id` is in (present 1) or absent from (0) the index,
 * catalogue and digest tables of one side with exactly the frames of v
 * under the policy; REPLACED: v's entries and digests are gone but id has
 * other frames now.  Returns the number of index entries checked. */
#define REPLACED 2
static size_t video_indexed(fixture_t *f, const video_t *v, long long id, int case_side,
                            int present_arg)
{
    int present = present_arg == 1;
    const sitr_replica_indexes_t *ix = sitr_replica_indexes(f->rep);
    sitr_index_t *idx = case_side ? ix->case_pdq : ix->upload_pdq;
    sitr_vcat_t *cat = case_side ? ix->case_videos : ix->upload_videos;
    uint64_t did = case_side ? sitr_vid_digest(id) : (uint64_t)id;
    size_t entries = 0;
    uint32_t slot = 0;
    for (size_t i = 0; i < v->n; i++) {
        const sitr_vframe_in_t *x = &v->f[i];
        if (x->quality < 50)
            continue;
        entries++;
        assert_int_equal(has_entry(idx, &x->pdq, sitr_vid_frame(id, slot, 0)), present);
        if (case_side && x->has_dihedral) {
            entries++;
            assert_int_equal(has_entry(idx, &x->dihedral[SITR_PDQ_FLIPY],
                                       sitr_vid_frame(id, slot, SITR_PDQ_FLIPY)),
                             present);
            /* Not stored: the other variants. */
            assert_int_equal(has_entry(idx, &x->dihedral[SITR_PDQ_ROT90],
                                       sitr_vid_frame(id, slot, SITR_PDQ_ROT90)),
                             0);
        }
        if (case_side && x->has_trimmed && x->trimmed_quality >= 50) {
            entries++;
            assert_int_equal(has_entry(idx, &x->trimmed, sitr_vid_frame(id, slot, 8)), present);
        }
        slot++;
    }
    const sitr_vcat_video_t *cv = sitr_vcat_get(cat, id);
    if (present) {
        assert_non_null(cv);
        assert_int_equal(cv->nslots, slot);
        assert_true(case_side ? cv->frames == NULL : cv->frames != NULL);
        sitr_vcat_release(cv);
    } else if (present_arg == 0) {
        assert_null(cv);
    } else {
        sitr_vcat_release(cv);
    }
    assert_int_equal(digest_has(case_side ? ix->case_md5 : ix->upload_md5, v->md5, 16, did),
                     present);
    assert_int_equal(digest_has(case_side ? ix->case_sha256 : ix->upload_sha256, v->sha, 32, did),
                     present);
    return entries;
}

/* ---- tests ----------------------------------------------------------------- */

static video_t cv[3], uv_[4];

static void test_load_and_follow(void **state)
{
    (void)state;
    char *url = migrated_db();
    long long plat = add_platform(url, "vids");
    for (int i = 0; i < 3; i++)
        make_case_video(&cv[i], CASE_FRAMES - (size_t)i * 40);
    make_excerpt(&uv_[0], &cv[0], 10, 20, NULL);
    make_excerpt(&uv_[1], &cv[1], 0, 12, NULL);
    make_excerpt(&uv_[2], &cv[2], 5, 8, NULL);
    make_excerpt(&uv_[3], &cv[0], 30, 9, NULL);
    video_t *first[2] = {&cv[0], &cv[1]};
    long long case1 = create_case(url, first, 2, NULL);
    long long v0 = pgt_scalar(url, "SELECT min(id) FROM case_videos");
    long long v1 = v0 + 1;
    long long u0 = report_video(url, plat, "v0", &uv_[0]);

    fixture_t f;
    fx_start(&f, url, 0);
    const sitr_replica_indexes_t *ix = sitr_replica_indexes(f.rep);
    size_t e = video_indexed(&f, &cv[0], v0, 1, 1) + video_indexed(&f, &cv[1], v1, 1, 1);
    assert_int_equal(sitr_index_size(ix->case_pdq), e);
    assert_int_equal(sitr_vcat_size(ix->case_videos), 2);
    assert_int_equal(video_indexed(&f, &uv_[0], u0, 0, 1), sitr_index_size(ix->upload_pdq));
    assert_int_equal(sitr_vcat_size(ix->upload_videos), 1);
    /* The duration stored with the case video is the catalogue's. */
    const sitr_vcat_video_t *c0 = sitr_vcat_get(ix->case_videos, v0);
    assert_true(c0->duration > CASE_FRAMES * 0.2 - 0.01 && c0->duration < CASE_FRAMES * 0.2 + 0.01);
    sitr_vcat_release(c0);

    /* Follow: a video added to the case, new uploads, one replaced, one
     * removed. */
    add_video(url, case1, &cv[2]);
    long long v2 = pgt_scalar(url, "SELECT max(id) FROM case_videos");
    long long u1 = report_video(url, plat, "v1", &uv_[1]);
    long long u2 = report_video(url, plat, "v2", &uv_[2]);
    assert_int_equal(report_video(url, plat, "v0", &uv_[3]), u0); /* new frames for v0 */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT sitr_upload_remove(%lld, 'v2')", plat);
    PQclear(pgt_exec(url, sql));
    catch_up(&f);
    video_indexed(&f, &cv[2], v2, 1, 1);
    video_indexed(&f, &uv_[1], u1, 0, 1);
    video_indexed(&f, &uv_[2], u2, 0, 0);
    video_indexed(&f, &uv_[0], u0, 0, REPLACED);
    size_t ue = video_indexed(&f, &uv_[3], u0, 0, 1) + video_indexed(&f, &uv_[1], u1, 0, 1);
    assert_int_equal(sitr_index_size(ix->upload_pdq), ue);
    assert_int_equal(sitr_vcat_size(ix->upload_videos), 2);

    /* Withdrawal: every frame, variant, digest and catalogue entry goes. */
    snprintf(sql, sizeof sql, "SELECT sitr_case_withdraw(%lld)::int", case1);
    assert_int_equal(pgt_scalar(url, sql), 1);
    catch_up(&f);
    video_indexed(&f, &cv[0], v0, 1, 0);
    video_indexed(&f, &cv[1], v1, 1, 0);
    video_indexed(&f, &cv[2], v2, 1, 0);
    assert_int_equal(sitr_index_size(ix->case_pdq), 0);
    assert_int_equal(sitr_vcat_size(ix->case_videos), 0);
    assert_int_equal(sitr_digest_index_size(ix->case_md5), 0);
    fx_stop(&f);

    /* A second replica loading now sees the same. */
    fixture_t g;
    fx_start(&g, url, 0);
    ix = sitr_replica_indexes(g.rep);
    assert_int_equal(sitr_index_size(ix->case_pdq), 0);
    assert_int_equal(sitr_vcat_size(ix->case_videos), 0);
    video_indexed(&g, &uv_[3], u0, 0, 1);
    video_indexed(&g, &uv_[1], u1, 0, 1);
    assert_int_equal(sitr_vcat_size(ix->upload_videos), 2);
    fx_stop(&g);
    free(url);
}

static void test_matcher(void **state)
{
    (void)state;
    char *url = migrated_db();
    long long plat = add_platform(url, "tube");
    video_t *c = &cv[0];
    make_case_video(c, CASE_FRAMES);
    /* A case image that a later video upload contains. */
    sitr_pdq_t img;
    random_pdq(&img);
    char img_hex[65];
    hex_of(img.b, 32, img_hex);

    fixture_t f;
    fx_start(&f, url, 1);
    video_t *vs[1] = {c};
    long long case_id = create_case(url, vs, 1, img_hex);
    long long vid = pgt_scalar(url, "SELECT max(id) FROM case_videos");
    long long image_id = pgt_scalar(url, "SELECT max(id) FROM case_images");
    catch_up(&f);

    /* An excerpt (20 s of 60) reported after the case: found from the
     * upload side. */
    make_excerpt(&uv_[0], c, 20, 20, NULL);
    long long u0 = report_video(url, plat, "clip", &uv_[0]);
    /* A screenshot: an image upload equal to a case frame (slot 100). */
    long long u1 = report_image(url, plat, "shot", &c->f[101].pdq);
    /* An unrelated video. */
    static video_t other;
    make_case_video(&other, 60);
    make_excerpt(&uv_[1], &other, 0, 10, NULL);
    report_video(url, plat, "other", &uv_[1]);
    catch_up(&f);

    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM takedowns t JOIN matches m ON m.upload_id = t.upload_id "
             "WHERE t.upload_id = %lld AND t.case_id = %lld AND t.signal = 'vpdq_excerpt' "
             "AND m.case_video_id = %lld AND m.signal = 'vpdq_excerpt' AND m.distance <= 6 "
             "AND m.coverage BETWEEN 0.30 AND 0.60 AND m.run_seconds BETWEEN 19 AND 21 "
             "AND t.coverage = m.coverage AND t.run_seconds = m.run_seconds",
             u0, case_id, vid);
    assert_int_equal(pgt_scalar(url, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM matches WHERE upload_id = %lld AND case_video_id = %lld "
             "AND signal = 'video_frame' AND distance = 0 AND coverage IS NULL",
             u1, vid);
    assert_int_equal(pgt_scalar(url, sql), 1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM matches"), 2);

    /* A video upload containing the case image (frame 3), then a second
     * case with the same image: found from the case side too. */
    make_excerpt(&uv_[2], &other, 20, 10, &img);
    long long u2 = report_video(url, plat, "has-image", &uv_[2]);
    catch_up(&f);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM matches WHERE upload_id = %lld AND case_image_id = %lld "
             "AND signal = 'video_frame' AND distance = 0",
             u2, image_id);
    assert_int_equal(pgt_scalar(url, sql), 1);
    long long case2 = create_case(url, NULL, 0, img_hex);
    long long image2 = pgt_scalar(url, "SELECT max(id) FROM case_images");
    catch_up(&f);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM matches m JOIN takedowns t ON t.upload_id = m.upload_id "
             "AND t.case_id = %lld WHERE m.upload_id = %lld AND m.case_image_id = %lld "
             "AND m.signal = 'video_frame'",
             case2, u2, image2);
    assert_int_equal(pgt_scalar(url, sql), 1);
    /* A case video added later finds the stored excerpt from the case
     * side: the same clip under a second case. */
    video_t *again[1] = {c};
    long long case3 = create_case(url, again, 1, NULL);
    catch_up(&f);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM takedowns WHERE case_id = %lld AND upload_id = %lld "
             "AND signal = 'vpdq_excerpt' AND run_seconds BETWEEN 19 AND 21",
             case3, u0);
    assert_int_equal(pgt_scalar(url, sql), 1);
    long long matches = pgt_scalar(url, "SELECT count(*) FROM matches");
    long long takedowns = pgt_scalar(url, "SELECT count(*) FROM takedowns");

    /* A replay from the start changes nothing (idempotent commits). */
    fx_stop(&f);
    PQclear(pgt_exec(url, "UPDATE matcher_progress SET last_seq = 0"));
    fx_start(&f, url, 1);
    catch_up(&f);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM matches"), matches);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM takedowns"), takedowns);

    /* Frames the database accepts (whole records, quality >= 50) but that
     * cannot be decoded (frame numbers going backwards): the matcher skips
     * that change and goes on with the next one instead of retrying it for
     * ever. */
    char bad[2 * 2 * 42 + 1], *p = bad;
    p += sprintf(p, "00000005000000005a00");
    for (int i = 0; i < 32; i++)
        p += sprintf(p, "11");
    p += sprintf(p, "000000043f8000005a00");
    for (int i = 0; i < 32; i++)
        p += sprintf(p, "22");
    snprintf(sql, sizeof sql,
             "SELECT upload_id FROM sitr_uploads_report(%lld, '[{\"id\":\"undecodable\","
             "\"frames\":\"%s\"}]'::jsonb)",
             plat, bad);
    assert_true(pgt_scalar(url, sql) > 0);
    long long u3 = report_image(url, plat, "shot-after", &c->f[51].pdq);
    catch_up(&f);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM matches WHERE upload_id = %lld AND case_video_id = %lld "
             "AND signal = 'video_frame'",
             u3, vid);
    assert_int_equal(pgt_scalar(url, sql), 1);

    /* The report says what the upload was, also once its frames are gone
     * (a video_frame takedown of a video upload). */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM jsonb_array_elements(sitr_case_report(%lld) -> 'takedowns') t "
             "WHERE t -> 'upload' ->> 'kind' = 'video' AND t ->> 'signal' = 'video_frame'",
             case2);
    assert_int_equal(pgt_scalar(url, sql), 1);
    snprintf(sql, sizeof sql, "SELECT sitr_upload_remove(%lld, 'has-image')::int", plat);
    assert_int_equal(pgt_scalar(url, sql), 1);
    snprintf(
        sql, sizeof sql,
        "SELECT count(*) FROM jsonb_array_elements(sitr_case_report(%lld) -> 'takedowns') t "
        "WHERE t -> 'upload' ->> 'kind' = 'video' AND t -> 'upload' ->> 'removed_at' IS NOT NULL",
        case2);
    assert_int_equal(pgt_scalar(url, sql), 1);
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM uploads WHERE frames IS NOT NULL AND "
                                     "content_id = 'has-image'"),
                     0);

    /* Withdrawal erases the frames and digests of the case's videos. */
    snprintf(sql, sizeof sql, "SELECT sitr_case_withdraw(%lld)::int", case_id);
    assert_int_equal(pgt_scalar(url, sql), 1);
    catch_up(&f);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM case_videos WHERE case_id = %lld AND (frames IS NOT NULL "
             "OR md5 IS NOT NULL OR sha256 IS NOT NULL OR duration IS NOT NULL OR "
             "frame_count IS NOT NULL OR erased_at IS NULL)",
             case_id);
    assert_int_equal(pgt_scalar(url, sql), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM case_videos WHERE case_id = %lld", case_id);
    assert_int_equal(pgt_scalar(url, sql), 1);
    /* The other case still holds the same video. */
    const sitr_replica_indexes_t *ix = sitr_replica_indexes(f.rep);
    assert_int_equal(sitr_vcat_size(ix->case_videos), 1);
    assert_null(sitr_vcat_get(ix->case_videos, vid));
    fx_stop(&f);
    free(other.hex);
    other.hex = NULL;
    free(url);
}

/* The database's own check of packed frames (the last line of defence
 * behind vframes.c): whole records, quality >= 50, hex. */
static void test_sql_frames(void **state)
{
    (void)state;
    char *url = migrated_db();
    sitr_vframe_in_t f[2];
    memset(f, 0, sizeof f);
    f[0].quality = 80;
    f[1].n = 1;
    f[1].t = 1;
    f[1].quality = 90;
    f[1].has_trimmed = 1;
    f[1].trimmed_quality = 60;
    char *hex;
    size_t kept;
    assert_int_equal(sitr_vpack_hex(f, 2, SITR_VPACK_CASE, 0, &hex, &kept, NULL), 0);
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT frame_count FROM sitr_frames('%s')", hex);
    assert_int_equal(pgt_scalar(url, sql), 2);
    hex[strlen(hex) - 2] = 0; /* one byte short */
    snprintf(sql, sizeof sql, "SELECT frame_count FROM sitr_frames('%s')", hex);
    pgt_expect_error(url, sql, "22023");
    free(hex);
    f[1].has_trimmed = 0;
    assert_int_equal(sitr_vpack_hex(f, 1, SITR_VPACK_UPLOAD, 0, &hex, &kept, NULL), 0);
    hex[16] = '3'; /* quality 0x50 -> 0x30 = 48 */
    hex[17] = '0';
    snprintf(sql, sizeof sql, "SELECT frame_count FROM sitr_frames('%s')", hex);
    pgt_expect_error(url, sql, "22023");
    free(hex);
    pgt_expect_error(url, "SELECT frame_count FROM sitr_frames('zz')", "22023");
    pgt_expect_error(url, "SELECT frame_count FROM sitr_frames('')", "22023");
    /* A video upload whose frames were all too plain to keep is still a
     * video (its report says so), matched by its digests alone. */
    long long plat = add_platform(url, "plain");
    snprintf(sql, sizeof sql,
             "SELECT upload_id FROM sitr_uploads_report(%lld, '[{\"id\":\"dark\","
             "\"frames\":null,\"md5\":\"%032d\"}, {\"id\":\"pic\",\"md5\":\"%031d1\"}]')",
             plat, 0, 0);
    PQclear(pgt_exec(url, sql));
    assert_int_equal(pgt_scalar(url, "SELECT count(*) FROM uploads WHERE content_id = 'dark' AND "
                                     "is_video AND frames IS NULL"),
                     1);
    assert_int_equal(
        pgt_scalar(url, "SELECT count(*) FROM uploads WHERE content_id = 'pic' AND NOT is_video"),
        1);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sql_frames),
        cmocka_unit_test(test_load_and_follow),
        cmocka_unit_test(test_matcher),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < 3; i++)
        free(cv[i].hex);
    for (int i = 0; i < 4; i++)
        free(uv_[i].hex);
    return rc;
}
