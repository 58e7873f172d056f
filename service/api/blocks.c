/* The block queue and its writer (see blocks.h).
 *
 * Two tables of aggregates, each a dense array of entries with an
 * open-addressing index (linear probing, at most half full): `pending`
 * takes new records, `sending` is the snapshot being written.  A flush
 * swaps them when `sending` is empty, sorts the snapshot (the database
 * locks rows in that order, so two replicas never deadlock on each other)
 * and sends it in batches, one database call at a time.  A batch that
 * fails for a transient reason (database unreachable, timeout, pool busy)
 * goes back into `pending` with the rest of the snapshot; a batch the
 * database refuses as malformed is dropped and counted, so it cannot block
 * the queue for ever.
 *
 * Bound: `pending` and `sending` together hold at most max_pending
 * entries; a record that would add an entry beyond that is refused.  So a
 * snapshot merged back always fits.  Failures and a full queue are logged
 * when they start and when they end, not per attempt.
 *
 * Loop thread only. */
#include "api/blocks.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sitr/err_service.h>

#include "core/log.h"

typedef struct bentry {
    int64_t target, platform;
    int64_t first_ms, last_ms;
    uint64_t count;
    int32_t day;
    uint8_t video;
} bentry_t;

/* One array parameter: a value of at most 20 digits and a sign, a comma,
 * per entry; braces and NUL. */
#define COLUMN_BYTES ((size_t)SITR_BLOCKS_BATCH * 22 + 3)

typedef struct btable {
    bentry_t *e;
    size_t n;
    uint32_t *slot; /* entry index + 1; 0 = empty */
    size_t mask;
} btable_t;

struct sitr_blocks {
    uv_loop_t *loop;
    sitr_db_t *db;
    size_t max;
    btable_t pending, sending;
    size_t pos;   /* next entry of `sending` to write */
    size_t chunk; /* entries in the call in flight */
    int inflight, closing, draining, timer_closed, failing, full;
    uv_timer_t timer;
    void (*drained)(void *arg);
    void *drained_arg;
    char *buf; /* the call's seven array parameters */
    sitr_blocks_stats_t st;
};

/* ---- tables ------------------------------------------------------------- */

static int table_init(btable_t *t, size_t max)
{
    size_t slots = 16;
    while (slots < 2 * max)
        slots *= 2;
    t->e = malloc(max * sizeof *t->e);
    t->slot = calloc(slots, sizeof *t->slot);
    t->mask = slots - 1;
    t->n = 0;
    return t->e && t->slot ? 0 : SITR_ENOMEM;
}

static void table_free(btable_t *t)
{
    free(t->e);
    free(t->slot);
}

static void table_clear(btable_t *t)
{
    if (t->n)
        memset(t->slot, 0, (t->mask + 1) * sizeof *t->slot);
    t->n = 0;
}

static size_t hash_key(const bentry_t *k)
{
    uint64_t h = (uint64_t)k->target * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t)k->platform + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
    h ^= (uint64_t)(uint32_t)k->day * 0xff51afd7ed558ccdULL + k->video;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (size_t)h;
}

static int same_key(const bentry_t *a, const bentry_t *b)
{
    return a->target == b->target && a->platform == b->platform && a->day == b->day &&
           a->video == b->video;
}

/* Finds k's entry, or the empty slot where it would go (*found 0). */
static size_t table_probe(const btable_t *t, const bentry_t *k, int *found)
{
    size_t s = hash_key(k) & t->mask;
    while (t->slot[s]) {
        if (same_key(&t->e[t->slot[s] - 1], k)) {
            *found = 1;
            return s;
        }
        s = (s + 1) & t->mask;
    }
    *found = 0;
    return s;
}

/* Adds k (count, first, last) into t: merged into its entry, or a new one
 * when room allows (allow_new).  1 added, 0 no room. */
static int table_add(btable_t *t, const bentry_t *k, int allow_new)
{
    int found;
    size_t s = table_probe(t, k, &found);
    if (found) {
        bentry_t *e = &t->e[t->slot[s] - 1];
        e->count += k->count;
        if (k->first_ms < e->first_ms)
            e->first_ms = k->first_ms;
        if (k->last_ms > e->last_ms)
            e->last_ms = k->last_ms;
        return 1;
    }
    if (!allow_new)
        return 0;
    t->e[t->n] = *k;
    t->slot[s] = (uint32_t)(t->n + 1);
    t->n++;
    return 1;
}

static int entry_cmp(const void *pa, const void *pb)
{
    const bentry_t *a = pa, *b = pb;
    if (a->video != b->video)
        return a->video < b->video ? -1 : 1;
    if (a->target != b->target)
        return a->target < b->target ? -1 : 1;
    if (a->platform != b->platform)
        return a->platform < b->platform ? -1 : 1;
    return (a->day > b->day) - (a->day < b->day);
}

/* ---- queue -------------------------------------------------------------- */

static size_t held(const sitr_blocks_t *b)
{
    return b->pending.n + b->sending.n;
}

int sitr_blocks_record(sitr_blocks_t *b, int64_t platform_id, sitr_block_target_t kind,
                       int64_t target_id)
{
    if (!b || b->closing)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    bentry_t k = {.target = target_id,
                  .platform = platform_id,
                  .first_ms = ms,
                  .last_ms = ms,
                  .count = 1,
                  .day = (int32_t)(ts.tv_sec / 86400),
                  .video = kind == SITR_BLOCK_VIDEO};
    if (!table_add(&b->pending, &k, held(b) < b->max)) {
        b->st.dropped++;
        if (!b->full)
            sitr_log(SITR_LOG_WARN, NULL,
                     "block queue full (%zu entries): new blocks are not recorded until it "
                     "drains",
                     b->max);
        b->full = 1;
        return 0;
    }
    b->st.queued++;
    return 1;
}

/* Puts back into `pending` what `sending` still holds from pos on. */
static void merge_back(sitr_blocks_t *b)
{
    for (size_t i = b->pos; i < b->sending.n; i++)
        table_add(&b->pending, &b->sending.e[i], 1); /* fits: see the bound */
    table_clear(&b->sending);
    b->pos = 0;
}

static uint64_t blocks_in(const bentry_t *e, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += e[i].count;
    return c;
}

static void maybe_free(sitr_blocks_t *b)
{
    if (!b->closing || b->inflight || !b->timer_closed)
        return;
    uint64_t lost = blocks_in(b->pending.e, b->pending.n) +
                    blocks_in(b->sending.e + b->pos, b->sending.n - b->pos);
    if (lost) {
        b->st.dropped += lost;
        sitr_log(SITR_LOG_WARN, NULL, "%" PRIu64 " blocks were never written to the database",
                 lost);
    }
    table_free(&b->pending);
    table_free(&b->sending);
    free(b->buf);
    free(b);
}

static void flush(sitr_blocks_t *b);
static void send_chunk(sitr_blocks_t *b);

static void drain_over(sitr_blocks_t *b)
{
    if (!b->draining || !b->drained)
        return;
    void (*cb)(void *) = b->drained;
    b->drained = NULL;
    cb(b->drained_arg);
}

/* The database did not take the batch at pos (rc, sqlstate). */
static void write_failed(sitr_blocks_t *b, int rc, const char *sqlstate)
{
    b->st.write_errors++;
    /* Data the database refuses (bad value, missing function) would be
     * refused again: drop that batch, keep the rest. */
    int malformed = rc == SITR_EREFUSED ||
                    (rc == SITR_EDB && sqlstate &&
                     (strncmp(sqlstate, "42", 2) == 0 || strncmp(sqlstate, "P0", 2) == 0));
    if (malformed) {
        uint64_t lost = blocks_in(b->sending.e + b->pos, b->chunk);
        b->st.dropped += lost;
        sitr_log(SITR_LOG_ERROR, NULL,
                 "the database refused %" PRIu64 " block records (SQLSTATE %s); dropped", lost,
                 sqlstate);
        b->pos += b->chunk;
    } else if (!b->failing) {
        sitr_log(SITR_LOG_WARN, NULL,
                 "block records not written: %s; kept in memory and retried every %d ms",
                 sitr_strerror(rc), SITR_BLOCKS_FLUSH_MS);
        b->failing = 1;
    }
    b->chunk = 0;
    merge_back(b);
}

static void on_written(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    (void)res;
    sitr_blocks_t *b = arg;
    b->inflight = 0;
    if (rc == 0) {
        b->st.written += blocks_in(b->sending.e + b->pos, b->chunk);
        b->pos += b->chunk;
        b->chunk = 0;
        if (b->failing)
            sitr_log(SITR_LOG_INFO, NULL, "block records written again");
        b->failing = 0;
    } else {
        write_failed(b, rc, sqlstate);
    }
    if (b->closing) {
        drain_over(b);
        maybe_free(b);
        return;
    }
    if (rc == 0 && b->pos < b->sending.n) {
        send_chunk(b);
        return;
    }
    if (rc == 0) {
        table_clear(&b->sending);
        b->pos = 0;
        if (b->full && held(b) < b->max / 2) {
            sitr_log(SITR_LOG_INFO, NULL, "block queue no longer full");
            b->full = 0;
        }
        if (b->draining && b->pending.n) {
            flush(b);
            return;
        }
    }
    drain_over(b);
}

/* Sends the next batch of `sending` (from pos) as seven array literals,
 * one per column of sitr_blocks_record. */
static void send_chunk(sitr_blocks_t *b)
{
    size_t n = b->sending.n - b->pos;
    if (n > SITR_BLOCKS_BATCH)
        n = SITR_BLOCKS_BATCH;
    char *col[7];
    const char *v[7];
    for (int c = 0; c < 7; c++) {
        col[c] = b->buf + (size_t)c * COLUMN_BYTES;
        v[c] = col[c];
        *col[c]++ = '{';
    }
    for (size_t i = 0; i < n; i++) {
        const bentry_t *e = &b->sending.e[b->pos + i];
        const char *sep = i ? "," : "";
        col[0] += sprintf(col[0], "%s%" PRId64, sep, e->platform);
        col[1] += sprintf(col[1], "%s%c", sep, e->video ? 't' : 'f');
        col[2] += sprintf(col[2], "%s%" PRId64, sep, e->target);
        col[3] += sprintf(col[3], "%s%" PRId32, sep, e->day);
        col[4] += sprintf(col[4], "%s%" PRIu64, sep, e->count);
        col[5] += sprintf(col[5], "%s%" PRId64, sep, e->first_ms);
        col[6] += sprintf(col[6], "%s%" PRId64, sep, e->last_ms);
    }
    for (int c = 0; c < 7; c++) {
        *col[c]++ = '}';
        *col[c] = '\0';
    }
    b->chunk = n;
    b->inflight = 1;
    int rc = sitr_db_submit(b->db,
                            "SELECT sitr_blocks_record($1::bigint[], $2::boolean[], "
                            "$3::bigint[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[])",
                            7, v, on_written, b);
    if (rc < 0) {
        b->inflight = 0;
        write_failed(b, rc, NULL);
        drain_over(b);
    }
}

static void flush(sitr_blocks_t *b)
{
    if (b->inflight || b->sending.n || !b->pending.n) {
        if (!b->inflight && !b->pending.n)
            drain_over(b);
        return;
    }
    btable_t t = b->pending;
    b->pending = b->sending;
    b->sending = t;
    b->pos = 0;
    /* Sorting moves entries: the snapshot's index is not used again. */
    qsort(b->sending.e, b->sending.n, sizeof *b->sending.e, entry_cmp);
    send_chunk(b);
}

static void on_timer(uv_timer_t *t)
{
    flush(t->data);
}

/* ---- life cycle ---------------------------------------------------------- */

int sitr_blocks_new(uv_loop_t *loop, sitr_db_t *db, size_t max_pending, sitr_blocks_t **out)
{
    *out = NULL;
    sitr_blocks_t *b = calloc(1, sizeof *b);
    if (!b)
        return SITR_ENOMEM;
    b->loop = loop;
    b->db = db;
    b->max = max_pending ? max_pending : 1;
    b->buf = malloc(7 * COLUMN_BYTES);
    int rc = b->buf ? 0 : SITR_ENOMEM;
    if (rc == 0)
        rc = table_init(&b->pending, b->max);
    if (rc == 0)
        rc = table_init(&b->sending, b->max);
    if (rc < 0) {
        table_free(&b->pending);
        table_free(&b->sending);
        free(b->buf);
        free(b);
        return rc;
    }
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    uv_timer_start(&b->timer, on_timer, SITR_BLOCKS_FLUSH_MS, SITR_BLOCKS_FLUSH_MS);
    *out = b;
    return 0;
}

void sitr_blocks_stats(const sitr_blocks_t *b, sitr_blocks_stats_t *out)
{
    *out = b->st;
    out->pending_entries = held(b);
    out->pending = blocks_in(b->pending.e, b->pending.n) +
                   blocks_in(b->sending.e + b->pos, b->sending.n - b->pos);
}

void sitr_blocks_metrics_source(FILE *out, void *arg)
{
    sitr_blocks_stats_t st;
    sitr_blocks_stats(arg, &st);
    fprintf(out,
            "# HELP sitr_blocks_queued_total Uploads blocked by /v1/match accepted into the "
            "block queue.\n"
            "# TYPE sitr_blocks_queued_total counter\nsitr_blocks_queued_total %llu\n"
            "# HELP sitr_blocks_written_total Blocks committed to the database.\n"
            "# TYPE sitr_blocks_written_total counter\nsitr_blocks_written_total %llu\n"
            "# HELP sitr_blocks_dropped_total Blocks not recorded: queue full, refused by the "
            "database, or still queued at exit.\n"
            "# TYPE sitr_blocks_dropped_total counter\nsitr_blocks_dropped_total %llu\n"
            "# HELP sitr_blocks_write_errors_total Failed writes of a batch of blocks.\n"
            "# TYPE sitr_blocks_write_errors_total counter\nsitr_blocks_write_errors_total %llu\n"
            "# HELP sitr_blocks_pending Blocks queued, not yet written.\n"
            "# TYPE sitr_blocks_pending gauge\nsitr_blocks_pending %llu\n"
            "# HELP sitr_blocks_pending_entries Distinct (item, platform, day) entries queued.\n"
            "# TYPE sitr_blocks_pending_entries gauge\nsitr_blocks_pending_entries %zu\n",
            st.queued, st.written, st.dropped, st.write_errors, st.pending, st.pending_entries);
}

void sitr_blocks_drain(sitr_blocks_t *b, void (*done)(void *arg), void *arg)
{
    if (!b || b->draining) {
        if (done)
            done(arg);
        return;
    }
    b->draining = 1;
    b->drained = done;
    b->drained_arg = arg;
    uv_timer_stop(&b->timer);
    /* A call in flight ends the drain or continues it (on_written). */
    if (!b->inflight)
        flush(b);
}

static void on_timer_closed(uv_handle_t *h)
{
    sitr_blocks_t *b = h->data;
    b->timer_closed = 1;
    maybe_free(b);
}

void sitr_blocks_close(sitr_blocks_t *b)
{
    if (!b || b->closing)
        return;
    b->closing = 1;
    b->drained = NULL;
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, on_timer_closed);
}
