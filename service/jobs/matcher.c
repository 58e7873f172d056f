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
 * image, upload), the one that entered the log later finds the other in
 * the index, because the replica has applied at least up to that seq.  The
 * pair may also be found earlier, from the other side; the commit skips a
 * match that already exists.  Entities removed in the meantime are skipped
 * by the commit too.
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

#include <sitr/err_service.h>
#include <sitr/hex.h>
#include <sitr/pdq.h>

#include "core/log.h"

#define RETRY_MS 1000
#define IDLE_MS 1000
#define BATCH_CHANGES 500
/* Commit early when a batch has found this many matches. */
#define BATCH_MATCHES 20000

enum { SIG_PDQ = 0, SIG_MD5 = 1, SIG_SHA256 = 2 };
static const char *const signal_names[] = {"pdq", "md5", "sha256"};

typedef struct cand {
    int64_t image, upload;
    int signal; /* higher = stronger evidence */
    int distance;
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
    _Atomic unsigned long long matches, takedowns, commits, failures;

    void (*done)(void *arg);
    void *done_arg;

    /* thread-local scratch */
    PGconn *conn;
    sitr_index_hit_t *hits;
    size_t hits_cap;
    uint64_t *ids;
    size_t ids_cap;
    cands_t cands;
    sbuf_t json;
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

static int cand_push(cands_t *c, int64_t image, int64_t upload, int signal, int distance)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        cand_t *nv = realloc(c->v, cap * sizeof *nv);
        if (!nv)
            return SITR_ENOMEM;
        c->v = nv;
        c->cap = cap;
    }
    c->v[c->n++] = (cand_t){image, upload, signal, distance};
    return 0;
}

/* Pair order, strongest signal then smallest distance first. */
static int cand_cmp(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->image != y->image)
        return x->image < y->image ? -1 : 1;
    if (x->upload != y->upload)
        return x->upload < y->upload ? -1 : 1;
    if (x->signal != y->signal)
        return x->signal > y->signal ? -1 : 1;
    return (x->distance > y->distance) - (x->distance < y->distance);
}

/* ---- searching --------------------------------------------------------- */

/* Every hit of q in idx within the threshold, into m->hits; returns the
 * count or < 0. */
static long search_all(sitr_matcher_t *m, sitr_index_t *idx, const sitr_pdq_t *q)
{
    for (;;) {
        size_t found = 0;
        int rc = sitr_index_search(idx, q, m->threshold, m->hits, m->hits_cap, &found, NULL);
        if (rc < 0)
            return rc;
        if (found <= m->hits_cap)
            return (long)found;
        sitr_index_hit_t *nh = realloc(m->hits, found * sizeof *nh);
        if (!nh)
            return SITR_ENOMEM;
        m->hits = nh;
        m->hits_cap = found;
    }
}

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

typedef struct mchange {
    int64_t seq, entity;
    int kind; /* 1 = case image added, 2 = upload added, 0 = nothing to match */
    int has_pdq, has_md5, has_sha, quality, nvariants;
    sitr_pdq_t pdq, variants[7];
    uint8_t md5[16], sha[32];
} mchange_t;

/* Adds the candidates of one change to m->cands. */
static int match_change(sitr_matcher_t *m, const mchange_t *c)
{
    const sitr_replica_indexes_t *ix = sitr_replica_indexes(m->rep);
    int image_side = c->kind == 1;
    long n;
    if (c->has_pdq && c->quality >= SITR_PDQ_MIN_QUALITY) {
        for (int v = 0; v <= (image_side ? c->nvariants : 0); v++) {
            const sitr_pdq_t *q = v == 0 ? &c->pdq : &c->variants[v - 1];
            n = search_all(m, image_side ? ix->upload_pdq : ix->case_pdq, q);
            if (n < 0)
                return (int)n;
            for (long i = 0; i < n; i++) {
                int64_t other = image_side ? (int64_t)m->hits[i].id
                                           : SITR_REPLICA_IMAGE_OF(m->hits[i].id);
                int rc = image_side
                             ? cand_push(&m->cands, c->entity, other, SIG_PDQ, m->hits[i].distance)
                             : cand_push(&m->cands, other, c->entity, SIG_PDQ, m->hits[i].distance);
                if (rc < 0)
                    return rc;
            }
        }
    }
    for (int s = SIG_MD5; s <= SIG_SHA256; s++) {
        if (s == SIG_MD5 ? !c->has_md5 : !c->has_sha)
            continue;
        sitr_digest_index_t *d = image_side ? (s == SIG_MD5 ? ix->upload_md5 : ix->upload_sha256)
                                            : (s == SIG_MD5 ? ix->case_md5 : ix->case_sha256);
        n = lookup_all(m, d, s == SIG_MD5 ? c->md5 : c->sha);
        if (n < 0)
            return (int)n;
        for (long i = 0; i < n; i++) {
            int rc = image_side ? cand_push(&m->cands, c->entity, (int64_t)m->ids[i], s, 0)
                                : cand_push(&m->cands, (int64_t)m->ids[i], c->entity, s, 0);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
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
    c->kind = strcmp(kind, "case_image_added") == 0 ? 1 : strcmp(kind, "upload_added") == 0 ? 2 : 0;
    if (!c->kind)
        return 0;
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
    "FROM unnest(variants) WITH ORDINALITY AS t(x, o)) "
    "FROM sitr_changes_after($1::bigint, $2::int) WHERE seq <= $3::bigint ORDER BY seq";

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
        if (c.kind)
            rc = match_change(m, &c);
        if (rc < 0)
            break;
        if (m->cands.n > 1) /* qsort on a NULL array is undefined, even for 0 items */
            qsort(m->cands.v, m->cands.n, sizeof *m->cands.v, cand_cmp);
        for (size_t k = 0; k < m->cands.n; k++) {
            const cand_t *x = &m->cands.v[k];
            if (k > 0 && x->image == m->cands.v[k - 1].image &&
                x->upload == m->cands.v[k - 1].upload)
                continue; /* the best of this pair came first */
            sbuf_printf(&m->json,
                        "%s{\"case_image_id\":%" PRId64 ",\"upload_id\":%" PRId64
                        ",\"signal\":\"%s\",\"distance\":%d}",
                        nmatch ? "," : "", x->image, x->upload, signal_names[x->signal],
                        x->distance);
            nmatch++;
        }
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
            "sitr_matcher_failures_total %llu\n",
            atomic_load(&m->holder), atomic_load(&m->last_seq), atomic_load(&m->matches),
            atomic_load(&m->takedowns), atomic_load(&m->commits), atomic_load(&m->failures));
}

static void free_matcher(sitr_matcher_t *m)
{
    free(m->hits);
    free(m->ids);
    free(m->cands.v);
    free(m->json.p);
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
    m->hits_cap = 1024;
    m->hits = malloc(m->hits_cap * sizeof *m->hits);
    m->ids_cap = 1024;
    m->ids = malloc(m->ids_cap * sizeof *m->ids);
    if (!m->conninfo || !m->hits || !m->ids) {
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
