/* The matcher role (see matcher.h).
 *
 * One dedicated thread per sitrd runs a small blocking loop on its own libpq
 * connection: connect, try the advisory lock once a second until it is
 * held, then repeatedly read the change log after the committed progress
 * (bounded by the replica's applied seq), search the replica's indexes and
 * commit the batch with sitr_matcher_commit.  Any connection failure drops
 * the session (and with it the lock) and starts over, re-reading the
 * progress from the table: what was committed is never redone, what was not
 * is redone, and the schema's unique constraints make a redo harmless.
 *
 * Why a change is matched against the indexes as they are when it is
 * handled (possibly already holding later changes): for any pair (case
 * image or video, upload), the one that entered the log later finds the
 * other in the index, because the replica has applied at least up to that
 * seq.  The pair may also be found earlier, from the other side; the
 * commit skips a match that already exists.  Entities removed in the
 * meantime are skipped by the commit too.
 *
 * Videos (issue 9): the searches and decisions are match/msearch.h's, in
 * both directions: a new upload (image or video) is searched like a
 * /v1/match item against case images and case videos; a new case image or
 * case video is searched against the upload index (image uploads and video
 * upload frames), each video upload decided with the upload as the query.
 * A pair's best signal is sent (exact digest, then copy, excerpt, pdq,
 * still) with the video evidence (coverage, run_seconds).
 *
 * Partner lists (migrations/0009): an 'import_added' change names a case whose
 * images (up to millions) are read through a cursor and matched one by one
 * like 'case_image_added' changes, all committed with that change's seq.
 *
 * The loop thread only starts, kicks (after the replica applied changes) and
 * stops the thread; the thread reports its exit through a uv_async_t. */
#include "jobs/matcher.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <sitr/err_service.h>
#include <sitr/hex.h>
#include <sitr/pdq.h>

#include "core/log.h"
#include "match/msearch.h"
#include "match/vframes.h"

#define RETRY_MS      1000
#define IDLE_MS       1000
#define BATCH_CHANGES 500
/* Commit early when a batch has found this many matches. */
#define BATCH_MATCHES 20000

/* One (case image or case video, upload) pair found. */
typedef struct cand {
    int video; /* 1: target is a case video */
    int64_t target, upload;
    sitr_msearch_signal_t signal; /* lower = stronger evidence */
    int distance;
    double coverage, run_seconds; /* < 0: none */
} cand_t;

typedef struct cands {
    cand_t *v;
    size_t n, cap;
} cands_t;

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf_t;

struct sitr_matcher {
    uv_loop_t *loop;
    sitr_replica_t *rep;
    char *conninfo;
    int threshold;

    uv_thread_t thread;
    uv_async_t exited;
    uv_mutex_t mu;
    uv_cond_t cv;
    int stop, kicked; /* under mu */

    _Atomic int holder;
    _Atomic int64_t last_seq;
    _Atomic unsigned long long matches, takedowns, commits, failures, skipped;

    void (*done)(void *arg);
    void *done_arg;

    /* thread-local scratch */
    PGconn *conn;
    uint64_t *ids;
    size_t ids_cap;
    cands_t cands;
    sbuf_t json;
    sitr_msearch_t *search;
    uint8_t *frames; /* a change's packed frames, decoded */
    size_t frames_cap;
    sitr_vframe_in_t *qframes; /* a video upload's frames as a query */
    size_t qframes_cap;
};

/* ---- small buffers ----------------------------------------------------- */

static void sbuf_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sbuf_printf(sbuf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static int cand_push(cands_t *c, int video, int64_t target, int64_t upload,
                     sitr_msearch_signal_t signal, int distance, double coverage,
                     double run_seconds)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        cand_t *nv = realloc(c->v, cap * sizeof *nv);
        if (!nv)
            return SITR_ENOMEM;
        c->v = nv;
        c->cap = cap;
    }
    c->v[c->n++] = (cand_t){video, target, upload, signal, distance, coverage, run_seconds};
    return 0;
}

/* Pair order, strongest signal then smallest distance first. */
static int cand_cmp(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->video != y->video)
        return x->video < y->video ? -1 : 1;
    if (x->target != y->target)
        return x->target < y->target ? -1 : 1;
    if (x->upload != y->upload)
        return x->upload < y->upload ? -1 : 1;
    if (x->signal != y->signal)
        return x->signal < y->signal ? -1 : 1;
    return (x->distance > y->distance) - (x->distance < y->distance);
}

/* ---- searching --------------------------------------------------------- */

static long lookup_all(sitr_matcher_t *m, sitr_digest_index_t *d, const uint8_t *key)
{
    for (;;) {
        size_t total = sitr_digest_index_lookup(d, key, m->ids, m->ids_cap);
        if (total <= m->ids_cap)
            return (long)total;
        uint64_t *ni = realloc(m->ids, total * sizeof *ni);
        if (!ni)
            return SITR_ENOMEM;
        m->ids = ni;
        m->ids_cap = total;
    }
}

enum { CH_NONE = 0, CH_IMAGE = 1, CH_UPLOAD = 2, CH_VIDEO = 3, CH_IMPORT = 4 };

typedef struct mchange {
    int64_t seq, entity;
    int kind; /* CH_*; CH_NONE = nothing to match */
    int has_pdq, has_md5, has_sha, quality, nvariants;
    sitr_pdq_t pdq, variants[7];
    uint8_t md5[16], sha[32];
    const char *frames_hex; /* packed frames as hex (borrowed from the result), or NULL */
} mchange_t;

/* Decodes c->frames_hex into m->frames; returns the length or < 0. */
static long decode_frames(sitr_matcher_t *m, const mchange_t *c)
{
    size_t hl = strlen(c->frames_hex);
    if (hl % 2)
        return SITR_EPROTO;
    size_t len = hl / 2;
    if (len > m->frames_cap) {
        uint8_t *nb = realloc(m->frames, len);
        if (!nb)
            return SITR_ENOMEM;
        m->frames = nb;
        m->frames_cap = len;
    }
    if (sitr_hex_decode(c->frames_hex, hl, m->frames, len) < 0)
        return SITR_EPROTO;
    return (long)len;
}

/* A video upload's packed frames as a /v1/match video item's frames. */
static long upload_query(sitr_matcher_t *m, size_t len)
{
    long n = sitr_vframes_validate(m->frames, len);
    if (n < 0)
        return n;
    if ((size_t)n > m->qframes_cap) {
        sitr_vframe_in_t *nq = realloc(m->qframes, (size_t)n * sizeof *nq);
        if (!nq)
            return SITR_ENOMEM;
        m->qframes = nq;
        m->qframes_cap = (size_t)n;
    }
    size_t pos = 0;
    sitr_vframe_t f;
    for (long i = 0; i < n && sitr_vframes_next(m->frames, len, &pos, &f) == 1; i++) {
        sitr_vframe_in_t *q = &m->qframes[i];
        memset(q, 0, sizeof *q);
        q->n = f.number;
        q->t = f.t;
        q->pdq = f.pdq;
        q->quality = f.quality;
    }
    return n;
}

/* The case side's digests against the upload digest tables. */
static int case_digests(sitr_matcher_t *m, const mchange_t *c, int video)
{
    const sitr_replica_indexes_t *ix = sitr_replica_indexes(m->rep);
    for (int k = 0; k < 2; k++) {
        if (k == 0 ? !c->has_sha : !c->has_md5)
            continue;
        long n =
            lookup_all(m, k == 0 ? ix->upload_sha256 : ix->upload_md5, k == 0 ? c->sha : c->md5);
        if (n < 0)
            return (int)n;
        for (long i = 0; i < n; i++) {
            int rc = cand_push(&m->cands, video, c->entity, (int64_t)m->ids[i],
                               k == 0 ? SITR_SIGNAL_SHA256 : SITR_SIGNAL_MD5, 0, -1, -1);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Adds the candidates of one change to m->cands. */
/* Zeroes what the last change left in the matcher's buffers: a case
 * video's frame hashes must not outlive its withdrawal in memory. */
static void wipe_change(sitr_matcher_t *m)
{
    if (m->frames)
        sodium_memzero(m->frames, m->frames_cap);
    if (m->qframes)
        sodium_memzero(m->qframes, m->qframes_cap * sizeof *m->qframes);
    sitr_msearch_wipe(m->search);
}

static int match_change(sitr_matcher_t *m, const mchange_t *c)
{
    long n = 0, len = 0;
    int rc = 0;
    if (c->frames_hex && (len = decode_frames(m, c)) < 0)
        return (int)len;
    if (c->kind == CH_UPLOAD) {
        sitr_msearch_item_t it;
        memset(&it, 0, sizeof it);
        it.has_pdq = c->has_pdq && !c->frames_hex;
        it.pdq = c->pdq;
        it.quality = c->quality;
        it.has_md5 = c->has_md5;
        it.has_sha256 = c->has_sha;
        memcpy(it.md5, c->md5, sizeof it.md5);
        memcpy(it.sha256, c->sha, sizeof it.sha256);
        if (c->frames_hex) {
            long nf = upload_query(m, (size_t)len);
            if (nf < 0)
                return (int)nf;
            it.frames = m->qframes;
            it.nframes = (size_t)nf;
        }
        n = sitr_msearch_item(m->search, &it, NULL, 0);
    } else if (c->kind == CH_IMAGE) {
        if (c->has_pdq && c->quality >= SITR_PDQ_MIN_QUALITY) {
            sitr_pdq_t h[8];
            uint8_t var[8];
            h[0] = c->pdq;
            var[0] = SITR_PDQ_ORIG;
            for (int v = 0; v < c->nvariants; v++) {
                h[v + 1] = c->variants[v];
                var[v + 1] = (uint8_t)(v + 1);
            }
            n = sitr_msearch_case_image(m->search, h, var, (size_t)c->nvariants + 1);
        }
        if (n >= 0)
            rc = case_digests(m, c, 0);
    } else if (c->kind == CH_VIDEO) {
        if (c->frames_hex)
            n = sitr_msearch_case_video(m->search, c->entity, m->frames, (size_t)len);
        if (n >= 0)
            rc = case_digests(m, c, 1);
    }
    if (n < 0)
        return (int)n;
    if (rc < 0)
        return rc;
    size_t nr = 0;
    const sitr_msearch_match_t *r = n > 0 ? sitr_msearch_results(m->search, &nr) : NULL;
    for (size_t i = 0; i < nr && rc == 0; i++) {
        if (c->kind == CH_UPLOAD)
            rc = cand_push(&m->cands, r[i].kind == SITR_MSEARCH_VIDEO, r[i].id, c->entity,
                           r[i].signal, r[i].distance, r[i].coverage, r[i].run_seconds);
        else
            rc = cand_push(&m->cands, c->kind == CH_VIDEO, c->entity, r[i].id, r[i].signal,
                           r[i].distance, r[i].coverage, r[i].run_seconds);
    }
    return rc;
}

/* ---- database (matcher thread) ----------------------------------------- */

static int conn_ok(sitr_matcher_t *m)
{
    return m->conn && PQstatus(m->conn) == CONNECTION_OK;
}

static void drop_conn(sitr_matcher_t *m, const char *why)
{
    if (atomic_load(&m->holder))
        sitr_log(SITR_LOG_WARN, NULL, "matcher role lost: %s", why);
    atomic_store(&m->holder, 0);
    if (m->conn)
        PQfinish(m->conn);
    m->conn = NULL;
}

/* Waits up to ms for stop or, when by_kick, a kick (the replica applied
 * changes); returns 1 if stopping.  Only the holder waits for kicks: the
 * others retry the lock on their own schedule. */
static int wait_kick(sitr_matcher_t *m, unsigned ms, int by_kick)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
    uv_mutex_lock(&m->mu);
    for (;;) {
        uint64_t now = uv_hrtime();
        if (m->stop || (by_kick && m->kicked) || now >= deadline)
            break;
        (void)uv_cond_timedwait(&m->cv, &m->mu, deadline - now);
    }
    m->kicked = 0;
    int stop = m->stop;
    uv_mutex_unlock(&m->mu);
    return stop;
}

static int stopping(sitr_matcher_t *m)
{
    uv_mutex_lock(&m->mu);
    int s = m->stop;
    uv_mutex_unlock(&m->mu);
    return s;
}

static PGresult *exec_params(sitr_matcher_t *m, const char *sql, int n, const char *const *v)
{
    PGresult *res = PQexecParams(m->conn, sql, n, NULL, v, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *msg = PQresultErrorMessage(res);
        sitr_log(SITR_LOG_WARN, NULL, "matcher query failed: %.*s", (int)strcspn(msg, "\n"), msg);
        PQclear(res);
        atomic_fetch_add(&m->failures, 1);
        return NULL;
    }
    return res;
}

/* Connects and tries the lock; on success loads the progress.  1 = holder. */
static int try_acquire(sitr_matcher_t *m)
{
    if (!conn_ok(m)) {
        if (m->conn)
            drop_conn(m, "connection lost");
        const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
        const char *vals[] = {m->conninfo, "10", "sitrd-matcher", NULL};
        m->conn = PQconnectdbParams(keys, vals, 1);
        if (PQstatus(m->conn) != CONNECTION_OK) {
            PQfinish(m->conn);
            m->conn = NULL;
            return 0;
        }
        PGresult *r = exec_params(m, "SET statement_timeout = '60s'", 0, NULL);
        if (!r) {
            drop_conn(m, "setup failed");
            return 0;
        }
        PQclear(r);
    }
    char key[24];
    snprintf(key, sizeof key, "%d", SITR_MATCHER_LOCK_KEY);
    const char *v[] = {key};
    PGresult *r = exec_params(m, "SELECT pg_try_advisory_lock($1::bigint)", 1, v);
    if (!r) {
        drop_conn(m, "lock query failed");
        return 0;
    }
    int got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!got)
        return 0;
    r = exec_params(m, "SELECT last_seq FROM matcher_progress", 0, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        drop_conn(m, "cannot read the progress");
        return 0;
    }
    atomic_store(&m->last_seq, strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    PQclear(r);
    atomic_store(&m->holder, 1);
    sitr_log(SITR_LOG_INFO, NULL, "matcher role acquired at change %" PRId64,
             atomic_load(&m->last_seq));
    return 1;
}

static int hex_field(PGresult *res, int row, int col, uint8_t *out, size_t n)
{
    if (PQgetisnull(res, row, col))
        return 0;
    const char *s = PQgetvalue(res, row, col);
    return sitr_hex_decode(s, strlen(s), out, n) == 0 ? 1 : SITR_EPROTO;
}

static int parse_change(PGresult *res, int i, mchange_t *c)
{
    memset(c, 0, sizeof *c);
    c->seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    const char *kind = PQgetvalue(res, i, 1);
    c->entity = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    c->kind = strcmp(kind, "case_image_added") == 0   ? CH_IMAGE
              : strcmp(kind, "upload_added") == 0     ? CH_UPLOAD
              : strcmp(kind, "case_video_added") == 0 ? CH_VIDEO
              : strcmp(kind, "import_added") == 0     ? CH_IMPORT
                                                      : CH_NONE;
    if (!c->kind || c->kind == CH_IMPORT)
        return 0;
    c->frames_hex = PQgetisnull(res, i, 8) ? NULL : PQgetvalue(res, i, 8);
    int k1 = hex_field(res, i, 3, c->pdq.b, sizeof c->pdq.b);
    int k2 = hex_field(res, i, 5, c->md5, sizeof c->md5);
    int k3 = hex_field(res, i, 6, c->sha, sizeof c->sha);
    if (k1 < 0 || k2 < 0 || k3 < 0)
        return SITR_EPROTO;
    c->has_pdq = k1, c->has_md5 = k2, c->has_sha = k3;
    c->quality = PQgetisnull(res, i, 4) ? 0 : atoi(PQgetvalue(res, i, 4));
    if (!PQgetisnull(res, i, 7)) {
        const char *s = PQgetvalue(res, i, 7);
        while (*s && c->nvariants < 7) {
            if (sitr_hex_decode(s, SITR_PDQ_HEX_LEN, c->variants[c->nvariants].b, 32) < 0)
                return SITR_EPROTO;
            c->nvariants++;
            s += SITR_PDQ_HEX_LEN;
            if (*s == ',')
                s++;
        }
    }
    return 0;
}

static const char FETCH_SQL[] =
    "SELECT seq, kind, entity_id, encode(pdq, 'hex'), quality, encode(md5, 'hex'), "
    "encode(sha256, 'hex'), (SELECT string_agg(encode(x, 'hex'), ',' ORDER BY o) "
    "FROM unnest(variants) WITH ORDINALITY AS t(x, o)), encode(frames, 'hex') "
    "FROM sitr_changes_after($1::bigint, $2::int) WHERE seq <= $3::bigint ORDER BY seq";

/* Appends the best candidate of each (target, upload) pair in m->cands to
 * the commit's JSON. */
static void emit_cands(sitr_matcher_t *m, size_t *nmatch)
{
    if (m->cands.n > 1) /* qsort on a NULL array is undefined, even for 0 items */
        qsort(m->cands.v, m->cands.n, sizeof *m->cands.v, cand_cmp);
    for (size_t k = 0; k < m->cands.n; k++) {
        const cand_t *x = &m->cands.v[k];
        const cand_t *p = k > 0 ? &m->cands.v[k - 1] : NULL;
        if (p && x->video == p->video && x->target == p->target && x->upload == p->upload)
            continue; /* the best of this pair came first */
        sbuf_printf(&m->json,
                    "%s{\"%s\":%" PRId64 ",\"upload_id\":%" PRId64
                    ",\"signal\":\"%s\",\"distance\":%d",
                    *nmatch ? "," : "", x->video ? "case_video_id" : "case_image_id", x->target,
                    x->upload, sitr_msearch_signal_name(x->signal), x->distance);
        if (x->coverage >= 0 && x->run_seconds >= 0)
            sbuf_printf(&m->json, ",\"coverage\":%.4f,\"run_seconds\":%.3f", x->coverage,
                        x->run_seconds);
        sbuf_printf(&m->json, "}");
        (*nmatch)++;
    }
}

/* An 'import_added' change (migrations/0009): the live images of the
 * import's case, read through a cursor in pages (a list may hold millions),
 * each matched like a 'case_image_added' change.  The rows keep
 * FETCH_SQL's column layout so that parse_change reads them. */
#define IMPORT_PAGE 5000 /* the FETCH count below */
static int match_import(sitr_matcher_t *m, int64_t case_id, size_t *nmatch)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, case_id);
    const char *v[] = {id};
    PGresult *res = exec_params(m, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
    if (!res)
        return SITR_EDB;
    PQclear(res);
    res = exec_params(m,
                      "DECLARE sitr_import_images NO SCROLL CURSOR FOR "
                      "SELECT 0, 'case_image_added', image_id, encode(pdq, 'hex'), quality, "
                      "encode(md5, 'hex'), encode(sha256, 'hex'), "
                      "(SELECT string_agg(encode(x, 'hex'), ',' ORDER BY o) "
                      "FROM unnest(variants) WITH ORDINALITY AS t(x, o)), NULL::text "
                      "FROM index_case_images WHERE case_id = $1::bigint",
                      1, v);
    int rc = res ? 0 : SITR_EDB;
    PQclear(res);
    size_t images = 0;
    while (rc == 0) {
        res = exec_params(m, "FETCH 5000 FROM sitr_import_images", 0, NULL);
        if (!res) {
            rc = SITR_EDB;
            break;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n && rc == 0; i++) {
            mchange_t c;
            rc = parse_change(res, i, &c);
            if (rc < 0)
                break;
            m->cands.n = 0;
            rc = match_change(m, &c);
            wipe_change(m);
            if (rc == 0)
                emit_cands(m, nmatch);
        }
        images += (size_t)n;
        PQclear(res);
        if (n < IMPORT_PAGE)
            break;
    }
    res = exec_params(m, rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL);
    if (!res && rc == 0)
        rc = SITR_EDB;
    PQclear(res);
    if (rc == 0)
        sitr_log(SITR_LOG_INFO, NULL, "matcher: import %" PRId64 " searched: %zu images", case_id,
                 images);
    return rc;
}

/* One batch: read, match, commit.  Returns 1 if work was done, 0 if there
 * was nothing to do, < 0 on failure (the connection is then dropped). */
static int run_batch(sitr_matcher_t *m)
{
    int64_t last = atomic_load(&m->last_seq);
    int64_t applied = sitr_replica_applied_seq(m->rep);
    if (applied <= last)
        return 0;
    char a[24], l[16], b[24];
    snprintf(a, sizeof a, "%" PRId64, last);
    snprintf(l, sizeof l, "%d", BATCH_CHANGES);
    snprintf(b, sizeof b, "%" PRId64, applied);
    const char *v[] = {a, l, b};
    PGresult *res = exec_params(m, FETCH_SQL, 3, v);
    if (!res)
        return SITR_EDB;
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return 0;
    }
    m->json.n = 0;
    m->json.oom = 0;
    sbuf_printf(&m->json, "[");
    size_t nmatch = 0;
    int64_t upto = last;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        mchange_t c;
        rc = parse_change(res, i, &c);
        if (rc < 0)
            break;
        if (c.seq <= upto) {
            rc = SITR_EPROTO;
            break;
        }
        m->cands.n = 0;
        if (c.kind == CH_IMPORT) {
            /* Matched and emitted page by page; its images' frames are
             * none, so the skip below cannot apply. */
            rc = match_import(m, c.entity, &nmatch);
            if (rc < 0)
                break;
            upto = c.seq;
            if (nmatch >= BATCH_MATCHES)
                break;
            continue;
        }
        if (c.kind)
            rc = match_change(m, &c);
        wipe_change(m);
        if (rc == SITR_EINVAL || rc == SITR_EPROTO) {
            /* Frames the database accepted but we cannot decode (its check
             * is only their length): retrying would stop every takedown
             * behind this change for good, so it is skipped, loudly. */
            sitr_log(SITR_LOG_ERROR, NULL, "matcher: change %" PRId64 " skipped: malformed frames",
                     c.seq);
            atomic_fetch_add(&m->skipped, 1);
            m->cands.n = 0;
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        emit_cands(m, &nmatch);
        upto = c.seq;
        if (nmatch >= BATCH_MATCHES)
            break;
    }
    PQclear(res);
    sbuf_printf(&m->json, "]");
    if (rc == 0 && m->json.oom)
        rc = SITR_ENOMEM;
    if (rc < 0) {
        sitr_log(SITR_LOG_ERROR, NULL, "matcher batch after %" PRId64 " failed: %s", last,
                 sitr_strerror(rc));
        return rc;
    }
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, upto);
    const char *cv[] = {s, m->json.p};
    res = exec_params(m, "SELECT sitr_matcher_commit($1::bigint, $2::jsonb)", 2, cv);
    if (!res)
        return SITR_EDB;
    unsigned long long created = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    atomic_store(&m->last_seq, upto);
    atomic_fetch_add(&m->matches, nmatch);
    atomic_fetch_add(&m->takedowns, created);
    atomic_fetch_add(&m->commits, 1);
    if (created)
        sitr_log(SITR_LOG_INFO, NULL, "matcher: %llu takedown(s) created up to change %" PRId64,
                 created, upto);
    return 1;
}

static void thread_main(void *arg)
{
    sitr_matcher_t *m = arg;
    while (!stopping(m)) {
        if (!atomic_load(&m->holder) || !conn_ok(m)) {
            if (!try_acquire(m)) {
                if (wait_kick(m, RETRY_MS, 0))
                    break;
                continue;
            }
        }
        int rc = run_batch(m);
        if (rc < 0) {
            drop_conn(m, "batch failed");
            if (wait_kick(m, RETRY_MS, 0))
                break;
        } else if (rc == 0) {
            if (wait_kick(m, IDLE_MS, 1))
                break;
        }
    }
    if (m->conn)
        PQfinish(m->conn); /* ends the session: the role is released */
    m->conn = NULL;
    atomic_store(&m->holder, 0);
    uv_async_send(&m->exited);
}

/* ---- loop side ----------------------------------------------------------- */

static void on_applied(int64_t seq, void *arg)
{
    sitr_matcher_t *m = arg;
    (void)seq;
    uv_mutex_lock(&m->mu);
    m->kicked = 1;
    uv_cond_signal(&m->cv);
    uv_mutex_unlock(&m->mu);
}

static void metrics_source(FILE *out, void *arg)
{
    sitr_matcher_t *m = arg;
    fprintf(out,
            "# HELP sitr_matcher_holder 1 while this process holds the matcher role.\n"
            "# TYPE sitr_matcher_holder gauge\n"
            "sitr_matcher_holder %d\n"
            "# HELP sitr_matcher_last_seq Last change-log seq committed by this matcher.\n"
            "# TYPE sitr_matcher_last_seq gauge\n"
            "sitr_matcher_last_seq %" PRId64 "\n"
            "# HELP sitr_matcher_matches_total Matches sent to the database.\n"
            "# TYPE sitr_matcher_matches_total counter\n"
            "sitr_matcher_matches_total %llu\n"
            "# HELP sitr_matcher_takedowns_total Takedowns created by this matcher.\n"
            "# TYPE sitr_matcher_takedowns_total counter\n"
            "sitr_matcher_takedowns_total %llu\n"
            "# HELP sitr_matcher_commits_total Batches committed.\n"
            "# TYPE sitr_matcher_commits_total counter\n"
            "sitr_matcher_commits_total %llu\n"
            "# HELP sitr_matcher_failures_total Failed matcher queries.\n"
            "# TYPE sitr_matcher_failures_total counter\n"
            "sitr_matcher_failures_total %llu\n"
            "# HELP sitr_matcher_skipped_total Changes skipped: frames that cannot be decoded.\n"
            "# TYPE sitr_matcher_skipped_total counter\n"
            "sitr_matcher_skipped_total %llu\n",
            atomic_load(&m->holder), atomic_load(&m->last_seq), atomic_load(&m->matches),
            atomic_load(&m->takedowns), atomic_load(&m->commits), atomic_load(&m->failures),
            atomic_load(&m->skipped));
}

static void free_matcher(sitr_matcher_t *m)
{
    free(m->ids);
    free(m->cands.v);
    free(m->json.p);
    free(m->frames);
    free(m->qframes);
    sitr_msearch_free(m->search);
    free(m->conninfo);
    free(m);
}

static void on_async_closed(uv_handle_t *h)
{
    sitr_matcher_t *m = h->data;
    void (*done)(void *) = m->done;
    void *arg = m->done_arg;
    sitr_replica_release(m->rep);
    uv_cond_destroy(&m->cv);
    uv_mutex_destroy(&m->mu);
    free_matcher(m);
    if (done)
        done(arg);
}

static void on_exited(uv_async_t *a)
{
    sitr_matcher_t *m = a->data;
    uv_thread_join(&m->thread); /* it has returned already: no wait */
    uv_close((uv_handle_t *)&m->exited, on_async_closed);
}

int sitr_matcher_start(uv_loop_t *loop, sitr_replica_t *rep, const sitr_matcher_options_t *opt,
                       sitr_matcher_t **out, sitr_err_t *err)
{
    *out = NULL;
    if (!rep || !opt || !opt->conninfo || opt->threshold < 0 || opt->threshold > 256)
        return sitr_err_set(err, SITR_EINVAL, "matcher: bad options");
    sitr_matcher_t *m = calloc(1, sizeof *m);
    if (!m)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    m->loop = loop;
    m->rep = rep;
    m->threshold = opt->threshold;
    m->conninfo = strdup(opt->conninfo);
    m->ids_cap = 1024;
    m->ids = malloc(m->ids_cap * sizeof *m->ids);
    m->search = sitr_msearch_new(sitr_replica_indexes(rep), opt->threshold, NULL);
    if (!m->conninfo || !m->ids || !m->search) {
        free_matcher(m);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    if (uv_mutex_init(&m->mu) != 0) {
        free_matcher(m);
        return sitr_err_set(err, SITR_ENOMEM, "matcher: cannot create a mutex");
    }
    if (uv_cond_init(&m->cv) != 0) {
        uv_mutex_destroy(&m->mu);
        free_matcher(m);
        return sitr_err_set(err, SITR_ENOMEM, "matcher: cannot create a condition");
    }
    sitr_replica_hold(rep);
    uv_async_init(loop, &m->exited, on_exited);
    m->exited.data = m;
    if (uv_thread_create(&m->thread, thread_main, m) != 0) {
        /* The async handle must be closed before the struct goes. */
        uv_close((uv_handle_t *)&m->exited, on_async_closed);
        return sitr_err_set(err, SITR_ENOMEM, "matcher: cannot start its thread");
    }
    sitr_replica_on_applied(rep, on_applied, m);
    if (opt->metrics && sitr_metrics_add_source(opt->metrics, metrics_source, m) < 0)
        sitr_log(SITR_LOG_WARN, NULL, "matcher metrics not exported: too many metric sources");
    *out = m;
    return 0;
}

int sitr_matcher_is_holder(const sitr_matcher_t *m)
{
    return m && atomic_load(&((sitr_matcher_t *)m)->holder);
}

int64_t sitr_matcher_last_seq(const sitr_matcher_t *m)
{
    return m ? atomic_load(&((sitr_matcher_t *)m)->last_seq) : 0;
}

void sitr_matcher_close(sitr_matcher_t *m, void (*done)(void *arg), void *arg)
{
    if (!m) {
        if (done)
            done(arg);
        return;
    }
    sitr_replica_on_applied(m->rep, NULL, NULL);
    m->done = done;
    m->done_arg = arg;
    /* The thread exits only once stop is set; its uv_async_send then
     * brings us to on_exited on the loop thread. */
    uv_mutex_lock(&m->mu);
    m->stop = 1;
    uv_cond_signal(&m->cv);
    uv_mutex_unlock(&m->mu);
}
