/* The match oracle's guard (see oracle.h).
 *
 * Pairs live in a dense array indexed by an open-addressing table (linear
 * probing, at most half full, doubled as it fills up to
 * SITR_ORACLE_MAX_PAIRS).  A pair's digests are a small array grown on
 * demand up to the budget; membership is a linear scan (budget <= 1000,
 * 16 bytes each).
 *
 * Sync: digests learnt go to `pend` (a FIFO of rows); each tick sends at
 * most SYNC_ROWS of them and every suspended pair the database has not yet
 * confirmed, in one call; the rows leave the FIFO only when the call
 * succeeds, so a failed call sends them again a second later.
 *
 * Loop thread only. */
#include "api/oracle.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/err_service.h>
#include <sitr/opaque.h>
#include <sodium.h>

#define DIGEST_BYTES 16
/* Digests per database call. */
#define SYNC_ROWS 4096

typedef struct pair {
    int64_t platform, target;
    uint8_t video, suspended;
    uint8_t confirmed; /* the database has an open alert for it */
    uint8_t logged;    /* its alert was logged here */
    uint32_t n, cap;
    uint32_t sent_gen, seen_gen; /* the sync that sent its alert / last listed it */
    uint8_t (*d)[DIGEST_BYTES];
} pair_t;

typedef struct prow {
    int64_t platform, target;
    uint8_t video;
    uint8_t d[DIGEST_BYTES];
} prow_t;

struct sitr_oracle {
    uv_loop_t *loop;
    sitr_db_t *db;
    uv_timer_t timer;
    int inflight, closing, timer_closed, failing;
    int sync_stopped; /* sitr_oracle_stop_sync: the pool is about to go */
    uint32_t gen;     /* syncs started */
    prow_t *pend;     /* digests not yet in the database, oldest first */
    size_t npend;     /* rows in pend */
    size_t nsending;  /* of those, the first ones in the call in flight */
    uint8_t key[SITR_KEYS_KEY_BYTES];
    unsigned budget;
    int threshold;
    pair_t *p;
    size_t n, cap;
    uint32_t *slot; /* pair index + 1; 0 = empty */
    size_t mask;
    int full_logged;
    sitr_oracle_stats_t st;
};

static void on_tick(uv_timer_t *t);

static void oracle_free(sitr_oracle_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        sodium_memzero(o->p[i].d, (size_t)o->p[i].cap * DIGEST_BYTES);
        free(o->p[i].d);
    }
    free(o->p);
    free(o->slot);
    if (o->pend)
        sodium_memzero(o->pend, SITR_ORACLE_MAX_PENDING * sizeof *o->pend);
    free(o->pend);
    sodium_memzero(o->key, sizeof o->key);
    free(o);
}

int sitr_oracle_new(uv_loop_t *loop, sitr_db_t *db, const uint8_t key[32], unsigned budget,
                    int threshold, sitr_oracle_t **out)
{
    *out = NULL;
    sitr_oracle_t *o = calloc(1, sizeof *o);
    if (!o)
        return SITR_ENOMEM;
    memcpy(o->key, key, sizeof o->key);
    o->loop = loop;
    o->db = db;
    o->budget = budget ? budget : 1;
    o->threshold = threshold;
    o->cap = 512;
    o->p = calloc(o->cap, sizeof *o->p);
    o->slot = calloc(2 * o->cap, sizeof *o->slot);
    o->mask = 2 * o->cap - 1;
    o->pend = db ? malloc(SITR_ORACLE_MAX_PENDING * sizeof *o->pend) : NULL;
    if (!o->p || !o->slot || (db && !o->pend)) {
        oracle_free(o);
        return SITR_ENOMEM;
    }
    o->timer_closed = 1;
    if (db) {
        uv_timer_init(loop, &o->timer);
        o->timer.data = o;
        o->timer_closed = 0;
        uv_timer_start(&o->timer, on_tick, SITR_ORACLE_SYNC_MS, SITR_ORACLE_SYNC_MS);
    }
    *out = o;
    return 0;
}

static void maybe_free(sitr_oracle_t *o)
{
    if (o->closing && !o->inflight && o->timer_closed)
        oracle_free(o);
}

static void on_timer_closed(uv_handle_t *h)
{
    sitr_oracle_t *o = h->data;
    o->timer_closed = 1;
    maybe_free(o);
}

void sitr_oracle_stop_sync(sitr_oracle_t *o)
{
    if (!o || o->sync_stopped)
        return;
    o->sync_stopped = 1;
    if (!o->timer_closed)
        uv_timer_stop(&o->timer);
}

void sitr_oracle_close(sitr_oracle_t *o)
{
    if (!o || o->closing)
        return;
    o->closing = 1;
    if (!o->timer_closed) {
        uv_timer_stop(&o->timer);
        uv_close((uv_handle_t *)&o->timer, on_timer_closed);
    }
    maybe_free(o);
}

int sitr_oracle_guarded(const sitr_msearch_match_t *h)
{
    return h->signal != SITR_SIGNAL_MD5 && h->signal != SITR_SIGNAL_SHA256;
}

int sitr_oracle_band(const sitr_oracle_t *o, const sitr_msearch_match_t *h)
{
    if (!sitr_oracle_guarded(h))
        return h->distance;
    return sitr_msearch_band(h->distance, o->threshold);
}

void sitr_oracle_fingerprint(const sitr_oracle_t *o, const sitr_msearch_item_t *item, uint8_t *out)
{
    crypto_generichash_state st;
    static const char tag[] = "sitr oracle query v1";
    crypto_generichash_init(&st, o->key, sizeof o->key, SITR_ORACLE_FP_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)tag, sizeof tag);
    if (item->frames) {
        for (size_t i = 0; i < item->nframes; i++)
            crypto_generichash_update(&st, item->frames[i].pdq.b, sizeof item->frames[i].pdq.b);
    } else {
        crypto_generichash_update(&st, item->pdq.b, sizeof item->pdq.b);
    }
    crypto_generichash_final(&st, out, SITR_ORACLE_FP_BYTES);
    sodium_memzero(&st, sizeof st);
}

/* The digest remembered for (platform, target) and the query fp: keyed,
 * bound to the pair, so that one query's digests on two targets differ. */
static void pair_digest(const sitr_oracle_t *o, const pair_t *p, const uint8_t *fp,
                        uint8_t out[DIGEST_BYTES])
{
    uint8_t msg[16 + 8 + 8 + 1 + SITR_ORACLE_FP_BYTES];
    memcpy(msg, "sitr oracle pair", 16);
    for (int i = 0; i < 8; i++) {
        msg[16 + i] = (uint8_t)((uint64_t)p->platform >> (8 * i));
        msg[24 + i] = (uint8_t)((uint64_t)p->target >> (8 * i));
    }
    msg[32] = p->video;
    memcpy(msg + 33, fp, SITR_ORACLE_FP_BYTES);
    crypto_generichash(out, DIGEST_BYTES, msg, sizeof msg, o->key, sizeof o->key);
    sodium_memzero(msg, sizeof msg);
}

static size_t pair_hash(int64_t platform, int64_t target, uint8_t video)
{
    uint64_t h = (uint64_t)target * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t)platform * 0xff51afd7ed558ccdULL + video;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (size_t)h;
}

static int grow(sitr_oracle_t *o)
{
    size_t cap = o->cap * 2;
    pair_t *p = realloc(o->p, cap * sizeof *p);
    if (!p)
        return SITR_ENOMEM;
    o->p = p;
    uint32_t *slot = calloc(2 * cap, sizeof *slot);
    if (!slot)
        return SITR_ENOMEM;
    free(o->slot);
    o->slot = slot;
    o->cap = cap;
    o->mask = 2 * cap - 1;
    for (size_t i = 0; i < o->n; i++) {
        size_t s = pair_hash(p[i].platform, p[i].target, p[i].video) & o->mask;
        while (o->slot[s])
            s = (s + 1) & o->mask;
        o->slot[s] = (uint32_t)(i + 1);
    }
    return 0;
}

/* The pair, added when new; NULL when the table is full (or out of
 * memory). */
static pair_t *pair_get(sitr_oracle_t *o, int64_t platform, int64_t target, uint8_t video)
{
    size_t s = pair_hash(platform, target, video) & o->mask;
    for (; o->slot[s]; s = (s + 1) & o->mask) {
        pair_t *p = &o->p[o->slot[s] - 1];
        if (p->platform == platform && p->target == target && p->video == video)
            return p;
    }
    if (o->n == o->cap) {
        if (o->cap >= SITR_ORACLE_MAX_PAIRS || grow(o) < 0)
            return NULL;
        s = pair_hash(platform, target, video) & o->mask;
        while (o->slot[s])
            s = (s + 1) & o->mask;
    }
    pair_t *p = &o->p[o->n];
    memset(p, 0, sizeof *p);
    p->platform = platform;
    p->target = target;
    p->video = video;
    o->slot[s] = (uint32_t)(o->n + 1);
    o->n++;
    o->st.pairs = o->n;
    return p;
}

static int remember(pair_t *p, const uint8_t d[DIGEST_BYTES])
{
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 4;
        uint8_t(*nd)[DIGEST_BYTES] = realloc(p->d, (size_t)cap * DIGEST_BYTES);
        if (!nd)
            return SITR_ENOMEM;
        p->d = nd;
        p->cap = cap;
    }
    memcpy(p->d[p->n++], d, DIGEST_BYTES);
    return 0;
}

/* Queues the digest d of pair p for the database. */
static void queue_row(sitr_oracle_t *o, const pair_t *p, const uint8_t d[DIGEST_BYTES])
{
    if (!o->db)
        return;
    if (o->npend == SITR_ORACLE_MAX_PENDING) {
        o->st.dropped++;
        return;
    }
    prow_t *r = &o->pend[o->npend++];
    r->platform = p->platform;
    r->target = p->target;
    r->video = p->video;
    memcpy(r->d, d, DIGEST_BYTES);
}

/* p is suspended no more (cleared): answered again, counting afresh. */
static void lift(sitr_oracle_t *o, pair_t *p)
{
    p->suspended = 0;
    p->confirmed = 0;
    p->logged = 0;
    sodium_memzero(p->d, (size_t)p->cap * DIGEST_BYTES);
    p->n = 0;
    o->st.suspended--;
}

static void suspend(sitr_oracle_t *o, pair_t *p, const sitr_log_ids_t *log_ids)
{
    char ref[SITR_OPAQUE_TOKEN_LEN + 1];
    if (p->video)
        sitr_opaque_video_ref(o->key, p->platform, p->target, ref);
    else
        sitr_opaque_ref(o->key, p->platform, p->target, ref);
    p->suspended = 1;
    p->logged = 1;
    o->st.alerts++;
    o->st.suspended++;
    /* The digests are no longer needed: a suspended pair answers nothing
     * perceptual until the operator clears it, which starts it afresh. */
    sodium_memzero(p->d, (size_t)p->cap * DIGEST_BYTES);
    p->n = 0;
    sitr_log(SITR_LOG_WARN, log_ids,
             "match oracle alert: platform %" PRId64 " sent more than %u distinct hashes "
             "matching case %s %s; its perceptual matches are withheld from that platform",
             p->platform, o->budget, p->video ? "video" : "image", ref);
}

int sitr_oracle_admit(sitr_oracle_t *o, int64_t platform, const sitr_msearch_match_t *h,
                      const uint8_t *fp, const sitr_log_ids_t *log_ids)
{
    if (!sitr_oracle_guarded(h))
        return 1;
    pair_t *p = pair_get(o, platform, h->id, h->kind == SITR_MSEARCH_VIDEO);
    if (!p) {
        o->st.untracked++;
        if (!o->full_logged)
            sitr_log(SITR_LOG_WARN, NULL,
                     "match oracle: %zu (platform, case item) pairs tracked, no room for more; "
                     "new pairs are answered untracked",
                     o->n);
        o->full_logged = 1;
        return 1;
    }
    if (p->suspended) {
        o->st.withheld++;
        return 0;
    }
    uint8_t d[DIGEST_BYTES];
    pair_digest(o, p, fp, d);
    for (uint32_t i = 0; i < p->n; i++)
        if (sodium_memcmp(p->d[i], d, DIGEST_BYTES) == 0)
            return 1;
    if (p->n >= o->budget || remember(p, d) < 0) {
        /* Out of memory counts as over budget: fail closed. */
        queue_row(o, p, d);
        suspend(o, p, log_ids);
        o->st.withheld++;
        return 0;
    }
    queue_row(o, p, d);
    o->st.distinct++;
    return 1;
}

/* ---- sync with the database --------------------------------------------- */

/* Appends "{a,b,...}" pieces: a growing text buffer. */
typedef struct tbuf {
    char *s;
    size_t n, cap;
    int bad;
} tbuf_t;

static void tb_add(tbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_add(tbuf_t *b, const char *fmt, ...)
{
    if (b->bad)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->bad = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t) {
            b->bad = 1;
            return;
        }
        b->s = t;
        b->cap = cap;
    }
}

/* The database's open alerts after this replica's call of generation gen. */
static void apply_alerts(sitr_oracle_t *o, PGresult *res, uint32_t gen)
{
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        int64_t platform = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        int video = PQgetvalue(res, i, 2)[0] == 't';
        int64_t target = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        int fresh = PQgetvalue(res, i, 4)[0] == 't';
        pair_t *p = pair_get(o, platform, target, (uint8_t)video);
        if (!p)
            continue;
        p->seen_gen = gen;
        if (!p->suspended) {
            p->suspended = 1;
            o->st.suspended++;
            sodium_memzero(p->d, (size_t)p->cap * DIGEST_BYTES);
            p->n = 0;
        }
        if (fresh && !p->logged) {
            /* Over the budget by every replica's count together. */
            char ref[SITR_OPAQUE_TOKEN_LEN + 1];
            if (video)
                sitr_opaque_video_ref(o->key, platform, target, ref);
            else
                sitr_opaque_ref(o->key, platform, target, ref);
            p->logged = 1;
            o->st.alerts++;
            sitr_log(SITR_LOG_WARN, NULL,
                     "match oracle alert %s: platform %" PRId64 " sent more than %u distinct "
                     "hashes matching case %s %s (all replicas); its perceptual matches are "
                     "withheld from that platform",
                     PQgetvalue(res, i, 0), platform, o->budget, video ? "video" : "image", ref);
        }
    }
    for (size_t i = 0; i < o->n; i++) {
        pair_t *p = &o->p[i];
        if (!p->suspended)
            continue;
        if (p->seen_gen == gen)
            p->confirmed = 1;
        else if (p->confirmed || p->sent_gen == gen)
            lift(o, p); /* cleared by the operator (or its case item erased) */
    }
}

static void on_synced(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    (void)sqlstate;
    sitr_oracle_t *o = arg;
    o->inflight = 0;
    if (o->closing) {
        maybe_free(o);
        return;
    }
    if (rc < 0) {
        o->st.sync_errors++;
        if (!o->failing)
            sitr_log(SITR_LOG_WARN, NULL,
                     "match oracle: cannot sync with the database (%s); each replica counts on "
                     "its own until it can",
                     sitr_strerror(rc));
        o->failing = 1;
        o->nsending = 0;
        return;
    }
    if (o->failing)
        sitr_log(SITR_LOG_INFO, NULL, "match oracle: synced with the database again");
    o->failing = 0;
    o->st.synced++;
    sodium_memzero(o->pend, o->nsending * sizeof *o->pend);
    memmove(o->pend, o->pend + o->nsending, (o->npend - o->nsending) * sizeof *o->pend);
    o->npend -= o->nsending;
    o->nsending = 0;
    apply_alerts(o, res, o->gen);
}

static void sync_now(sitr_oracle_t *o)
{
    if (o->inflight || o->closing || o->sync_stopped)
        return;
    uint32_t gen = ++o->gen;
    size_t n = o->npend < SYNC_ROWS ? o->npend : SYNC_ROWS;
    tbuf_t b[8] = {0};
    for (int c = 0; c < 7; c++)
        tb_add(&b[c], "{");
    for (size_t i = 0; i < n; i++) {
        const prow_t *r = &o->pend[i];
        const char *sep = i ? "," : "";
        char hex[2 * DIGEST_BYTES + 1];
        sodium_bin2hex(hex, sizeof hex, r->d, DIGEST_BYTES);
        tb_add(&b[0], "%s%" PRId64, sep, r->platform);
        tb_add(&b[1], "%s%c", sep, r->video ? 't' : 'f');
        tb_add(&b[2], "%s%" PRId64, sep, r->target);
        tb_add(&b[3], "%s%s", sep, hex);
    }
    size_t na = 0;
    for (size_t i = 0; i < o->n && na < SYNC_ROWS; i++) {
        pair_t *p = &o->p[i];
        if (!p->suspended || p->confirmed)
            continue;
        const char *sep = na ? "," : "";
        tb_add(&b[4], "%s%" PRId64, sep, p->platform);
        tb_add(&b[5], "%s%c", sep, p->video ? 't' : 'f');
        tb_add(&b[6], "%s%" PRId64, sep, p->target);
        p->sent_gen = gen;
        na++;
    }
    for (int c = 0; c < 7; c++)
        tb_add(&b[c], "}");
    tb_add(&b[7], "%u", o->budget);
    int bad = 0;
    const char *v[8];
    for (int c = 0; c < 8; c++) {
        bad |= b[c].bad;
        v[c] = b[c].s;
    }
    int rc = bad ? SITR_ENOMEM
                 : sitr_db_submit(o->db,
                                  "SELECT alert_id, platform_id, video, target_id, fresh FROM "
                                  "sitr_oracle_sync($1::bigint[], $2::boolean[], $3::bigint[], "
                                  "$4::text[], $5::bigint[], $6::boolean[], $7::bigint[], "
                                  "$8::int)",
                                  8, v, on_synced, o);
    for (int c = 0; c < 8; c++) {
        if (b[c].s)
            sodium_memzero(b[c].s, b[c].cap);
        free(b[c].s);
    }
    if (rc < 0) {
        /* Database away or busy: try again next tick (counted, not logged:
         * the pool logs the outage). */
        o->st.sync_errors++;
        return;
    }
    o->inflight = 1;
    o->nsending = n;
}

static void on_tick(uv_timer_t *t)
{
    sync_now(t->data);
}

void sitr_oracle_stats(const sitr_oracle_t *o, sitr_oracle_stats_t *out)
{
    *out = o->st;
}

void sitr_oracle_metrics_source(FILE *out, void *arg)
{
    sitr_oracle_stats_t st;
    sitr_oracle_stats(arg, &st);
    fprintf(out,
            "# HELP sitr_oracle_distinct_total Distinct query hashes that matched a (platform, "
            "case item) pair, counted against its budget.\n"
            "# TYPE sitr_oracle_distinct_total counter\nsitr_oracle_distinct_total %llu\n"
            "# HELP sitr_oracle_withheld_total Perceptual matches withheld from a platform "
            "whose pair is suspended.\n"
            "# TYPE sitr_oracle_withheld_total counter\nsitr_oracle_withheld_total %llu\n"
            "# HELP sitr_oracle_alerts_total (platform, case item) pairs this replica "
            "suspended for probing.\n"
            "# TYPE sitr_oracle_alerts_total counter\nsitr_oracle_alerts_total %llu\n"
            "# HELP sitr_oracle_untracked_total Matches answered untracked: the pair table "
            "was full.\n"
            "# TYPE sitr_oracle_untracked_total counter\nsitr_oracle_untracked_total %llu\n"
            "# HELP sitr_oracle_sync_errors_total Failed syncs of the budget with the "
            "database.\n"
            "# TYPE sitr_oracle_sync_errors_total counter\nsitr_oracle_sync_errors_total %llu\n"
            "# HELP sitr_oracle_dropped_total Digests not sent to the database: its queue was "
            "full.\n"
            "# TYPE sitr_oracle_dropped_total counter\nsitr_oracle_dropped_total %llu\n"
            "# HELP sitr_oracle_pairs (platform, case item) pairs tracked.\n"
            "# TYPE sitr_oracle_pairs gauge\nsitr_oracle_pairs %zu\n"
            "# HELP sitr_oracle_suspended Pairs suspended now.\n"
            "# TYPE sitr_oracle_suspended gauge\nsitr_oracle_suspended %zu\n",
            st.distinct, st.withheld, st.alerts, st.untracked, st.sync_errors, st.dropped, st.pairs,
            st.suspended);
}
