/* The replica: loads the matching indexes from PostgreSQL once, then keeps
 * them current by following the change log (see replica.h).
 *
 * Initial load: one uv_queue_work job opens its own blocking libpq
 * connection (the pool is non-blocking and refuses COPY; a worker thread may
 * block), and in a repeatable-read transaction reads sitr_changes_head()
 * and exports its snapshot in the first statement, then every live case
 * image, variant and upload with binary COPY.  The uploads (the bulk) are
 * split by heap block range between this connection and a second one that
 * imports the same snapshot (SET TRANSACTION SNAPSHOT), so the two server
 * backends scan in parallel and both see exactly the rows of head's
 * snapshot; the first transaction commits only after the second is done.
 * The snapshot contains exactly the changes up to head, so following the
 * log from head on misses nothing and applies nothing twice.  Rows are
 * parsed in place (no per-row allocation of ours) into staging arrays sized
 * from the planner's row estimate; then the PDQ indexes are bulk-built
 * (2 threads) while a third thread bulk-builds the four digest tables.
 * A failed load (database down) empties the indexes and is retried every
 * second.
 *
 * Following: a wake-up (NOTIFY on sitr_changes, the "catch up now" of a
 * (re)subscribed listener, or a 1 s poll timer in case LISTEN is broken)
 * reads sitr_changes_after(applied, 1000) through the async pool on the
 * loop thread and applies the batch in a worker (removals scan the id
 * arrays, which takes tens of milliseconds at 10M entries: not for the loop
 * thread); then it reads again until a batch comes back short.  Exactly one
 * job (load, fetch or apply) is in flight at a time, so changes are applied
 * in seq order, each once; a change that fails to apply (out of memory) is
 * retried, and `applied` never passes it.  Insertions are idempotent per
 * (hash, id) pair, so retrying a half-applied change is harmless.
 *
 * Withdrawal: sitr_case_withdraw logs one case_image_removed per image
 * before its case_withdrawn row, in the same transaction, so removals work
 * by image id (the erased rows have no hashes left) and case_withdrawn
 * itself needs no work here.
 *
 * "Present" bitsets (image ids, upload ids) remember which ids entered the
 * indexes, so that the linear remove-by-id scans run only for ids that are
 * really there (removals, replaced upload hashes), never for new uploads.
 * They are touched only by the one job in flight.
 *
 * Threads: the struct is owned by the loop thread; `applied` is atomic so
 * the matcher thread may read it; the indexes are thread-safe. */
#include "match/replica.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sitr/err_service.h>
#include <sitr/hex.h>
#include <sitr/pdq.h>

#include "core/log.h"
#include "core/metrics.h"

#define POLL_MS 1000
#define FETCH_LIMIT 1000
#define LOAD_THREADS 2
/* Ids below this are tracked in the present bitsets (32 MB each at most);
 * larger ids are treated as "maybe present" (removals always scan). */
#define PRESENT_MAX_ID ((int64_t)1 << 28)

typedef struct bitset {
    uint64_t *w;
    size_t nwords;
} bitset_t;

typedef enum change_kind {
    CH_OTHER = 0,
    CH_IMAGE_ADDED,
    CH_IMAGE_REMOVED,
    CH_UPLOAD_ADDED,
    CH_UPLOAD_REMOVED
} change_kind_t;

/* One change row, decoded on the loop thread for the apply job. */
typedef struct change {
    int64_t seq, entity;
    change_kind_t kind;
    int has_pdq, has_md5, has_sha;
    int quality;
    int nvariants;
    sitr_pdq_t pdq;
    sitr_pdq_t variants[7];
    uint8_t md5[SITR_DIGEST_MD5_BYTES];
    uint8_t sha[SITR_DIGEST_SHA256_BYTES];
} change_t;

typedef enum job {
    JOB_NONE = 0,
    JOB_LOAD,
    JOB_FETCH,
    JOB_APPLY
} job_t;

struct sitr_replica {
    uv_loop_t *loop;
    sitr_db_t *db;
    char *conninfo;
    void (*on_ready)(void *arg);
    void *on_ready_arg;
    sitr_replica_indexes_t ix;
    bitset_t image_present, upload_present;

    _Atomic int64_t applied;
    int ready, closing, timer_closed, listening;
    job_t job;
    int again; /* a wake-up arrived while a job was in flight */
    int holds; /* sitr_replica_hold without release yet */
    uv_work_t work;
    uv_timer_t poll;

    /* load job */
    int load_rc;
    char load_msg[200];
    int64_t load_head;
    size_t load_images, load_uploads;
    double load_seconds;
    sitr_replica_load_stats_t load_stats;

    /* apply job */
    change_t *batch;
    size_t nbatch;
    int64_t batch_done; /* highest seq of the batch applied (by the job) */
    int batch_rc;

    void (*applied_cb)(int64_t seq, void *arg);
    void *applied_arg;
    void (*done)(void *arg);
    void *done_arg;

    /* statistics (loop thread) */
    unsigned long long changes_applied, fetch_errors, loads_failed;
    int warned_fetch;
};

/* ---- present bitsets -------------------------------------------------- */

/* 1 if id may be in the indexes. */
static int present_get(const bitset_t *b, int64_t id)
{
    if (id < 0 || id >= PRESENT_MAX_ID)
        return 1;
    size_t w = (size_t)id >> 6;
    return w < b->nwords && (b->w[w] >> (id & 63) & 1);
}

/* Returns 0 or SITR_ENOMEM (the bit is then unknown: callers treat ids as
 * maybe present only above PRESENT_MAX_ID, so a failed growth must fail the
 * change, which is retried). */
static int present_set(bitset_t *b, int64_t id, int on)
{
    if (id < 0 || id >= PRESENT_MAX_ID)
        return 0;
    size_t w = (size_t)id >> 6;
    if (w >= b->nwords) {
        if (!on)
            return 0;
        size_t n = b->nwords ? b->nwords : 1024;
        while (n <= w)
            n *= 2;
        uint64_t *nw = realloc(b->w, n * sizeof *nw);
        if (!nw)
            return SITR_ENOMEM;
        memset(nw + b->nwords, 0, (n - b->nwords) * sizeof *nw);
        b->w = nw;
        b->nwords = n;
    }
    if (on)
        b->w[w] |= (uint64_t)1 << (id & 63);
    else
        b->w[w] &= ~((uint64_t)1 << (id & 63));
    return 0;
}

static void present_clear(bitset_t *b)
{
    free(b->w);
    b->w = NULL;
    b->nwords = 0;
}

/* ---- index mutations shared by load and follow ------------------------ */

static void remove_image(sitr_replica_t *r, int64_t id)
{
    if (!present_get(&r->image_present, id))
        return;
    sitr_index_remove_ids(r->ix.case_pdq, SITR_REPLICA_CASE_PDQ_ID(id, 0),
                          ~(uint64_t)((1u << SITR_REPLICA_VARIANT_BITS) - 1));
    sitr_digest_index_remove_ids(r->ix.case_md5, (uint64_t)id, ~(uint64_t)0);
    sitr_digest_index_remove_ids(r->ix.case_sha256, (uint64_t)id, ~(uint64_t)0);
    present_set(&r->image_present, id, 0);
}

static void remove_upload(sitr_replica_t *r, int64_t id)
{
    if (!present_get(&r->upload_present, id))
        return;
    sitr_index_remove_ids(r->ix.upload_pdq, (uint64_t)id, ~(uint64_t)0);
    sitr_digest_index_remove_ids(r->ix.upload_md5, (uint64_t)id, ~(uint64_t)0);
    sitr_digest_index_remove_ids(r->ix.upload_sha256, (uint64_t)id, ~(uint64_t)0);
    present_set(&r->upload_present, id, 0);
}

/* Applies one change; 0 or < 0 (nothing to undo: a retry re-inserts the
 * same pairs, which is a no-op for those already in). */
static int apply_change(sitr_replica_t *r, const change_t *c)
{
    int rc = 0;
    switch (c->kind) {
    case CH_IMAGE_ADDED:
        if (!c->has_pdq && !c->has_md5 && !c->has_sha)
            return 0; /* erased since: its removal follows in the log */
        if ((rc = present_set(&r->image_present, c->entity, 1)) < 0)
            return rc;
        if (c->has_pdq && c->quality >= SITR_PDQ_MIN_QUALITY) {
            rc = sitr_index_insert(r->ix.case_pdq, &c->pdq, SITR_REPLICA_CASE_PDQ_ID(c->entity, 0));
            for (int v = 0; rc >= 0 && v < c->nvariants; v++)
                rc = sitr_index_insert(r->ix.case_pdq, &c->variants[v],
                                       SITR_REPLICA_CASE_PDQ_ID(c->entity, v + 1));
        }
        if (rc >= 0 && c->has_md5)
            rc = sitr_digest_index_insert(r->ix.case_md5, c->md5, (uint64_t)c->entity);
        if (rc >= 0 && c->has_sha)
            rc = sitr_digest_index_insert(r->ix.case_sha256, c->sha, (uint64_t)c->entity);
        return rc < 0 ? rc : 0;
    case CH_IMAGE_REMOVED:
        remove_image(r, c->entity);
        return 0;
    case CH_UPLOAD_ADDED:
        /* New, or hashes replaced (or un-removed): drop what was there. */
        remove_upload(r, c->entity);
        if (!c->has_pdq && !c->has_md5 && !c->has_sha)
            return 0; /* removed since */
        if ((rc = present_set(&r->upload_present, c->entity, 1)) < 0)
            return rc;
        if (c->has_pdq && c->quality >= SITR_PDQ_MIN_QUALITY)
            rc = sitr_index_insert(r->ix.upload_pdq, &c->pdq, (uint64_t)c->entity);
        if (rc >= 0 && c->has_md5)
            rc = sitr_digest_index_insert(r->ix.upload_md5, c->md5, (uint64_t)c->entity);
        if (rc >= 0 && c->has_sha)
            rc = sitr_digest_index_insert(r->ix.upload_sha256, c->sha, (uint64_t)c->entity);
        return rc < 0 ? rc : 0;
    case CH_UPLOAD_REMOVED:
        remove_upload(r, c->entity);
        return 0;
    case CH_OTHER:
        return 0;
    }
    return 0;
}

static void clear_indexes(sitr_replica_t *r)
{
    /* mask 0: every id matches. */
    sitr_index_remove_ids(r->ix.case_pdq, 0, 0);
    sitr_index_remove_ids(r->ix.upload_pdq, 0, 0);
    sitr_digest_index_remove_ids(r->ix.case_md5, 0, 0);
    sitr_digest_index_remove_ids(r->ix.case_sha256, 0, 0);
    sitr_digest_index_remove_ids(r->ix.upload_md5, 0, 0);
    sitr_digest_index_remove_ids(r->ix.upload_sha256, 0, 0);
    present_clear(&r->image_present);
    present_clear(&r->upload_present);
}

/* ---- initial load (worker thread) ------------------------------------- */

/* Where the time of the last load went (see sitr_replica_load_stats). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct entries {
    sitr_index_entry_t *v;
    size_t n, cap;
} entries_t;

/* Staged digest pairs: keys (key_len bytes each) and ids side by side, the
 * layout sitr_digest_index_bulk_build reads. */
typedef struct digests {
    uint8_t *keys;
    uint64_t *ids;
    size_t n, cap, key_len;
} digests_t;

/* Everything one COPY connection collected. */
typedef struct stage {
    entries_t case_pdq, upload_pdq;
    digests_t case_md5, case_sha, upload_md5, upload_sha;
    size_t images, variants, uploads;
} stage_t;

static void stage_init(stage_t *s)
{
    memset(s, 0, sizeof *s);
    s->case_md5.key_len = s->upload_md5.key_len = SITR_DIGEST_MD5_BYTES;
    s->case_sha.key_len = s->upload_sha.key_len = SITR_DIGEST_SHA256_BYTES;
}

static void digests_free(digests_t *d)
{
    free(d->keys);
    free(d->ids);
    d->keys = NULL;
    d->ids = NULL;
    d->n = d->cap = 0;
}

static void stage_free(stage_t *s)
{
    free(s->case_pdq.v);
    free(s->upload_pdq.v);
    s->case_pdq.v = s->upload_pdq.v = NULL;
    digests_free(&s->case_md5);
    digests_free(&s->case_sha);
    digests_free(&s->upload_md5);
    digests_free(&s->upload_sha);
}

/* Capacity hints come from the planner's row estimate: untouched capacity
 * costs only address space, a too small one costs a doubling realloc. */
static int entries_reserve(entries_t *e, size_t cap)
{
    if (cap <= e->cap)
        return 0;
    sitr_index_entry_t *nv = realloc(e->v, cap * sizeof *nv);
    if (!nv)
        return SITR_ENOMEM;
    e->v = nv;
    e->cap = cap;
    return 0;
}

static int entries_push(entries_t *e, const uint8_t *hash, uint64_t id)
{
    if (e->n == e->cap && entries_reserve(e, e->cap ? e->cap * 2 : 65536) < 0)
        return SITR_ENOMEM;
    memcpy(e->v[e->n].hash.b, hash, SITR_PDQ_BYTES);
    e->v[e->n].id = id;
    e->n++;
    return 0;
}

static int digests_reserve(digests_t *d, size_t cap)
{
    if (cap <= d->cap)
        return 0;
    uint8_t *nk = realloc(d->keys, cap * d->key_len);
    if (!nk)
        return SITR_ENOMEM;
    d->keys = nk;
    uint64_t *ni = realloc(d->ids, cap * sizeof *ni);
    if (!ni)
        return SITR_ENOMEM;
    d->ids = ni;
    d->cap = cap;
    return 0;
}

static int digests_push(digests_t *d, const uint8_t *key, uint64_t id)
{
    if (d->n == d->cap && digests_reserve(d, d->cap ? d->cap * 2 : 65536) < 0)
        return SITR_ENOMEM;
    memcpy(d->keys + d->n * d->key_len, key, d->key_len);
    d->ids[d->n] = id;
    d->n++;
    return 0;
}

/* A field of a binary COPY row: len -1 = NULL. */
typedef struct field {
    const uint8_t *p;
    int32_t len;
} field_t;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int16_t be16(const uint8_t *p)
{
    return (int16_t)((uint16_t)p[0] << 8 | p[1]);
}

/* Splits one binary COPY tuple into nf fields (pointers into the message,
 * no copies); skips the file header when *header is 0.  Returns 1 for a
 * row, 0 for the trailer, < 0 if malformed. */
static int copy_row(const uint8_t *p, size_t n, int *header, field_t *f, int nf)
{
    static const uint8_t sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
    const uint8_t *end = p + n;
    if (!*header) {
        if (n < 19 || memcmp(p, sig, sizeof sig) != 0)
            return SITR_EPROTO;
        uint32_t ext = be32(p + 15);
        if (ext > n - 19)
            return SITR_EPROTO;
        p += 19 + ext;
        *header = 1;
    }
    if (end - p < 2)
        return SITR_EPROTO;
    int16_t cnt = be16(p);
    p += 2;
    if (cnt == -1)
        return 0;
    if (cnt != nf)
        return SITR_EPROTO;
    for (int i = 0; i < nf; i++) {
        if (end - p < 4)
            return SITR_EPROTO;
        int32_t len = (int32_t)be32(p);
        p += 4;
        if (len < -1 || (len > 0 && end - p < len))
            return SITR_EPROTO;
        f[i].p = p;
        f[i].len = len;
        if (len > 0)
            p += len;
    }
    return 1;
}

static int field_hash(const field_t *f, size_t len)
{
    return f->len == (int32_t)len;
}

typedef int (*row_fn)(stage_t *s, const field_t *f);

/* image_id int8, pdq bytea, quality int2, md5 bytea, sha256 bytea */
static int image_row(stage_t *s, const field_t *f)
{
    if (f[0].len != 8)
        return SITR_EPROTO;
    int64_t id = be64(f[0].p);
    int rc = 0;
    s->images++;
    if (field_hash(&f[1], SITR_PDQ_BYTES) && f[2].len == 2 &&
        be16(f[2].p) >= SITR_PDQ_MIN_QUALITY)
        rc = entries_push(&s->case_pdq, f[1].p, SITR_REPLICA_CASE_PDQ_ID(id, 0));
    if (rc == 0 && field_hash(&f[3], SITR_DIGEST_MD5_BYTES))
        rc = digests_push(&s->case_md5, f[3].p, (uint64_t)id);
    if (rc == 0 && field_hash(&f[4], SITR_DIGEST_SHA256_BYTES))
        rc = digests_push(&s->case_sha, f[4].p, (uint64_t)id);
    return rc;
}

/* image_id int8, variant int2, pdq bytea, quality int2 */
static int variant_row(stage_t *s, const field_t *f)
{
    if (f[0].len != 8 || f[1].len != 2 || !field_hash(&f[2], SITR_PDQ_BYTES))
        return SITR_EPROTO;
    int variant = be16(f[1].p);
    if (variant < 1 || variant > 7)
        return SITR_EPROTO;
    s->variants++;
    if (f[3].len != 2 || be16(f[3].p) < SITR_PDQ_MIN_QUALITY)
        return 0;
    return entries_push(&s->case_pdq, f[2].p, SITR_REPLICA_CASE_PDQ_ID(be64(f[0].p), variant));
}

/* upload_id int8, pdq bytea, quality int2, md5 bytea, sha256 bytea */
static int upload_row(stage_t *s, const field_t *f)
{
    if (f[0].len != 8)
        return SITR_EPROTO;
    int64_t id = be64(f[0].p);
    int rc = 0;
    s->uploads++;
    if (field_hash(&f[1], SITR_PDQ_BYTES) && f[2].len == 2 &&
        be16(f[2].p) >= SITR_PDQ_MIN_QUALITY)
        rc = entries_push(&s->upload_pdq, f[1].p, (uint64_t)id);
    if (rc == 0 && field_hash(&f[3], SITR_DIGEST_MD5_BYTES))
        rc = digests_push(&s->upload_md5, f[3].p, (uint64_t)id);
    if (rc == 0 && field_hash(&f[4], SITR_DIGEST_SHA256_BYTES))
        rc = digests_push(&s->upload_sha, f[4].p, (uint64_t)id);
    return rc;
}

/* Runs one COPY ... TO STDOUT (FORMAT binary) and feeds each row to fn.
 * msg (msglen bytes) receives the reason of a failure. */
static int copy_rows(PGconn *c, const char *sql, int nf, row_fn fn, stage_t *s, char *msg,
                     size_t msglen)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        snprintf(msg, msglen, "COPY failed: %s", PQerrorMessage(c));
        PQclear(res);
        return SITR_EDB;
    }
    PQclear(res);
    int rc = 0, header = 0;
    field_t f[8];
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(c, &buf, 0);
        if (n == -1)
            break;
        if (n < 0) {
            snprintf(msg, msglen, "COPY read failed: %s", PQerrorMessage(c));
            rc = SITR_EDB;
            break;
        }
        if (rc == 0) {
            int k = copy_row((const uint8_t *)buf, (size_t)n, &header, f, nf);
            if (k < 0) {
                snprintf(msg, msglen, "malformed COPY data");
                rc = k;
            } else if (k == 1 && (rc = fn(s, f)) < 0) {
                snprintf(msg, msglen, "cannot store a loaded row: %s", sitr_strerror(rc));
            }
        }
        PQfreemem(buf);
    }
    while ((res = PQgetResult(c)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(msg, msglen, "COPY failed: %s", PQerrorMessage(c));
            rc = SITR_EDB;
        }
        PQclear(res);
    }
    return rc;
}

static int exec_ok(PGconn *c, const char *sql, PGresult **keep, char *msg, size_t msglen)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(msg, msglen, "%s", PQerrorMessage(c));
        PQclear(res);
        return SITR_EDB;
    }
    if (keep)
        *keep = res;
    else
        PQclear(res);
    return 0;
}

/* The uploads are read straight from the table with index_uploads' WHERE
 * (removed_at IS NULL), split by heap block so that each half is a TID
 * range scan: [0, split) on the first connection, [split, end) on the
 * second.  The two ranges cover every tuple whatever `split` is (it comes
 * from the table's size, read outside the snapshot), so the split only
 * balances the work and never decides what is loaded. */
#define UPLOADS_COPY                                                                          \
    "COPY (SELECT id, pdq, quality, md5, sha256 FROM uploads WHERE removed_at IS NULL AND %s) " \
    "TO STDOUT (FORMAT binary)"

static int copy_uploads(PGconn *c, int64_t from_block, int64_t to_block, stage_t *s, char *msg,
                        size_t msglen)
{
    char cond[96], sql[256];
    if (to_block >= 0)
        snprintf(cond, sizeof cond, "ctid >= '(%" PRId64 ",0)'::tid AND ctid < '(%" PRId64 ",0)'::tid",
                 from_block, to_block);
    else
        snprintf(cond, sizeof cond, "ctid >= '(%" PRId64 ",0)'::tid", from_block);
    snprintf(sql, sizeof sql, UPLOADS_COPY, cond);
    return copy_rows(c, sql, 5, upload_row, s, msg, msglen);
}

/* The second connection: imports the first one's snapshot, then copies the
 * upper block range of uploads. */
typedef struct helper {
    const char *conninfo;
    char snapshot[64];
    int64_t from_block;
    stage_t st;
    int rc, connected;
    double cpu;
    char msg[200];
} helper_t;

static void *helper_main(void *arg)
{
    helper_t *h = arg;
    double c0 = thread_cpu_s();
    PGconn *c = PQconnectdb(h->conninfo);
    char sql[128];
    snprintf(sql, sizeof sql, "SET TRANSACTION SNAPSHOT '%s'", h->snapshot);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(h->msg, sizeof h->msg, "cannot connect: %s", PQerrorMessage(c));
        h->rc = SITR_EDB;
    } else if ((h->rc = exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, h->msg,
                                sizeof h->msg)) == 0 &&
               (h->rc = exec_ok(c, sql, NULL, h->msg, sizeof h->msg)) == 0) {
        h->connected = 1;
        h->rc = copy_uploads(c, h->from_block, -1, &h->st, h->msg, sizeof h->msg);
        if (h->rc == 0)
            h->rc = exec_ok(c, "COMMIT", NULL, h->msg, sizeof h->msg);
    }
    PQfinish(c);
    h->cpu = thread_cpu_s() - c0;
    return NULL;
}

/* Digest tables are built on their own thread while the PDQ indexes build
 * on the calling one; each staged array is freed once its table is built. */
typedef struct digest_job {
    sitr_replica_t *r;
    stage_t *a, *b;
    int rc;
    double seconds;
} digest_job_t;

static int build_digest(sitr_digest_index_t *d, digests_t *x, digests_t *y)
{
    sitr_digest_part_t parts[2] = {{x->keys, x->ids, x->n}, {y->keys, y->ids, y->n}};
    int rc = sitr_digest_index_bulk_build(d, parts, 2);
    digests_free(x);
    digests_free(y);
    return rc;
}

static void *digest_main(void *arg)
{
    digest_job_t *j = arg;
    double t0 = now_s();
    sitr_replica_t *r = j->r;
    j->rc = build_digest(r->ix.case_md5, &j->a->case_md5, &j->b->case_md5);
    if (j->rc == 0)
        j->rc = build_digest(r->ix.case_sha256, &j->a->case_sha, &j->b->case_sha);
    if (j->rc == 0)
        j->rc = build_digest(r->ix.upload_md5, &j->a->upload_md5, &j->b->upload_md5);
    if (j->rc == 0)
        j->rc = build_digest(r->ix.upload_sha256, &j->a->upload_sha, &j->b->upload_sha);
    j->seconds = now_s() - t0;
    return NULL;
}

/* Appends b's entries to a's array (b is freed). */
static int entries_join(entries_t *a, entries_t *b)
{
    if (b->n && entries_reserve(a, a->n + b->n) < 0)
        return SITR_ENOMEM;
    if (b->n)
        memcpy(a->v + a->n, b->v, b->n * sizeof *b->v);
    a->n += b->n;
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
    return 0;
}

/* Marks every staged id present (before the digest arrays are freed). */
static int mark_present(sitr_replica_t *r, const stage_t *s)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->case_pdq.n; i++)
        rc = present_set(&r->image_present, SITR_REPLICA_IMAGE_OF(s->case_pdq.v[i].id), 1);
    for (size_t i = 0; rc == 0 && i < s->case_md5.n; i++)
        rc = present_set(&r->image_present, (int64_t)s->case_md5.ids[i], 1);
    for (size_t i = 0; rc == 0 && i < s->case_sha.n; i++)
        rc = present_set(&r->image_present, (int64_t)s->case_sha.ids[i], 1);
    for (size_t i = 0; rc == 0 && i < s->upload_pdq.n; i++)
        rc = present_set(&r->upload_present, (int64_t)s->upload_pdq.v[i].id, 1);
    for (size_t i = 0; rc == 0 && i < s->upload_md5.n; i++)
        rc = present_set(&r->upload_present, (int64_t)s->upload_md5.ids[i], 1);
    for (size_t i = 0; rc == 0 && i < s->upload_sha.n; i++)
        rc = present_set(&r->upload_present, (int64_t)s->upload_sha.ids[i], 1);
    return rc;
}

/* Reserves staging for about `rows` rows of each kind (planner estimate). */
static int stage_reserve(stage_t *s, double images, double uploads)
{
    size_t ni = images > 0 && images < 1e10 ? (size_t)(images * 1.05) + 1024 : 0;
    size_t nu = uploads > 0 && uploads < 1e10 ? (size_t)(uploads * 1.05) + 1024 : 0;
    int rc = 0;
    if (ni)
        rc = entries_reserve(&s->case_pdq, ni * 8);
    if (rc == 0 && ni)
        rc = digests_reserve(&s->case_md5, ni);
    if (rc == 0 && ni)
        rc = digests_reserve(&s->case_sha, ni);
    if (rc == 0 && nu)
        rc = entries_reserve(&s->upload_pdq, nu);
    if (rc == 0 && nu)
        rc = digests_reserve(&s->upload_md5, nu);
    if (rc == 0 && nu)
        rc = digests_reserve(&s->upload_sha, nu);
    return rc;
}

static int load_all(sitr_replica_t *r, PGconn *c)
{
    sitr_replica_load_stats_t *ls = &r->load_stats;
    char *msg = r->load_msg;
    size_t msglen = sizeof r->load_msg;
    double t0 = now_s(), c0 = thread_cpu_s();
    PGresult *res = NULL;
    stage_t a;
    helper_t *h = calloc(1, sizeof *h);
    if (!h)
        return SITR_ENOMEM;
    stage_init(&a);
    stage_init(&h->st);
    h->conninfo = r->conninfo;
    int rc = exec_ok(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, msg, msglen);
    /* The first statement fixes the snapshot: head and the rows agree, and
     * the exported snapshot lets the second connection see exactly the same
     * rows. */
    if (rc == 0)
        rc = exec_ok(c,
                     "SELECT sitr_changes_head(), pg_export_snapshot(), "
                     "pg_relation_size('uploads') / current_setting('block_size')::int8, "
                     "(SELECT reltuples FROM pg_class WHERE oid = 'uploads'::regclass), "
                     "(SELECT reltuples FROM pg_class WHERE oid = 'case_images'::regclass)",
                     &res, msg, msglen);
    int64_t blocks = 0;
    double est_images = 0, est_uploads = 0;
    if (rc == 0) {
        if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1) ||
            strlen(PQgetvalue(res, 0, 1)) >= sizeof h->snapshot) {
            snprintf(msg, msglen, "sitr_changes_head() returned no row");
            rc = SITR_EDB;
        } else {
            r->load_head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            snprintf(h->snapshot, sizeof h->snapshot, "%s", PQgetvalue(res, 0, 1));
            blocks = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
            est_uploads = strtod(PQgetvalue(res, 0, 3), NULL);
            est_images = strtod(PQgetvalue(res, 0, 4), NULL);
        }
        PQclear(res);
    }
    /* Small tables are not worth a second connection. */
    int split = rc == 0 && blocks >= 64;
    h->from_block = split ? blocks / 2 : 0;
    if (rc == 0)
        rc = stage_reserve(&a, est_images, split ? est_uploads / 2 : est_uploads);
    if (rc == 0 && split)
        rc = stage_reserve(&h->st, 0, est_uploads / 2);
    if (rc < 0 && !msg[0])
        snprintf(msg, msglen, "out of memory");
    pthread_t ht;
    int started = 0;
    if (rc == 0 && split) {
        if (pthread_create(&ht, NULL, helper_main, h) == 0)
            started = 1;
        else
            split = 0; /* this connection reads everything */
    }
    /* Unreferenced view columns (the variants sub-select) are not computed;
     * the variants come in one hash join instead of a sub-select per row. */
    if (rc == 0)
        rc = copy_rows(c,
                       "COPY (SELECT image_id, pdq, quality, md5, sha256 FROM index_case_images) "
                       "TO STDOUT (FORMAT binary)",
                       5, image_row, &a, msg, msglen);
    if (rc == 0)
        rc = copy_rows(c,
                       "COPY (SELECT v.image_id, v.variant, v.pdq, ci.quality "
                       "FROM case_image_variants v JOIN index_case_images ci "
                       "ON ci.image_id = v.image_id) TO STDOUT (FORMAT binary)",
                       4, variant_row, &a, msg, msglen);
    if (rc == 0)
        rc = split ? copy_uploads(c, 0, h->from_block, &a, msg, msglen)
                   : copy_uploads(c, 0, -1, &a, msg, msglen);
    if (started) {
        pthread_join(ht, NULL);
        if (rc == 0 && h->rc < 0 && !h->connected) {
            /* No second connection (e.g. max_connections): read its range
             * here, still inside the exporting snapshot. */
            stage_free(&h->st);
            stage_init(&h->st);
            rc = copy_uploads(c, h->from_block, -1, &a, msg, msglen);
        } else if (rc == 0 && h->rc < 0) {
            snprintf(msg, msglen, "second connection: %.150s", h->msg);
            rc = h->rc;
        }
    }
    /* COMMIT only after the helper is done: its imported snapshot must
     * stay valid while it reads (pg_export_snapshot's rule). */
    if (rc == 0)
        rc = exec_ok(c, "COMMIT", NULL, msg, msglen);
    ls->copy_s = now_s() - t0;
    ls->copy_cpu_s = thread_cpu_s() - c0 + h->cpu;
    ls->connections = started && h->connected ? 2 : 1;
    r->load_images = a.images;
    r->load_uploads = a.uploads + h->st.uploads;
    double t1 = now_s();
    if (rc == 0)
        rc = mark_present(r, &a);
    if (rc == 0)
        rc = mark_present(r, &h->st);
    ls->present_s = now_s() - t1;
    digest_job_t dj = {r, &a, &h->st, 0, 0};
    pthread_t dt;
    int dstarted = 0;
    if (rc == 0) {
        if (pthread_create(&dt, NULL, digest_main, &dj) == 0)
            dstarted = 1;
        else
            digest_main(&dj);
    }
    double t2 = now_s();
    if (rc == 0)
        rc = entries_join(&a.case_pdq, &h->st.case_pdq);
    if (rc == 0)
        rc = entries_join(&a.upload_pdq, &h->st.upload_pdq);
    if (rc == 0) {
        rc = sitr_index_bulk_build(r->ix.case_pdq, a.case_pdq.v, a.case_pdq.n, LOAD_THREADS);
        free(a.case_pdq.v);
        a.case_pdq.v = NULL;
    }
    if (rc == 0)
        rc = sitr_index_bulk_build(r->ix.upload_pdq, a.upload_pdq.v, a.upload_pdq.n, LOAD_THREADS);
    ls->pdq_build_s = now_s() - t2;
    if (dstarted)
        pthread_join(dt, NULL);
    ls->digest_build_s = dj.seconds;
    if (rc == 0 && dj.rc < 0)
        rc = dj.rc;
    if (rc < 0 && !msg[0])
        snprintf(msg, msglen, "index build failed: %s", sitr_strerror(rc));
    ls->build_s = now_s() - t1;
    stage_free(&a);
    stage_free(&h->st);
    free(h);
    return rc;
}

static void load_work(uv_work_t *w)
{
    sitr_replica_t *r = w->data;
    double t0 = now_s();
    r->load_msg[0] = 0;
    r->load_images = r->load_uploads = 0;
    memset(&r->load_stats, 0, sizeof r->load_stats);
    clear_indexes(r);
    PGconn *c = PQconnectdb(r->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(r->load_msg, sizeof r->load_msg, "cannot connect: %s", PQerrorMessage(c));
        r->load_rc = SITR_EDB;
    } else {
        r->load_rc = load_all(r, c);
    }
    PQfinish(c);
    if (r->load_rc < 0)
        clear_indexes(r);
    /* libpq messages end with a newline. */
    size_t l = strlen(r->load_msg);
    while (l && (r->load_msg[l - 1] == '\n' || r->load_msg[l - 1] == ' '))
        r->load_msg[--l] = 0;
    r->load_seconds = now_s() - t0;
    r->load_stats.total_s = r->load_seconds;
}

/* ---- the job state machine (loop thread) ------------------------------ */

static void kick(sitr_replica_t *r);
static void maybe_finish_close(sitr_replica_t *r);

static void set_applied(sitr_replica_t *r, int64_t seq)
{
    atomic_store(&r->applied, seq);
    if (r->applied_cb)
        r->applied_cb(seq, r->applied_arg);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    (void)channel;
    (void)payload; /* a hint only: we always read after `applied` */
    sitr_replica_t *r = arg;
    if (!r->closing)
        kick(r);
}

static void load_done(uv_work_t *w, int status)
{
    sitr_replica_t *r = w->data;
    r->job = JOB_NONE;
    if (r->closing) {
        maybe_finish_close(r);
        return;
    }
    if (status != 0 || r->load_rc < 0) {
        r->loads_failed++;
        sitr_log(SITR_LOG_WARN, NULL, "index load failed (retrying): %s",
                 r->load_msg[0] ? r->load_msg : "cancelled");
        return; /* the poll timer retries */
    }
    sitr_log(SITR_LOG_INFO, NULL,
             "index loaded in %.2f s: %zu case images (%zu PDQ entries), %zu uploads, "
             "change log at %" PRId64,
             r->load_seconds, r->load_images, sitr_index_size(r->ix.case_pdq), r->load_uploads,
             r->load_head);
    const sitr_replica_load_stats_t *ls = &r->load_stats;
    sitr_log(SITR_LOG_DEBUG, NULL,
             "index load phases: copy %.2f s (client CPU %.2f s, %d connections), present %.2f s, "
             "build %.2f s (PDQ %.2f s, digests %.2f s)",
             ls->copy_s, ls->copy_cpu_s, ls->connections, ls->present_s, ls->build_s,
             ls->pdq_build_s, ls->digest_build_s);
    r->ready = 1;
    set_applied(r, r->load_head);
    if (!r->listening) {
        if (sitr_db_listen(r->db, "sitr_changes", on_notify, r) == 0)
            r->listening = 1;
        else
            sitr_log(SITR_LOG_WARN, NULL, "cannot LISTEN for changes; polling only");
    }
    if (r->on_ready)
        r->on_ready(r->on_ready_arg);
    kick(r);
}

static void start_load(sitr_replica_t *r)
{
    r->job = JOB_LOAD;
    r->work.data = r;
    if (uv_queue_work(r->loop, &r->work, load_work, load_done) != 0) {
        r->job = JOB_NONE;
        r->loads_failed++;
    }
}

static int parse_hex_field(PGresult *res, int row, int col, uint8_t *out, size_t n)
{
    if (PQgetisnull(res, row, col))
        return 0;
    const char *s = PQgetvalue(res, row, col);
    return sitr_hex_decode(s, strlen(s), out, n) == 0 ? 1 : SITR_EPROTO;
}

static change_kind_t parse_kind(const char *k)
{
    if (strcmp(k, "case_image_added") == 0)
        return CH_IMAGE_ADDED;
    if (strcmp(k, "case_image_removed") == 0)
        return CH_IMAGE_REMOVED;
    if (strcmp(k, "upload_added") == 0)
        return CH_UPLOAD_ADDED;
    if (strcmp(k, "upload_removed") == 0)
        return CH_UPLOAD_REMOVED;
    return CH_OTHER;
}

/* Decodes the rows of a fetch; < 0 if one is malformed (nothing applied). */
static int parse_batch(sitr_replica_t *r, PGresult *res)
{
    int n = PQntuples(res);
    r->nbatch = 0;
    if (n == 0)
        return 0;
    change_t *b = calloc((size_t)n, sizeof *b);
    if (!b)
        return SITR_ENOMEM;
    int64_t prev = atomic_load(&r->applied);
    for (int i = 0; i < n; i++) {
        change_t *c = &b[i];
        c->seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        c->kind = parse_kind(PQgetvalue(res, i, 1));
        c->entity = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        if (c->seq <= prev) {
            free(b);
            return SITR_EPROTO; /* the log must come in increasing seq order */
        }
        prev = c->seq;
        int k1 = parse_hex_field(res, i, 3, c->pdq.b, SITR_PDQ_BYTES);
        c->quality = PQgetisnull(res, i, 4) ? 0 : atoi(PQgetvalue(res, i, 4));
        int k2 = parse_hex_field(res, i, 5, c->md5, sizeof c->md5);
        int k3 = parse_hex_field(res, i, 6, c->sha, sizeof c->sha);
        if (k1 < 0 || k2 < 0 || k3 < 0) {
            free(b);
            return SITR_EPROTO;
        }
        c->has_pdq = k1, c->has_md5 = k2, c->has_sha = k3;
        if (!PQgetisnull(res, i, 7)) {
            const char *s = PQgetvalue(res, i, 7);
            while (*s && c->nvariants < 7) {
                if (sitr_hex_decode(s, SITR_PDQ_HEX_LEN, c->variants[c->nvariants].b,
                                    SITR_PDQ_BYTES) < 0) {
                    free(b);
                    return SITR_EPROTO;
                }
                c->nvariants++;
                s += SITR_PDQ_HEX_LEN;
                if (*s == ',')
                    s++;
            }
        }
    }
    r->batch = b;
    r->nbatch = (size_t)n;
    return 0;
}

static void apply_work(uv_work_t *w)
{
    sitr_replica_t *r = w->data;
    r->batch_rc = 0;
    r->batch_done = atomic_load(&r->applied);
    for (size_t i = 0; i < r->nbatch; i++) {
        int rc = apply_change(r, &r->batch[i]);
        if (rc < 0) {
            r->batch_rc = rc;
            break;
        }
        r->batch_done = r->batch[i].seq;
    }
}

static void apply_done(uv_work_t *w, int status)
{
    sitr_replica_t *r = w->data;
    (void)status;
    int full = r->nbatch == FETCH_LIMIT;
    size_t n = r->nbatch;
    int64_t before = atomic_load(&r->applied);
    free(r->batch);
    r->batch = NULL;
    r->nbatch = 0;
    r->job = JOB_NONE;
    if (r->batch_done > before) {
        r->changes_applied += n; /* approximate when the batch stopped early */
        set_applied(r, r->batch_done);
    }
    if (r->closing) {
        maybe_finish_close(r);
        return;
    }
    if (r->batch_rc < 0) {
        sitr_log(SITR_LOG_ERROR, NULL, "applying change %" PRId64 " failed: %s (will retry)",
                 r->batch_done + 1, sitr_strerror(r->batch_rc));
        return; /* the poll timer retries from the failed change */
    }
    if (full || r->again) {
        r->again = 0;
        kick(r);
    }
}

static void on_fetched(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    sitr_replica_t *r = arg;
    (void)sqlstate;
    r->job = JOB_NONE;
    if (r->closing) {
        maybe_finish_close(r);
        return;
    }
    if (rc < 0) {
        r->fetch_errors++;
        if (!r->warned_fetch)
            sitr_log(SITR_LOG_WARN, NULL, "reading the change log failed: %s (retrying)",
                     sitr_strerror(rc));
        r->warned_fetch = 1;
        return;
    }
    r->warned_fetch = 0;
    rc = parse_batch(r, res);
    if (rc < 0) {
        sitr_log(SITR_LOG_ERROR, NULL, "unexpected change log rows: %s", sitr_strerror(rc));
        return;
    }
    if (r->nbatch == 0) {
        if (r->again) {
            r->again = 0;
            kick(r);
        }
        return;
    }
    r->job = JOB_APPLY;
    r->work.data = r;
    if (uv_queue_work(r->loop, &r->work, apply_work, apply_done) != 0) {
        free(r->batch);
        r->batch = NULL;
        r->nbatch = 0;
        r->job = JOB_NONE;
    }
}

/* Variants as one comma-separated hex string, in variant order. */
static const char FETCH_SQL[] =
    "SELECT seq, kind, entity_id, encode(pdq, 'hex'), quality, encode(md5, 'hex'), "
    "encode(sha256, 'hex'), (SELECT string_agg(encode(x, 'hex'), ',' ORDER BY o) "
    "FROM unnest(variants) WITH ORDINALITY AS t(x, o)) "
    "FROM sitr_changes_after($1::bigint, $2::int) ORDER BY seq";

static void kick(sitr_replica_t *r)
{
    if (r->closing || !r->ready)
        return;
    if (r->job != JOB_NONE) {
        r->again = 1;
        return;
    }
    char after[24], limit[16];
    snprintf(after, sizeof after, "%" PRId64, atomic_load(&r->applied));
    snprintf(limit, sizeof limit, "%d", FETCH_LIMIT);
    const char *values[2] = {after, limit};
    r->job = JOB_FETCH;
    r->again = 0;
    if (sitr_db_submit(r->db, FETCH_SQL, 2, values, on_fetched, r) < 0) {
        r->job = JOB_NONE; /* queue full or closing: the poll timer retries */
        r->fetch_errors++;
    }
}

static void on_poll(uv_timer_t *t)
{
    sitr_replica_t *r = t->data;
    if (r->closing)
        return;
    if (!r->ready) {
        if (r->job == JOB_NONE)
            start_load(r);
        return;
    }
    kick(r);
}

/* ---- metrics ------------------------------------------------------------ */

static void metrics_source(FILE *out, void *arg)
{
    const sitr_replica_t *r = arg;
    fprintf(out,
            "# HELP sitr_replica_ready 1 once the index is loaded.\n"
            "# TYPE sitr_replica_ready gauge\n"
            "sitr_replica_ready %d\n"
            "# HELP sitr_replica_applied_seq Highest change-log seq applied to the index.\n"
            "# TYPE sitr_replica_applied_seq gauge\n"
            "sitr_replica_applied_seq %" PRId64 "\n"
            "# HELP sitr_replica_changes_applied_total Change-log rows applied.\n"
            "# TYPE sitr_replica_changes_applied_total counter\n"
            "sitr_replica_changes_applied_total %llu\n"
            "# HELP sitr_replica_fetch_errors_total Failed reads of the change log.\n"
            "# TYPE sitr_replica_fetch_errors_total counter\n"
            "sitr_replica_fetch_errors_total %llu\n"
            "# HELP sitr_replica_load_seconds Duration of the initial index load.\n"
            "# TYPE sitr_replica_load_seconds gauge\n"
            "sitr_replica_load_seconds %.3f\n"
            "# HELP sitr_index_entries Live entries per index.\n"
            "# TYPE sitr_index_entries gauge\n"
            "sitr_index_entries{index=\"case_pdq\"} %zu\n"
            "sitr_index_entries{index=\"upload_pdq\"} %zu\n"
            "sitr_index_entries{index=\"case_md5\"} %zu\n"
            "sitr_index_entries{index=\"case_sha256\"} %zu\n"
            "sitr_index_entries{index=\"upload_md5\"} %zu\n"
            "sitr_index_entries{index=\"upload_sha256\"} %zu\n",
            r->ready, atomic_load(&((sitr_replica_t *)r)->applied), r->changes_applied,
            r->fetch_errors, r->ready ? r->load_seconds : 0.0, sitr_index_size(r->ix.case_pdq),
            sitr_index_size(r->ix.upload_pdq), sitr_digest_index_size(r->ix.case_md5),
            sitr_digest_index_size(r->ix.case_sha256), sitr_digest_index_size(r->ix.upload_md5),
            sitr_digest_index_size(r->ix.upload_sha256));
}

/* ---- life cycle --------------------------------------------------------- */

static void free_replica(sitr_replica_t *r)
{
    sitr_index_free(r->ix.case_pdq);
    sitr_index_free(r->ix.upload_pdq);
    sitr_digest_index_free(r->ix.case_md5);
    sitr_digest_index_free(r->ix.case_sha256);
    sitr_digest_index_free(r->ix.upload_md5);
    sitr_digest_index_free(r->ix.upload_sha256);
    present_clear(&r->image_present);
    present_clear(&r->upload_present);
    free(r->batch);
    free(r->conninfo);
    free(r);
}

int sitr_replica_start(const sitr_replica_opts_t *o, sitr_replica_t **out, sitr_err_t *err)
{
    *out = NULL;
    if (!o || !o->loop || !o->db || !o->database_url)
        return sitr_err_set(err, SITR_EINVAL, "replica: no database configured");
    sitr_replica_t *r = calloc(1, sizeof *r);
    if (!r)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    r->loop = o->loop;
    r->db = o->db;
    r->on_ready = o->on_ready;
    r->on_ready_arg = o->arg;
    r->conninfo = strdup(o->database_url);
    r->ix.case_pdq = sitr_index_new();
    r->ix.upload_pdq = sitr_index_new();
    r->ix.case_md5 = sitr_digest_index_new(SITR_DIGEST_MD5_BYTES);
    r->ix.case_sha256 = sitr_digest_index_new(SITR_DIGEST_SHA256_BYTES);
    r->ix.upload_md5 = sitr_digest_index_new(SITR_DIGEST_MD5_BYTES);
    r->ix.upload_sha256 = sitr_digest_index_new(SITR_DIGEST_SHA256_BYTES);
    if (!r->conninfo || !r->ix.case_pdq || !r->ix.upload_pdq || !r->ix.case_md5 ||
        !r->ix.case_sha256 || !r->ix.upload_md5 || !r->ix.upload_sha256) {
        free_replica(r);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    atomic_init(&r->applied, 0);
    uv_timer_init(r->loop, &r->poll);
    r->poll.data = r;
    uv_timer_start(&r->poll, on_poll, POLL_MS, POLL_MS);
    if (o->metrics && sitr_metrics_add_source(o->metrics, metrics_source, r) < 0)
        sitr_log(SITR_LOG_WARN, NULL, "replica metrics not exported: too many metric sources");
    start_load(r);
    *out = r;
    return 0;
}

void sitr_replica_load_stats(const sitr_replica_t *r, sitr_replica_load_stats_t *out)
{
    *out = r->load_stats;
}

int sitr_replica_is_ready(const sitr_replica_t *r)
{
    return r && r->ready;
}

const sitr_replica_indexes_t *sitr_replica_indexes(const sitr_replica_t *r)
{
    return &r->ix;
}

int64_t sitr_replica_applied_seq(const sitr_replica_t *r)
{
    return atomic_load(&((sitr_replica_t *)r)->applied);
}

void sitr_replica_on_applied(sitr_replica_t *r, void (*cb)(int64_t seq, void *arg), void *arg)
{
    r->applied_cb = cb;
    r->applied_arg = arg;
}

static void maybe_finish_close(sitr_replica_t *r)
{
    if (!r->closing || r->job != JOB_NONE || !r->timer_closed || r->holds > 0)
        return;
    void (*done)(void *) = r->done;
    void *arg = r->done_arg;
    free_replica(r);
    if (done)
        done(arg);
}

void sitr_replica_hold(sitr_replica_t *r)
{
    r->holds++;
}

void sitr_replica_release(sitr_replica_t *r)
{
    if (r->holds > 0)
        r->holds--;
    maybe_finish_close(r);
}

static void on_timer_closed(uv_handle_t *h)
{
    sitr_replica_t *r = h->data;
    r->timer_closed = 1;
    maybe_finish_close(r);
}

void sitr_replica_close(sitr_replica_t *r, void (*done)(void *arg), void *arg)
{
    if (!r) {
        if (done)
            done(arg);
        return;
    }
    if (r->closing)
        return;
    r->closing = 1;
    r->applied_cb = NULL;
    r->done = done;
    r->done_arg = arg;
    uv_timer_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, on_timer_closed);
}
