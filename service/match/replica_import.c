/* Partner lists on the replica (migrations/0009 and 0012; see replica.c for
 * the whole design).
 *
 * An import is published in two phases so that a million imported hashes
 * are matched within a second of the publication, not after seconds of
 * COPY and index building on every replica:
 *  1. 'import_staged' (the rows are committed but matched by no one): the
 *     follower queues the case for the preparer, a thread of this file with
 *     its own blocking connection, which COPYs the case's images, builds a
 *     standalone PDQ segment and digest tables (searchable by no one), and
 *     acknowledges with sitr_import_prepared(case, instance).  sitr-admin
 *     waits for the acknowledgement of every live replica (the replicas
 *     table, kept by the presence heartbeat below) before publishing.
 *  2. 'import_added' (the publication): the apply job attaches the prepared
 *     segment and tables under the case id, an O(1) pointer swap.  An
 *     import that is still being prepared is waited for; one never queued
 *     (this replica started after the staging and the staged_imports query
 *     missed it, or the preparation failed) is read and built inline on the
 *     apply job's connection, then attached the same way.
 * 'import_removed' (a withdrawal or the discard of an abandoned staging)
 * drops a queued or prepared import, and detaches the attached segment and
 * tables as a whole; only what a merge folded into the bigger segments
 * (or an import loaded by the initial load) is removed by a scan.
 *
 * A prepared import is immutable: the database refuses to erase single
 * hashes of a staged import (SIT05) and a withdrawal logs 'import_removed',
 * so what was prepared is exactly what is published.
 *
 * Threads: the prepared list is shared by the apply job (uv worker) and the
 * preparer under prep_mu; the attach records and present bits belong to the
 * apply job (one job in flight); the heartbeat and the staged_imports query
 * run on the loop thread through the async pool. */
#include "match/replica_int.h"

#include <sodium.h>
#include <unistd.h>

#define PRESENCE_EVERY 5 /* poll ticks (seconds) between heartbeats */
#define PREP_RETRY_S   5.0

/* Bits of attach_rec_t.mask: which structures hold a segment of the case. */
#define IN_PDQ 1u
#define IN_MD5 2u
#define IN_SHA 4u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void prepared_free(prepared_t *p)
{
    if (!p)
        return;
    sitr_index_segment_free(p->seg);
    sitr_digest_index_free(p->md5);
    sitr_digest_index_free(p->sha);
    free(p->image_ids);
    free(p);
}

/* The entry of case_id in the prepared list (prep_mu held), or NULL. */
static prepared_t *find_prepared(sitr_replica_t *r, int64_t case_id)
{
    for (prepared_t *p = r->prepared; p; p = p->next)
        if (p->case_id == case_id)
            return p;
    return NULL;
}

static void unlink_prepared(sitr_replica_t *r, prepared_t *p)
{
    for (prepared_t **pp = &r->prepared; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            p->next = NULL;
            return;
        }
    }
}

static int digest_table(const uint8_t *keys, const uint64_t *ids, size_t n, size_t key_len,
                        sitr_digest_index_t **out)
{
    *out = NULL;
    if (n == 0)
        return 0; /* nothing to attach: no table */
    sitr_digest_index_t *d = sitr_digest_index_new(key_len);
    if (!d)
        return SITR_ENOMEM;
    sitr_digest_part_t part = {keys, ids, n};
    int rc = sitr_digest_index_bulk_build(d, &part, 1);
    if (rc < 0) {
        sitr_digest_index_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* Builds p's segment, tables and image id list from the rows read. */
static int build_prepared(prepared_t *p, const import_rows_t *x, int threads)
{
    int rc = sitr_index_segment_build(x->pdq, x->npdq, threads, &p->seg);
    if (rc == 0)
        rc = digest_table(x->md5_keys, x->md5_ids, x->nmd5, SITR_DIGEST_MD5_BYTES, &p->md5);
    if (rc == 0)
        rc = digest_table(x->sha_keys, x->sha_ids, x->nsha, SITR_DIGEST_SHA256_BYTES, &p->sha);
    /* Every image that enters: its PDQ (variant 0), or a digest.  Ids may
     * repeat; marking one present twice is harmless. */
    size_t cap = x->npdq + x->nmd5 + x->nsha;
    if (rc == 0 && cap) {
        p->image_ids = malloc(cap * sizeof *p->image_ids);
        if (!p->image_ids)
            rc = SITR_ENOMEM;
    }
    if (rc == 0) {
        size_t m = 0;
        for (size_t i = 0; i < x->npdq; i++)
            if ((x->pdq[i].id & ((1u << SITR_REPLICA_VARIANT_BITS) - 1)) == 0)
                p->image_ids[m++] = (uint64_t)SITR_REPLICA_IMAGE_OF(x->pdq[i].id);
        for (size_t i = 0; i < x->nmd5; i++)
            p->image_ids[m++] = x->md5_ids[i];
        for (size_t i = 0; i < x->nsha; i++)
            p->image_ids[m++] = x->sha_ids[i];
        p->nimage_ids = m;
        p->entries = x->npdq + x->nmd5 + x->nsha;
    }
    return rc;
}

/* Reads and builds case p->case_id on connection c (any worker thread; p is
 * owned by the caller for the duration). */
static int prepare_on(PGconn *c, prepared_t *p, int staged_only, char *msg, size_t msglen)
{
    import_rows_t x;
    int rc = sitr_replica_copy_import(c, p->case_id, staged_only, &x, msg, msglen);
    if (rc == 0) {
        rc = build_prepared(p, &x, LOAD_THREADS);
        if (rc < 0)
            snprintf(msg, msglen, "cannot build the import's index: %s", sitr_strerror(rc));
    }
    sitr_replica_import_rows_free(&x);
    return rc;
}

/* (Re)connects *c when needed; NULL and a log line when the database is
 * unreachable. */
static PGconn *ensure_conn(PGconn **c, const char *conninfo, const char *who)
{
    if (*c && PQstatus(*c) == CONNECTION_OK)
        return *c;
    PQfinish(*c);
    *c = PQconnectdb(conninfo);
    if (PQstatus(*c) != CONNECTION_OK) {
        sitr_log(SITR_LOG_WARN, NULL, "%s: cannot connect: %.*s", who,
                 (int)strcspn(PQerrorMessage(*c), "\n"), PQerrorMessage(*c));
        PQfinish(*c);
        *c = NULL;
    }
    return *c;
}

/* A read of the apply job failed: said once here; a connection left inside
 * a transaction or a COPY is not reused. */
static void apply_failed(sitr_replica_t *r, PGconn *c, int64_t case_id, int rc, const char *msg)
{
    sitr_log(SITR_LOG_WARN, NULL, "import %" PRId64 ": %s", case_id,
             msg[0] ? msg : sitr_strerror(rc));
    if (c && PQtransactionStatus(c) != PQTRANS_IDLE) {
        PQfinish(r->import_conn);
        r->import_conn = NULL;
    }
}

/* ---- the preparer thread ----------------------------------------------- */

/* Tells the database that this replica holds case_id prepared (a failure
 * is logged once per import: the preparer retries every second). */
static int acknowledge(sitr_replica_t *r, int64_t case_id, int quiet)
{
    PGconn *c = ensure_conn(&r->prep_conn, r->conninfo, "import preparer");
    if (!c)
        return SITR_EDB;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, case_id);
    const char *values[2] = {id, r->instance};
    PGresult *res = PQexecParams(c, "SELECT sitr_import_prepared($1::bigint, $2)", 2, NULL, values,
                                 NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok && !quiet)
        sitr_log(SITR_LOG_WARN, NULL, "import %" PRId64 ": acknowledging failed: %.*s (retrying)",
                 case_id, (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
    PQclear(res);
    return ok ? 0 : SITR_EDB;
}

/* The next entry due (prep_mu held): a queued one whose retry time came,
 * else NULL. */
static prepared_t *next_queued(sitr_replica_t *r, double now)
{
    for (prepared_t *p = r->prepared; p; p = p->next)
        if (p->state == PREP_QUEUED && p->retry_at <= now)
            return p;
    return NULL;
}

static prepared_t *next_unacked(sitr_replica_t *r)
{
    for (prepared_t *p = r->prepared; p; p = p->next)
        if (p->state == PREP_READY && !p->acked && p->ack_at <= now_s())
            return p;
    return NULL;
}

static void prepare_one(sitr_replica_t *r, prepared_t *p)
{
    double t0 = now_s();
    char msg[200] = "";
    PGconn *c = ensure_conn(&r->prep_conn, r->conninfo, "import preparer");
    int rc = c ? prepare_on(c, p, 1, msg, sizeof msg) : SITR_EDB;
    if (rc < 0 && c && PQtransactionStatus(c) != PQTRANS_IDLE) {
        /* A connection left inside a transaction or a COPY is not reused. */
        PQfinish(r->prep_conn);
        r->prep_conn = NULL;
    }
    pthread_mutex_lock(&r->prep_mu);
    p->seconds = now_s() - t0;
    if (p->cancelled || (rc == 0 && p->nimage_ids == 0)) {
        /* Withdrawn, or no longer staged (published before this read, as
         * when the staged_imports query of a fresh replica answers late):
         * the publication's own path applies it. */
        unlink_prepared(r, p);
        prepared_free(p);
    } else if (rc < 0) {
        /* Retried later; the publication reads it inline if it comes first. */
        sitr_index_segment_free(p->seg);
        sitr_digest_index_free(p->md5);
        sitr_digest_index_free(p->sha);
        free(p->image_ids);
        p->seg = NULL;
        p->md5 = p->sha = NULL;
        p->image_ids = NULL;
        p->state = PREP_QUEUED;
        p->retry_at = now_s() + PREP_RETRY_S;
        r->imports_prep_failed++;
        sitr_log(SITR_LOG_WARN, NULL, "import %" PRId64 ": preparing failed: %s (retrying)",
                 p->case_id, msg[0] ? msg : sitr_strerror(rc));
    } else {
        p->state = PREP_READY;
        r->imports_prepared++;
        r->last_prepare_s = p->seconds;
        sitr_log(SITR_LOG_INFO, NULL,
                 "import %" PRId64 " prepared in %.2f s: %zu entries (not matched until "
                 "published)",
                 p->case_id, p->seconds, p->entries);
    }
    pthread_cond_broadcast(&r->prep_cv);
    pthread_mutex_unlock(&r->prep_mu);
}

static void *prep_main(void *arg)
{
    sitr_replica_t *r = arg;
    pthread_mutex_lock(&r->prep_mu);
    while (!r->prep_stop) {
        prepared_t *p = next_queued(r, now_s());
        if (p) {
            p->state = PREP_RUNNING;
            pthread_mutex_unlock(&r->prep_mu);
            prepare_one(r, p); /* p may be gone after this */
            pthread_mutex_lock(&r->prep_mu);
            continue;
        }
        p = next_unacked(r);
        if (p) {
            /* The entry may be attached and freed meanwhile: keep the id. */
            int64_t id = p->case_id;
            int quiet = p->ack_failed;
            pthread_mutex_unlock(&r->prep_mu);
            int rc = acknowledge(r, id, quiet);
            pthread_mutex_lock(&r->prep_mu);
            p = find_prepared(r, id);
            if (p && rc == 0) {
                p->acked = 1;
            } else if (p) {
                p->ack_failed = 1;
                p->ack_at = now_s() + 1.0;
            }
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&r->prep_cv, &r->prep_mu, &until);
    }
    pthread_mutex_unlock(&r->prep_mu);
    return NULL;
}

/* ---- life cycle ----------------------------------------------------------- */

/* This process's name in the replicas table: host, pid and a random part
 * (two replicas on one host, or a pid reused after a restart, differ). */
static void make_instance(sitr_replica_t *r)
{
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = 0;
    for (char *s = host; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            *s = '_';
    uint8_t rnd[4];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(r->instance, sizeof r->instance, "%s:%ld:%02x%02x%02x%02x", host[0] ? host : "sitrd",
             (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
}

int sitr_replica_imports_init(sitr_replica_t *r)
{
    if (sodium_init() < 0)
        return SITR_EINTERNAL;
    make_instance(r);
    pthread_mutex_init(&r->prep_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&r->prep_cv, &ca);
    pthread_condattr_destroy(&ca);
    r->prep_inited = 1;
    if (pthread_create(&r->prep_thread, NULL, prep_main, r) != 0)
        return SITR_ENOMEM;
    r->prep_started = 1;
    return 0;
}

/* Stops the preparer (a preparation in progress is finished first) and
 * frees what it held. */
void sitr_replica_imports_free(sitr_replica_t *r)
{
    if (!r->prep_inited)
        return;
    if (r->prep_started) {
        pthread_mutex_lock(&r->prep_mu);
        r->prep_stop = 1;
        pthread_cond_broadcast(&r->prep_cv);
        pthread_mutex_unlock(&r->prep_mu);
        pthread_join(r->prep_thread, NULL);
    }
    while (r->prepared) {
        prepared_t *p = r->prepared;
        r->prepared = p->next;
        prepared_free(p);
    }
    free(r->attached);
    r->attached = NULL;
    r->nattached = 0;
    PQfinish(r->prep_conn);
    r->prep_conn = NULL;
    pthread_cond_destroy(&r->prep_cv);
    pthread_mutex_destroy(&r->prep_mu);
    r->prep_inited = 0;
}

/* ---- changes (apply job) ------------------------------------------------ */

/* 'import_staged': queued for the preparer (once per case). */
int sitr_replica_import_staged(sitr_replica_t *r, int64_t case_id)
{
    pthread_mutex_lock(&r->prep_mu);
    int rc = 0;
    if (!find_prepared(r, case_id)) {
        prepared_t *p = calloc(1, sizeof *p);
        if (!p) {
            rc = SITR_ENOMEM;
        } else {
            p->case_id = case_id;
            p->state = PREP_QUEUED;
            p->next = r->prepared;
            r->prepared = p;
            pthread_cond_broadcast(&r->prep_cv);
        }
    }
    pthread_mutex_unlock(&r->prep_mu);
    return rc;
}

static attach_rec_t *find_rec(sitr_replica_t *r, int64_t case_id)
{
    for (size_t i = 0; i < r->nattached; i++)
        if (r->attached[i].case_id == case_id)
            return &r->attached[i];
    return NULL;
}

static int add_rec(sitr_replica_t *r, int64_t case_id, unsigned mask)
{
    attach_rec_t *a = find_rec(r, case_id);
    if (!a) {
        attach_rec_t *na = realloc(r->attached, (r->nattached + 1) * sizeof *na);
        if (!na)
            return SITR_ENOMEM;
        r->attached = na;
        a = &na[r->nattached++];
        a->case_id = case_id;
        a->mask = 0;
    }
    a->mask |= mask;
    return 0;
}

/* Attaches one structure's part under the case id: 1 attached (ownership
 * passed), 0 nothing to attach or attached already (a retried change), < 0. */
static int attach_pdq(sitr_replica_t *r, prepared_t *p)
{
    if (!p->seg || sitr_index_segment_size(p->seg) == 0)
        return 0;
    int rc = sitr_index_attach(r->ix.case_pdq, p->seg, (uint64_t)p->case_id);
    if (rc == SITR_EINVAL)
        return 0; /* this tag is attached: an earlier try got this far */
    if (rc < 0)
        return rc;
    p->seg = NULL;
    return 1;
}

static int attach_digests(sitr_digest_index_t *into, sitr_digest_index_t **part, int64_t case_id)
{
    if (!*part || sitr_digest_index_size(*part) == 0)
        return 0;
    int rc = sitr_digest_index_attach(into, *part, (uint64_t)case_id);
    if (rc == SITR_EINVAL)
        return 0;
    if (rc < 0)
        return rc;
    *part = NULL;
    return 1;
}

/* 'import_added': the publication.  The prepared import is attached; one
 * not prepared (yet) is waited for, or read and built here. */
int sitr_replica_import_add(sitr_replica_t *r, int64_t case_id)
{
    double t0 = now_s();
    pthread_mutex_lock(&r->prep_mu);
    prepared_t *p = find_prepared(r, case_id);
    while (p && p->state == PREP_RUNNING) {
        pthread_cond_wait(&r->prep_cv, &r->prep_mu);
        p = find_prepared(r, case_id);
    }
    if (p)
        unlink_prepared(r, p);
    pthread_mutex_unlock(&r->prep_mu);
    int inline_built = 0;
    if (!p || p->state != PREP_READY) {
        if (!p) {
            p = calloc(1, sizeof *p);
            if (!p)
                return SITR_ENOMEM;
            p->case_id = case_id;
        }
        char msg[200] = "";
        PGconn *c = ensure_conn(&r->import_conn, r->conninfo, "import change");
        int rc = c ? prepare_on(c, p, 0, msg, sizeof msg) : SITR_EDB;
        if (rc < 0) {
            apply_failed(r, c, case_id, rc, msg);
            prepared_free(p);
            return rc; /* the follower retries the change */
        }
        inline_built = 1;
        p->seconds = now_s() - t0;
    }
    double t1 = now_s();
    unsigned mask = 0;
    int rc = 0, k;
    for (size_t i = 0; rc == 0 && i < p->nimage_ids; i++)
        rc = sitr_replica_present_set(&r->image_present, (int64_t)p->image_ids[i], 1);
    if (rc == 0 && (k = attach_pdq(r, p)) != 0)
        rc = k < 0 ? k : (mask |= IN_PDQ, 0);
    if (rc == 0 && (k = attach_digests(r->ix.case_md5, &p->md5, case_id)) != 0)
        rc = k < 0 ? k : (mask |= IN_MD5, 0);
    if (rc == 0 && (k = attach_digests(r->ix.case_sha256, &p->sha, case_id)) != 0)
        rc = k < 0 ? k : (mask |= IN_SHA, 0);
    if (mask && add_rec(r, case_id, mask) < 0 && rc == 0)
        rc = SITR_ENOMEM;
    if (rc == 0) {
        pthread_mutex_lock(&r->prep_mu);
        r->last_attach_s = now_s() - t1;
        if (inline_built)
            r->imports_inline++;
        else
            r->imports_attached++;
        pthread_mutex_unlock(&r->prep_mu);
        sitr_log(SITR_LOG_INFO, NULL,
                 "import %" PRId64 " published: %zu entries matched after %.3f s (%s %.2f s, "
                 "attach %.4f s)",
                 case_id, p->entries, now_s() - t0,
                 inline_built ? "read and built now in" : "prepared in", p->seconds,
                 r->last_attach_s);
    }
    prepared_free(p);
    return rc;
}

static int has_id(const int64_t *v, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] == id)
            return 1;
        if (v[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

typedef struct idset {
    const int64_t *v;
    size_t n;
} idset_t;

static int drop_pdq(uint64_t id, void *arg)
{
    const idset_t *s = arg;
    return !sitr_vid_is_frame(id) && has_id(s->v, s->n, SITR_REPLICA_IMAGE_OF(id));
}

static int drop_digest(uint64_t id, void *arg)
{
    const idset_t *s = arg;
    return !sitr_vid_is_frame(id) && has_id(s->v, s->n, (int64_t)id);
}

/* 'import_removed': a queued or prepared copy is dropped; an attached
 * segment or table leaves as a whole; whatever a merge or the initial load
 * put elsewhere (every image of the case, erased by now, so by id) leaves
 * in one scan of that index. */
int sitr_replica_import_drop(sitr_replica_t *r, int64_t case_id)
{
    double t0 = now_s();
    pthread_mutex_lock(&r->prep_mu);
    prepared_t *p = find_prepared(r, case_id);
    /* Still staged here (its publication would have taken it off the
     * list): nothing of it is in the indexes. */
    int staged = p != NULL;
    if (p && p->state == PREP_RUNNING) {
        p->cancelled = 1; /* the preparer frees it when done */
    } else if (p) {
        unlink_prepared(r, p);
        prepared_free(p);
    }
    pthread_mutex_unlock(&r->prep_mu);

    attach_rec_t *a = find_rec(r, case_id);
    unsigned had = a ? a->mask : 0;
    /* Not attached by us (loaded by the initial load), or merged since:
     * those indexes are scanned. */
    int unknown = !a && !staged;
    size_t gone = 0;
    unsigned scan = 0;
    size_t k = sitr_index_detach(r->ix.case_pdq, (uint64_t)case_id);
    gone += k;
    if (unknown || ((had & IN_PDQ) && k == 0))
        scan |= IN_PDQ;
    k = sitr_digest_index_detach(r->ix.case_md5, (uint64_t)case_id);
    gone += k;
    if (unknown || ((had & IN_MD5) && k == 0))
        scan |= IN_MD5;
    k = sitr_digest_index_detach(r->ix.case_sha256, (uint64_t)case_id);
    gone += k;
    if (unknown || ((had & IN_SHA) && k == 0))
        scan |= IN_SHA;
    if (scan) {
        char msg[200] = "";
        int64_t *ids = NULL;
        size_t n = 0;
        PGconn *c = ensure_conn(&r->import_conn, r->conninfo, "import change");
        int rc = c ? sitr_replica_copy_image_ids(c, case_id, &ids, &n, msg, sizeof msg) : SITR_EDB;
        if (rc < 0) {
            apply_failed(r, c, case_id, rc, msg);
            /* What was detached stays detached; the retry scans the rest. */
            if (a)
                a->mask &= ~(had & ~scan);
            return rc;
        }
        idset_t set = {ids, n};
        if (scan & IN_PDQ)
            gone += sitr_index_remove_if(r->ix.case_pdq, drop_pdq, &set);
        if (scan & IN_MD5)
            gone += sitr_digest_index_remove_if(r->ix.case_md5, drop_digest, &set);
        if (scan & IN_SHA)
            gone += sitr_digest_index_remove_if(r->ix.case_sha256, drop_digest, &set);
        for (size_t i = 0; i < n; i++)
            sitr_replica_present_set(&r->image_present, ids[i], 0);
        free(ids);
    }
    if (a)
        *a = r->attached[--r->nattached];
    pthread_mutex_lock(&r->prep_mu);
    if (scan)
        r->imports_scanned++;
    else
        r->imports_detached++;
    pthread_mutex_unlock(&r->prep_mu);
    sitr_log(SITR_LOG_INFO, NULL,
             "import %" PRId64 " withdrawn in %.3f s: %zu entries removed (%s)", case_id,
             now_s() - t0, gone, scan ? "scanned" : "detached whole");
    return 0;
}

/* The initial load rebuilt everything: nothing is attached any more. */
void sitr_replica_imports_loaded(sitr_replica_t *r)
{
    free(r->attached);
    r->attached = NULL;
    r->nattached = 0;
}

/* ---- loop thread: presence heartbeat, staged imports at start ---------- */

static void on_presence(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    sitr_replica_t *r = arg;
    (void)res;
    (void)sqlstate;
    r->presence_inflight = 0;
    if (rc < 0 && !r->warned_presence)
        sitr_log(SITR_LOG_WARN, NULL,
                 "writing this replica's presence failed: %s (sitr-admin import will not wait "
                 "for it)",
                 sitr_strerror(rc));
    r->warned_presence = rc < 0;
    sitr_replica_maybe_finish_close(r);
}

static void on_staged(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    sitr_replica_t *r = arg;
    (void)sqlstate;
    r->staged_inflight = 0;
    if (rc == 0) {
        r->staged_checked = 1;
        for (int i = 0; i < PQntuples(res); i++)
            if (sitr_replica_import_staged(r, strtoll(PQgetvalue(res, i, 0), NULL, 10)) < 0)
                r->staged_checked = 0; /* asked again at the next tick */
    }
    sitr_replica_maybe_finish_close(r);
}

/* Called by the poll timer every second once ready: the heartbeat every
 * PRESENCE_EVERY seconds (and at once when ready), and, once, the imports
 * staged before this replica's load (it missed their 'import_staged'). */
void sitr_replica_imports_tick(sitr_replica_t *r)
{
    if (r->closing)
        return;
    if (!r->staged_checked && !r->staged_inflight && r->ready) {
        r->staged_inflight = 1;
        if (sitr_db_submit(r->db, "SELECT case_id FROM staged_imports ORDER BY case_id", 0, NULL,
                           on_staged, r) < 0)
            r->staged_inflight = 0;
    }
    if (r->presence_tick-- > 0 || r->presence_inflight)
        return;
    r->presence_tick = PRESENCE_EVERY - 1;
    char pid[16], applied[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    snprintf(applied, sizeof applied, "%" PRId64, atomic_load(&r->applied));
    char host[64] = "";
    snprintf(host, sizeof host, "%.*s", (int)strcspn(r->instance, ":"), r->instance);
    const char *values[5] = {r->instance, host, pid, applied, r->ready ? "true" : "false"};
    r->presence_inflight = 1;
    if (sitr_db_submit(r->db, "SELECT sitr_replica_seen($1, $2, $3::int, $4::bigint, $5::boolean)",
                       5, values, on_presence, r) < 0)
        r->presence_inflight = 0;
}

void sitr_replica_imports_metrics(FILE *out, sitr_replica_t *r)
{
    size_t queued = 0, ready = 0;
    pthread_mutex_lock(&r->prep_mu);
    for (prepared_t *p = r->prepared; p; p = p->next) {
        if (p->state == PREP_READY)
            ready++;
        else
            queued++;
    }
    unsigned long long prepared = r->imports_prepared, attached = r->imports_attached,
                       inl = r->imports_inline, failed = r->imports_prep_failed,
                       detached = r->imports_detached, scanned = r->imports_scanned;
    double last = r->last_prepare_s;
    pthread_mutex_unlock(&r->prep_mu);
    fprintf(out,
            "# HELP sitr_replica_imports_staged Staged partner-list imports held by this replica, "
            "by state (prepared: ready to attach when published).\n"
            "# TYPE sitr_replica_imports_staged gauge\n"
            "sitr_replica_imports_staged{state=\"preparing\"} %zu\n"
            "sitr_replica_imports_staged{state=\"prepared\"} %zu\n"
            "# HELP sitr_replica_imports_prepared_total Staged imports prepared by this replica.\n"
            "# TYPE sitr_replica_imports_prepared_total counter\n"
            "sitr_replica_imports_prepared_total %llu\n"
            "# HELP sitr_replica_imports_published_total Published imports applied, by how "
            "(attached: prepared before the publication; inline: read at the publication).\n"
            "# TYPE sitr_replica_imports_published_total counter\n"
            "sitr_replica_imports_published_total{how=\"attached\"} %llu\n"
            "sitr_replica_imports_published_total{how=\"inline\"} %llu\n"
            "# HELP sitr_replica_imports_withdrawn_total Withdrawn or discarded imports removed, "
            "by how (detached: the attached segments dropped whole; scanned: by id).\n"
            "# TYPE sitr_replica_imports_withdrawn_total counter\n"
            "sitr_replica_imports_withdrawn_total{how=\"detached\"} %llu\n"
            "sitr_replica_imports_withdrawn_total{how=\"scanned\"} %llu\n"
            "# HELP sitr_replica_import_prepare_errors_total Failed preparations (retried).\n"
            "# TYPE sitr_replica_import_prepare_errors_total counter\n"
            "sitr_replica_import_prepare_errors_total %llu\n"
            "# HELP sitr_replica_import_prepare_seconds Duration of the last preparation.\n"
            "# TYPE sitr_replica_import_prepare_seconds gauge\n"
            "sitr_replica_import_prepare_seconds %.3f\n",
            queued, ready, prepared, attached, inl, detached, scanned, failed, last);
}
