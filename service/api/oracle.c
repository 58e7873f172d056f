/* The match oracle's guard (see oracle.h).
 *
 * Pairs live in a dense array indexed by an open-addressing table (linear
 * probing, at most half full, doubled as it fills up to
 * SITR_ORACLE_MAX_PAIRS).  A pair's digests are a small array grown on
 * demand up to the budget; membership is a linear scan (budget <= 1000,
 * 16 bytes each).
 *
 * Loop thread only. */
#include "api/oracle.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/err_service.h>
#include <sitr/opaque.h>
#include <sodium.h>

#define DIGEST_BYTES 16

typedef struct pair {
    int64_t platform, target;
    uint8_t video, suspended;
    uint32_t n, cap;
    uint8_t (*d)[DIGEST_BYTES];
} pair_t;

struct sitr_oracle {
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

int sitr_oracle_new(const uint8_t key[32], unsigned budget, int threshold, sitr_oracle_t **out)
{
    *out = NULL;
    sitr_oracle_t *o = calloc(1, sizeof *o);
    if (!o)
        return SITR_ENOMEM;
    memcpy(o->key, key, sizeof o->key);
    o->budget = budget ? budget : 1;
    o->threshold = threshold;
    o->cap = 512;
    o->p = calloc(o->cap, sizeof *o->p);
    o->slot = calloc(2 * o->cap, sizeof *o->slot);
    o->mask = 2 * o->cap - 1;
    if (!o->p || !o->slot) {
        sitr_oracle_free(o);
        return SITR_ENOMEM;
    }
    *out = o;
    return 0;
}

void sitr_oracle_free(sitr_oracle_t *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        sodium_memzero(o->p[i].d, (size_t)o->p[i].cap * DIGEST_BYTES);
        free(o->p[i].d);
    }
    free(o->p);
    free(o->slot);
    sodium_memzero(o->key, sizeof o->key);
    free(o);
}

int sitr_oracle_guarded(const sitr_msearch_match_t *h)
{
    return h->signal != SITR_SIGNAL_MD5 && h->signal != SITR_SIGNAL_SHA256;
}

int sitr_oracle_band(const sitr_oracle_t *o, const sitr_msearch_match_t *h)
{
    if (!sitr_oracle_guarded(h) || h->distance == 0)
        return h->distance;
    if (h->distance <= SITR_ORACLE_NEAR && SITR_ORACLE_NEAR < o->threshold)
        return SITR_ORACLE_NEAR;
    return o->threshold;
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

static void suspend(sitr_oracle_t *o, pair_t *p, const sitr_log_ids_t *log_ids)
{
    char ref[SITR_OPAQUE_TOKEN_LEN + 1];
    if (p->video)
        sitr_opaque_video_ref(o->key, p->platform, p->target, ref);
    else
        sitr_opaque_ref(o->key, p->platform, p->target, ref);
    p->suspended = 1;
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
        suspend(o, p, log_ids);
        o->st.withheld++;
        return 0;
    }
    o->st.distinct++;
    return 1;
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
            "# HELP sitr_oracle_pairs (platform, case item) pairs tracked.\n"
            "# TYPE sitr_oracle_pairs gauge\nsitr_oracle_pairs %zu\n"
            "# HELP sitr_oracle_suspended Pairs suspended now.\n"
            "# TYPE sitr_oracle_suspended gauge\nsitr_oracle_suspended %zu\n",
            st.distinct, st.withheld, st.alerts, st.untracked, st.pairs, st.suspended);
}
