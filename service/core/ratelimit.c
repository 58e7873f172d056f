/* Token buckets per client address or identity, in a fixed-size table (see
 * ratelimit.h).
 *
 * Layout: max_entries entry slots allocated once; a power-of-two array of
 * chain heads indexed by a keyed SipHash of the 16-byte address key; every
 * live entry is also on a doubly linked recency list (head = most recent)
 * so the least recently used one can be evicted in O(1) when the table is
 * full.  Links are 32-bit slot numbers, NIL = UINT32_MAX.
 *
 * Invariants: an entry is live iff it is on exactly one chain and on the
 * recency list; nlive <= cap; units <= full, and units < 0 (debt) only
 * after a take whose cost exceeded the burst, by at most that excess.
 * Runs on the loop thread only. */
#include "core/ratelimit.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

/* Exact integer arithmetic: one token is UNIT units and a bucket gains
 * per_hour units per millisecond, so refills never drift by rounding. */
#define UNIT 3600000ull

typedef struct entry {
    uint8_t key[16];
    int64_t units; /* negative: debt left by a cost beyond the burst */
    uint64_t last_ms;
    uint32_t chain_next;
    uint32_t lru_prev, lru_next;
} entry_t;

struct sitr_ratelimit {
    uint64_t per_ms;     /* units gained per millisecond (= tokens per hour); 0 = unlimited */
    int64_t full;        /* burst * UNIT */
    uint32_t cap, nlive; /* slots [0, nlive) are in use; entries are replaced, never freed */
    uint32_t lru_head, lru_tail;
    uint32_t nbuckets; /* power of two */
    uint32_t *buckets;
    entry_t *entries;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

static int create(uint64_t per_hour, unsigned burst, size_t max_entries, sitr_ratelimit_t **out)
{
    *out = NULL;
    if (max_entries < 1 || max_entries > (1u << 24))
        return SITR_EINVAL;
    sitr_ratelimit_t *rl = calloc(1, sizeof *rl);
    if (!rl)
        return SITR_ENOMEM;
    rl->per_ms = per_hour;
    rl->full = (int64_t)(burst < 1 ? 1 : burst) * (int64_t)UNIT;
    rl->cap = (uint32_t)max_entries;
    rl->nbuckets = 1;
    while (rl->nbuckets < 2 * rl->cap)
        rl->nbuckets <<= 1;
    rl->buckets = malloc(sizeof *rl->buckets * rl->nbuckets);
    rl->entries = calloc(rl->cap, sizeof *rl->entries);
    if (!rl->buckets || !rl->entries) {
        sitr_ratelimit_free(rl);
        return SITR_ENOMEM;
    }
    for (uint32_t i = 0; i < rl->nbuckets; i++)
        rl->buckets[i] = NIL;
    rl->lru_head = rl->lru_tail = NIL;
    crypto_shorthash_keygen(rl->hash_key);
    *out = rl;
    return 0;
}

int sitr_ratelimit_new(unsigned per_hour, unsigned burst, size_t max_entries,
                       sitr_ratelimit_t **out)
{
    return create(per_hour, burst, max_entries, out);
}

int sitr_ratelimit_new_per_second(unsigned per_second, unsigned burst, size_t max_entries,
                                  sitr_ratelimit_t **out)
{
    *out = NULL;
    if (per_second > SITR_RATELIMIT_MAX_PER_SECOND)
        return SITR_EINVAL;
    return create((uint64_t)per_second * 3600u, burst, max_entries, out);
}

void sitr_ratelimit_free(sitr_ratelimit_t *rl)
{
    if (!rl)
        return;
    free(rl->buckets);
    free(rl->entries);
    free(rl);
}

size_t sitr_ratelimit_size(const sitr_ratelimit_t *rl)
{
    return rl ? rl->nlive : 0;
}

/* The grouping key: IPv4 as ::ffff:a.b.c.d, IPv6 cut to its /64 (IPv4-mapped
 * IPv6 kept whole, it is one IPv4 host).  Anything unparseable (should not
 * happen: the text comes from the socket) is hashed so it still groups. */
void sitr_ratelimit_address_key(const char *addr, uint8_t key[16])
{
    struct in_addr v4;
    struct in6_addr v6;
    memset(key, 0, 16);
    if (addr && inet_pton(AF_INET, addr, &v4) == 1) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &v4, 4);
    } else if (addr && inet_pton(AF_INET6, addr, &v6) == 1) {
        memcpy(key, &v6, 16);
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(key, mapped, 12) != 0)
            memset(key + 8, 0, 8);
    } else {
        const char *s = addr ? addr : "";
        crypto_generichash(key, 16, (const unsigned char *)s, strlen(s), NULL, 0);
    }
}

static uint32_t bucket_of(const sitr_ratelimit_t *rl, const uint8_t key[16])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, 16, rl->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (uint32_t)(v & (rl->nbuckets - 1));
}

static void lru_unlink(sitr_ratelimit_t *rl, uint32_t i)
{
    entry_t *e = &rl->entries[i];
    if (e->lru_prev != NIL)
        rl->entries[e->lru_prev].lru_next = e->lru_next;
    else
        rl->lru_head = e->lru_next;
    if (e->lru_next != NIL)
        rl->entries[e->lru_next].lru_prev = e->lru_prev;
    else
        rl->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NIL;
}

static void lru_push_front(sitr_ratelimit_t *rl, uint32_t i)
{
    entry_t *e = &rl->entries[i];
    e->lru_prev = NIL;
    e->lru_next = rl->lru_head;
    if (rl->lru_head != NIL)
        rl->entries[rl->lru_head].lru_prev = i;
    rl->lru_head = i;
    if (rl->lru_tail == NIL)
        rl->lru_tail = i;
}

static void chain_remove(sitr_ratelimit_t *rl, uint32_t i)
{
    uint32_t *link = &rl->buckets[bucket_of(rl, rl->entries[i].key)];
    while (*link != NIL && *link != i)
        link = &rl->entries[*link].chain_next;
    if (*link == i)
        *link = rl->entries[i].chain_next;
}

/* An identity's key: the id in big-endian order after a tag byte, so that
 * it cannot be mistaken for an IPv4 key (whose bytes 10-11 are 0xff). */
static void id_key(int64_t id, uint8_t key[16])
{
    uint64_t v = (uint64_t)id;
    memset(key, 0, 16);
    key[0] = 'P';
    for (int i = 0; i < 8; i++)
        key[8 + i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Finds key's entry, creating it (with a full bucket) if needed, and marks
 * it most recently used. */
static entry_t *lookup(sitr_ratelimit_t *rl, const uint8_t key[16], uint64_t now_ms)
{
    uint32_t b = bucket_of(rl, key);
    for (uint32_t i = rl->buckets[b]; i != NIL; i = rl->entries[i].chain_next) {
        if (memcmp(rl->entries[i].key, key, 16) == 0) {
            lru_unlink(rl, i);
            lru_push_front(rl, i);
            return &rl->entries[i];
        }
    }
    uint32_t slot;
    if (rl->nlive < rl->cap) {
        slot = rl->nlive++;
    } else {
        /* Full: forget the address seen longest ago. */
        slot = rl->lru_tail;
        lru_unlink(rl, slot);
        chain_remove(rl, slot);
    }
    entry_t *e = &rl->entries[slot];
    memcpy(e->key, key, 16);
    e->units = rl->full;
    e->last_ms = now_ms;
    e->chain_next = rl->buckets[b];
    rl->buckets[b] = slot;
    lru_push_front(rl, slot);
    return e;
}

/* The answer for cost tokens of key's bucket, spending them if allowed and
 * spend is set.  A cost beyond the burst needs a full bucket (it could
 * never gather more) and may drive the balance below zero. */
static unsigned decide(sitr_ratelimit_t *rl, const uint8_t key[16], unsigned cost, uint64_t now_ms,
                       int spend)
{
    if (rl->per_ms == 0)
        return 0;
    entry_t *e = lookup(rl, key, now_ms);
    /* A clock that goes backwards (it should not: monotonic) refills nothing. */
    if (now_ms > e->last_ms) {
        uint64_t dt = now_ms - e->last_ms;
        uint64_t gap = (uint64_t)(rl->full - e->units);
        /* Saturate instead of overflowing after a very long idle time:
         * below the bound dt * per_ms <= gap, which fits. */
        if (dt > gap / rl->per_ms)
            e->units = rl->full;
        else
            e->units += (int64_t)(dt * rl->per_ms);
        if (e->units > rl->full)
            e->units = rl->full;
        e->last_ms = now_ms;
    }
    int64_t need = (int64_t)(cost < 1 ? 1 : cost) * (int64_t)UNIT;
    int64_t required = need < rl->full ? need : rl->full;
    if (e->units >= required) {
        if (spend)
            e->units -= need;
        return 0;
    }
    uint64_t missing = (uint64_t)(required - e->units);
    uint64_t wait_ms = (missing + rl->per_ms - 1) / rl->per_ms;
    uint64_t secs = (wait_ms + 999) / 1000;
    if (secs > UINT32_MAX)
        secs = UINT32_MAX;
    return secs < 1 ? 1 : (unsigned)secs;
}

unsigned sitr_ratelimit_take(sitr_ratelimit_t *rl, const char *addr, uint64_t now_ms)
{
    return sitr_ratelimit_take_n(rl, addr, 1, now_ms);
}

unsigned sitr_ratelimit_check(sitr_ratelimit_t *rl, const char *addr, uint64_t now_ms)
{
    uint8_t key[16];
    sitr_ratelimit_address_key(addr, key);
    return decide(rl, key, 1, now_ms, 0);
}

unsigned sitr_ratelimit_take_n(sitr_ratelimit_t *rl, const char *addr, unsigned cost,
                               uint64_t now_ms)
{
    uint8_t key[16];
    sitr_ratelimit_address_key(addr, key);
    return decide(rl, key, cost, now_ms, 1);
}

static void pair_key(const char *addr, const void *target, size_t len, uint8_t key[16])
{
    uint8_t a[16];
    crypto_generichash_state st;
    sitr_ratelimit_address_key(addr, a);
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, a, sizeof a);
    crypto_generichash_update(&st, target, len);
    crypto_generichash_final(&st, key, 16);
}

unsigned sitr_ratelimit_take_pair(sitr_ratelimit_t *rl, const char *addr, const void *target,
                                  size_t len, uint64_t now_ms)
{
    uint8_t key[16];
    pair_key(addr, target, len, key);
    return decide(rl, key, 1, now_ms, 1);
}

unsigned sitr_ratelimit_check_pair(sitr_ratelimit_t *rl, const char *addr, const void *target,
                                   size_t len, uint64_t now_ms)
{
    uint8_t key[16];
    pair_key(addr, target, len, key);
    return decide(rl, key, 1, now_ms, 0);
}

unsigned sitr_ratelimit_take_id(sitr_ratelimit_t *rl, int64_t id, unsigned cost, uint64_t now_ms)
{
    uint8_t key[16];
    id_key(id, key);
    return decide(rl, key, cost, now_ms, 1);
}

unsigned sitr_ratelimit_check_id(sitr_ratelimit_t *rl, int64_t id, unsigned cost, uint64_t now_ms)
{
    uint8_t key[16];
    id_key(id, key);
    return decide(rl, key, cost, now_ms, 0);
}
