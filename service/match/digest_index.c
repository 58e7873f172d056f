/* Exact digest multimap (see digest_index.h).
 *
 * Invariants: cap is a power of two, count <= cap * 7 / 10, so every probe
 * run ends at an empty slot.  Pairs with equal keys all lie in the probe
 * run that starts at the key's home slot (linear probing keeps them there,
 * backward-shift deletion preserves it), so a lookup walks from home to the
 * first empty slot.  Keys are public digests, not secrets; the SipHash key
 * only protects the table's shape from chosen inputs.
 *
 * Attached tables are whole digest indexes owned by d, each with its own
 * SipHash key and table; d's lock guards them (theirs are never taken
 * again).  Writers (insert, remove, bulk_build, attach, detach) are
 * serialised by d's writer mutex, so a merge or a bulk build can read d's
 * tables without the exclusive lock and take it only for the swap. */
#include "match/digest_index.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 64

struct sitr_digest_index {
    pthread_rwlock_t lock; /* readers: lookups; writer: changes to any table */
    pthread_mutex_t wmu;   /* serialises writers */
    size_t key_len;
    size_t cap, count;
    uint8_t *keys; /* cap * key_len */
    uint64_t *ids; /* cap */
    uint8_t *used; /* cap */
    unsigned char sip[crypto_shorthash_KEYBYTES];
    sitr_digest_index_t *att[SITR_DIGEST_MAX_ATTACHED]; /* NULL: free slot */
    uint64_t att_tag[SITR_DIGEST_MAX_ATTACHED];
    int attached; /* owned by another index */
};

static uint64_t sip(const sitr_digest_index_t *d, const uint8_t *key)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, d->key_len, d->sip);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

static size_t home(const sitr_digest_index_t *d, const uint8_t *key)
{
    return (size_t)sip(d, key) & (d->cap - 1);
}

static int alloc_table(sitr_digest_index_t *d, size_t cap)
{
    d->keys = malloc(cap * d->key_len);
    d->ids = malloc(cap * sizeof *d->ids);
    d->used = calloc(cap, 1);
    if (!d->keys || !d->ids || !d->used) {
        free(d->keys);
        free(d->ids);
        free(d->used);
        return SITR_ENOMEM;
    }
    d->cap = cap;
    d->count = 0;
    return 0;
}

sitr_digest_index_t *sitr_digest_index_new(size_t key_len)
{
    if (key_len == 0 || key_len > 32 || sodium_init() < 0)
        return NULL;
    sitr_digest_index_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->key_len = key_len;
    crypto_shorthash_keygen(d->sip);
    if (alloc_table(d, MIN_CAP) < 0 || pthread_rwlock_init(&d->lock, NULL) != 0) {
        free(d->keys);
        free(d->ids);
        free(d->used);
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->wmu, NULL);
    return d;
}

void sitr_digest_index_free(sitr_digest_index_t *d)
{
    if (!d)
        return;
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++)
        sitr_digest_index_free(d->att[k]);
    pthread_rwlock_destroy(&d->lock);
    pthread_mutex_destroy(&d->wmu);
    free(d->keys);
    free(d->ids);
    free(d->used);
    free(d);
}

static void put(sitr_digest_index_t *d, const uint8_t *key, uint64_t id)
{
    size_t i = home(d, key);
    while (d->used[i])
        i = (i + 1) & (d->cap - 1);
    memcpy(d->keys + i * d->key_len, key, d->key_len);
    d->ids[i] = id;
    d->used[i] = 1;
    d->count++;
}

static long find(const sitr_digest_index_t *d, const uint8_t *key, uint64_t id)
{
    for (size_t i = home(d, key); d->used[i]; i = (i + 1) & (d->cap - 1))
        if (d->ids[i] == id && memcmp(d->keys + i * d->key_len, key, d->key_len) == 0)
            return (long)i;
    return -1;
}

/* The table holding (key, id) among d's own and its attached ones, its
 * slot in *at; NULL when none. */
static sitr_digest_index_t *find_all(sitr_digest_index_t *d, const uint8_t *key, uint64_t id,
                                     long *at)
{
    if ((*at = find(d, key, id)) >= 0)
        return d;
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++)
        if (d->att[k] && (*at = find(d->att[k], key, id)) >= 0)
            return d->att[k];
    return NULL;
}

static int grow(sitr_digest_index_t *d)
{
    sitr_digest_index_t old = *d;
    if (old.cap > SIZE_MAX / 4 / 32)
        return SITR_ETOOBIG;
    if (alloc_table(d, old.cap * 2) < 0) {
        d->keys = old.keys;
        d->ids = old.ids;
        d->used = old.used;
        d->cap = old.cap;
        d->count = old.count;
        return SITR_ENOMEM;
    }
    for (size_t i = 0; i < old.cap; i++)
        if (old.used[i])
            put(d, old.keys + i * old.key_len, old.ids[i]);
    free(old.keys);
    free(old.ids);
    free(old.used);
    return 0;
}

int sitr_digest_index_insert(sitr_digest_index_t *d, const uint8_t *key, uint64_t id)
{
    int rc = 1;
    long at;
    pthread_mutex_lock(&d->wmu);
    pthread_rwlock_wrlock(&d->lock);
    if (find_all(d, key, id, &at)) {
        rc = 0;
    } else if ((d->count + 1) * 10 > d->cap * 7 && (rc = grow(d)) < 0) {
        /* table unchanged */
    } else {
        put(d, key, id);
        rc = 1;
    }
    pthread_rwlock_unlock(&d->lock);
    pthread_mutex_unlock(&d->wmu);
    return rc;
}

/* ---- bulk build ---------------------------------------------------------
 * Each pair is packed as home << 32 | global pair number, the packed words
 * are radix-sorted by home (LSD, stable), and the slots are then filled in
 * home order with a cursor: an entry goes to max(home, cursor).  There is
 * never an empty slot between an entry's home and its slot (entries come in
 * home order, so the cursor only jumps forward over slots no later home
 * precedes), which is exactly the linear-probing invariant.  Entries whose
 * run passes the end of the table wrap around with an ordinary put.  Equal
 * pairs share a home, so duplicates are found within one home group (sorted
 * by key and id, to stay O(g log g) when many uploads share one digest). */

typedef struct bulk_ctx {
    const sitr_digest_part_t *parts;
    size_t nparts;
    size_t key_len;
} bulk_ctx_t;

static void bulk_pair(const bulk_ctx_t *b, size_t i, const uint8_t **key, uint64_t *id)
{
    size_t p = 0;
    while (i >= b->parts[p].n) {
        i -= b->parts[p].n;
        p++;
    }
    *key = b->parts[p].keys + i * b->key_len;
    *id = b->parts[p].ids[i];
}

/* Orders a home group by id, then key: equal pairs end up adjacent, and
 * the key is compared only for equal ids (rare: one id per table row). */
static int bulk_cmp(const void *x, const void *y, void *arg)
{
    const bulk_ctx_t *b = arg;
    const uint8_t *kx, *ky;
    uint64_t ix, iy;
    bulk_pair(b, (size_t)(*(const uint64_t *)x & 0xffffffffu), &kx, &ix);
    bulk_pair(b, (size_t)(*(const uint64_t *)y & 0xffffffffu), &ky, &iy);
    if (ix != iy)
        return ix < iy ? -1 : 1;
    return memcmp(kx, ky, b->key_len);
}

/* The pair of a[k] is read at random: ask for it a few entries early. */
static void bulk_prefetch(const bulk_ctx_t *b, uint64_t packed)
{
    size_t i = (size_t)(packed & 0xffffffffu), p = 0;
    while (i >= b->parts[p].n) {
        i -= b->parts[p].n;
        p++;
    }
    __builtin_prefetch(b->parts[p].keys + i * b->key_len);
    __builtin_prefetch(&b->parts[p].ids[i]);
}

/* Stable LSD radix sort of a[0..n) by bits [lo, hi) (tmp: n words). */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n, int lo, int hi)
{
    uint64_t *src = a, *dst = tmp;
    for (int shift = lo; shift < hi; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift & 0xff) + 1]++;
        for (int k = 0; k < 256; k++)
            count[k + 1] += count[k];
        for (size_t i = 0; i < n; i++)
            dst[count[src[i] >> shift & 0xff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

/* Fills the empty table t (cap a power of two <= 2^32, n < 2^32). */
static int bulk_fill(sitr_digest_index_t *t, const bulk_ctx_t *b, size_t n)
{
    uint64_t *a = malloc((n ? n : 1) * sizeof *a);
    uint64_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!a || !tmp) {
        free(a);
        free(tmp);
        return SITR_ENOMEM;
    }
    size_t g = 0;
    for (size_t p = 0; p < b->nparts; p++)
        for (size_t i = 0; i < b->parts[p].n; i++, g++)
            a[g] = (sip(t, b->parts[p].keys + i * b->key_len) & (t->cap - 1)) << 32 | g;
    int bits = 0;
    while (((size_t)1 << bits) < t->cap)
        bits++;
    radix_sort(a, tmp, n, 32, 32 + bits);
    free(tmp);
    size_t cursor = 0;
    enum { AHEAD = 16 };
    for (size_t k = 0; k < AHEAD && k < n; k++)
        bulk_prefetch(b, a[k]);
    for (size_t i = 0; i < n;) {
        size_t h = (size_t)(a[i] >> 32), j = i + 1;
        while (j < n && (size_t)(a[j] >> 32) == h)
            j++;
        if (j - i > 16) {
            qsort_r(a + i, j - i, sizeof *a, bulk_cmp, (void *)b);
        } else {
            for (size_t k = i + 1; k < j; k++) /* insertion sort: groups are tiny */
                for (size_t m = k; m > i && bulk_cmp(&a[m - 1], &a[m], (void *)b) > 0; m--) {
                    uint64_t x = a[m];
                    a[m] = a[m - 1];
                    a[m - 1] = x;
                }
        }
        for (size_t k = i; k < j; k++) {
            if (k + AHEAD < n)
                bulk_prefetch(b, a[k + AHEAD]);
            if (k > i && bulk_cmp(&a[k - 1], &a[k], (void *)b) == 0)
                continue; /* duplicate pair */
            const uint8_t *key;
            uint64_t id;
            bulk_pair(b, (size_t)(a[k] & 0xffffffffu), &key, &id);
            size_t pos = h > cursor ? h : cursor;
            if (pos < t->cap) {
                memcpy(t->keys + pos * t->key_len, key, t->key_len);
                t->ids[pos] = id;
                t->used[pos] = 1;
                t->count++;
                cursor = pos + 1;
            } else {
                put(t, key, id); /* wraps to the first free slot from 0 */
            }
        }
        i = j;
    }
    free(a);
    return 0;
}

/* The table capacity for n pairs: the smallest power of two that keeps the
 * load under 7/10. */
static int cap_for(size_t n, size_t *cap)
{
    *cap = MIN_CAP;
    while (n * 10 > *cap * 7) {
        if (*cap > SIZE_MAX / 4 / 32)
            return SITR_ETOOBIG;
        *cap *= 2;
    }
    return 0;
}

/* An empty table t of capacity cap placed by d's SipHash key (t is not an
 * index: only its table fields are set). */
static int new_table(const sitr_digest_index_t *d, size_t cap, sitr_digest_index_t *t)
{
    memset(t, 0, sizeof *t);
    t->key_len = d->key_len;
    memcpy(t->sip, d->sip, sizeof t->sip);
    return alloc_table(t, cap);
}

/* Makes t's table d's own and drops the attached tables; writer mutex
 * held.  Frees what it replaced. */
static void swap_table(sitr_digest_index_t *d, sitr_digest_index_t *t)
{
    sitr_digest_index_t *att[SITR_DIGEST_MAX_ATTACHED];
    pthread_rwlock_wrlock(&d->lock);
    uint8_t *ok = d->keys, *ou = d->used;
    uint64_t *oi = d->ids;
    d->keys = t->keys;
    d->ids = t->ids;
    d->used = t->used;
    d->cap = t->cap;
    d->count = t->count;
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++) {
        att[k] = d->att[k];
        d->att[k] = NULL;
        d->att_tag[k] = 0;
    }
    pthread_rwlock_unlock(&d->lock);
    free(ok);
    free(oi);
    free(ou);
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++)
        sitr_digest_index_free(att[k]);
}

int sitr_digest_index_bulk_build(sitr_digest_index_t *d, const sitr_digest_part_t *parts,
                                 size_t nparts)
{
    size_t n = 0, cap;
    for (size_t p = 0; p < nparts; p++) {
        if (parts[p].n > SIZE_MAX / 64 - n)
            return SITR_ETOOBIG;
        n += parts[p].n;
    }
    if (cap_for(n, &cap) < 0)
        return SITR_ETOOBIG;
    sitr_digest_index_t t;
    if (new_table(d, cap, &t) < 0)
        return SITR_ENOMEM;
    bulk_ctx_t b = {parts, nparts, d->key_len};
    int rc = 0;
    pthread_mutex_lock(&d->wmu);
    if (cap <= ((size_t)1 << 32) && n < ((size_t)1 << 32)) {
        rc = bulk_fill(&t, &b, n);
    } else {
        /* Beyond the packed sort's range: one probe per pair. */
        for (size_t p = 0; p < nparts; p++)
            for (size_t i = 0; i < parts[p].n; i++) {
                const uint8_t *key = parts[p].keys + i * d->key_len;
                if (find(&t, key, parts[p].ids[i]) < 0)
                    put(&t, key, parts[p].ids[i]);
            }
    }
    if (rc < 0) {
        free(t.keys);
        free(t.ids);
        free(t.used);
    } else {
        swap_table(d, &t);
    }
    pthread_mutex_unlock(&d->wmu);
    return rc;
}

/* Empties slot i and shifts later members of the run back so that no
 * entry ends up separated from its home by an empty slot. */
static void erase_at(sitr_digest_index_t *d, size_t i)
{
    size_t mask = d->cap - 1, j = i;
    d->used[i] = 0;
    d->count--;
    for (;;) {
        j = (j + 1) & mask;
        if (!d->used[j])
            return;
        size_t h = home(d, d->keys + j * d->key_len);
        /* Move j into the hole i unless h lies cyclically in (i, j]. */
        int stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (stays)
            continue;
        memcpy(d->keys + i * d->key_len, d->keys + j * d->key_len, d->key_len);
        d->ids[i] = d->ids[j];
        d->used[i] = 1;
        d->used[j] = 0;
        i = j;
    }
}

int sitr_digest_index_remove(sitr_digest_index_t *d, const uint8_t *key, uint64_t id)
{
    long i;
    pthread_mutex_lock(&d->wmu);
    pthread_rwlock_wrlock(&d->lock);
    sitr_digest_index_t *t = find_all(d, key, id, &i);
    if (t)
        erase_at(t, (size_t)i);
    pthread_rwlock_unlock(&d->lock);
    pthread_mutex_unlock(&d->wmu);
    return t != NULL;
}

/* Removes every pair of table t for which drop(id, arg) is nonzero. */
static size_t remove_matching_in(sitr_digest_index_t *t, int (*drop)(uint64_t id, void *arg),
                                 void *arg)
{
    size_t removed = 0;
    for (size_t i = 0; i < t->cap;) {
        if (t->used[i] && drop(t->ids[i], arg)) {
            /* A shifted-in entry may now sit at i: examine i again. */
            erase_at(t, i);
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

/* The same over d's own and attached tables. */
static inline size_t remove_matching(sitr_digest_index_t *d, int (*drop)(uint64_t id, void *arg),
                                     void *arg)
{
    pthread_mutex_lock(&d->wmu);
    pthread_rwlock_wrlock(&d->lock);
    size_t removed = remove_matching_in(d, drop, arg);
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++)
        if (d->att[k])
            removed += remove_matching_in(d->att[k], drop, arg);
    pthread_rwlock_unlock(&d->lock);
    pthread_mutex_unlock(&d->wmu);
    return removed;
}

typedef struct mask_match {
    uint64_t want, mask;
} mask_match_t;

static int drop_masked(uint64_t id, void *arg)
{
    const mask_match_t *m = arg;
    return (id & m->mask) == m->want;
}

size_t sitr_digest_index_remove_ids(sitr_digest_index_t *d, uint64_t value, uint64_t mask)
{
    mask_match_t m = {value & mask, mask};
    return remove_matching(d, drop_masked, &m);
}

size_t sitr_digest_index_remove_if(sitr_digest_index_t *d, int (*drop)(uint64_t id, void *arg),
                                   void *arg)
{
    return remove_matching(d, drop, arg);
}

/* Appends the ids of table t stored under key to out[n..max); returns the
 * new total. */
static size_t lookup_in(const sitr_digest_index_t *t, const uint8_t *key, uint64_t *out, size_t max,
                        size_t n)
{
    for (size_t i = home(t, key); t->used[i]; i = (i + 1) & (t->cap - 1)) {
        if (memcmp(t->keys + i * t->key_len, key, t->key_len) == 0) {
            if (n < max)
                out[n] = t->ids[i];
            n++;
        }
    }
    return n;
}

size_t sitr_digest_index_lookup(sitr_digest_index_t *d, const uint8_t *key, uint64_t *out,
                                size_t max)
{
    pthread_rwlock_rdlock(&d->lock);
    size_t n = lookup_in(d, key, out, max, 0);
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++)
        if (d->att[k])
            n = lookup_in(d->att[k], key, out, max, n);
    pthread_rwlock_unlock(&d->lock);
    return n;
}

size_t sitr_digest_index_size(sitr_digest_index_t *d)
{
    pthread_rwlock_rdlock(&d->lock);
    size_t n = d->count;
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++)
        if (d->att[k])
            n += d->att[k]->count;
    pthread_rwlock_unlock(&d->lock);
    return n;
}

static size_t table_bytes(const sitr_digest_index_t *t)
{
    return sizeof *t + t->cap * (t->key_len + sizeof(uint64_t) + 1);
}

size_t sitr_digest_index_bytes(sitr_digest_index_t *d)
{
    pthread_rwlock_rdlock(&d->lock);
    size_t b = table_bytes(d);
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++)
        if (d->att[k])
            b += table_bytes(d->att[k]);
    pthread_rwlock_unlock(&d->lock);
    return b;
}

/* ---- attached tables ---- */

/* Puts (key, id) in t unless it is there already (one walk of the run). */
static void put_new(sitr_digest_index_t *t, const uint8_t *key, uint64_t id)
{
    size_t i = home(t, key);
    for (; t->used[i]; i = (i + 1) & (t->cap - 1))
        if (t->ids[i] == id && memcmp(t->keys + i * t->key_len, key, t->key_len) == 0)
            return;
    memcpy(t->keys + i * t->key_len, key, t->key_len);
    t->ids[i] = id;
    t->used[i] = 1;
    t->count++;
}

/* Merges the attached tables and d's own into one new table of d, sized
 * once; writer mutex held (so d's tables are read without the lock while
 * lookups go on).  SITR_ENOMEM / SITR_ETOOBIG; nothing changes on error. */
static int merge_attached(sitr_digest_index_t *d)
{
    size_t n = d->count, cap;
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++)
        if (d->att[k])
            n += d->att[k]->count;
    if (cap_for(n, &cap) < 0)
        return SITR_ETOOBIG;
    sitr_digest_index_t t;
    if (new_table(d, cap, &t) < 0)
        return SITR_ENOMEM;
    for (int k = -1; k < SITR_DIGEST_MAX_ATTACHED; k++) {
        const sitr_digest_index_t *s = k < 0 ? d : d->att[k];
        for (size_t i = 0; s && i < s->cap; i++)
            if (s->used[i])
                put_new(&t, s->keys + i * s->key_len, s->ids[i]);
    }
    swap_table(d, &t);
    return 0;
}

int sitr_digest_index_attach(sitr_digest_index_t *d, sitr_digest_index_t *part, uint64_t tag)
{
    if (!part || part == d || tag == 0 || part->key_len != d->key_len || part->attached)
        return SITR_EINVAL;
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++)
        if (part->att[k])
            return SITR_EINVAL;
    int rc = 0, slot = -1;
    pthread_mutex_lock(&d->wmu);
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED; k++) {
        if (d->att[k] && d->att_tag[k] == tag)
            rc = SITR_EINVAL;
        else if (!d->att[k] && slot < 0)
            slot = k;
    }
    if (rc == 0 && slot < 0) {
        rc = merge_attached(d);
        slot = 0;
    }
    if (rc == 0) {
        pthread_rwlock_wrlock(&d->lock);
        d->att[slot] = part;
        d->att_tag[slot] = tag;
        part->attached = 1;
        pthread_rwlock_unlock(&d->lock);
    }
    pthread_mutex_unlock(&d->wmu);
    return rc;
}

size_t sitr_digest_index_detach(sitr_digest_index_t *d, uint64_t tag)
{
    sitr_digest_index_t *part = NULL;
    pthread_mutex_lock(&d->wmu);
    for (int k = 0; k < SITR_DIGEST_MAX_ATTACHED && tag; k++) {
        if (d->att[k] && d->att_tag[k] == tag) {
            pthread_rwlock_wrlock(&d->lock);
            part = d->att[k];
            d->att[k] = NULL;
            d->att_tag[k] = 0;
            pthread_rwlock_unlock(&d->lock);
            break;
        }
    }
    pthread_mutex_unlock(&d->wmu);
    size_t n = part ? part->count : 0;
    sitr_digest_index_free(part);
    return n;
}
