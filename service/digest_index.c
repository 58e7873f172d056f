/* Exact digest multimap (see digest_index.h).
 *
 * Invariants: cap is a power of two, count <= cap * 7 / 10, so every probe
 * run ends at an empty slot.  Pairs with equal keys all lie in the probe
 * run that starts at the key's home slot (linear probing keeps them there,
 * backward-shift deletion preserves it), so a lookup walks from home to the
 * first empty slot.  Keys are public digests, not secrets; the SipHash key
 * only protects the table's shape from chosen inputs. */
#include "digest_index.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 64

struct sitr_digest_index {
    pthread_rwlock_t lock;
    size_t key_len;
    size_t cap, count;
    uint8_t *keys;  /* cap * key_len */
    uint64_t *ids;  /* cap */
    uint8_t *used;  /* cap */
    unsigned char sip[crypto_shorthash_KEYBYTES];
};

static size_t home(const sitr_digest_index_t *d, const uint8_t *key)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, d->key_len, d->sip);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)v & (d->cap - 1);
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
    return d;
}

void sitr_digest_index_free(sitr_digest_index_t *d)
{
    if (!d)
        return;
    pthread_rwlock_destroy(&d->lock);
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
    pthread_rwlock_wrlock(&d->lock);
    if (find(d, key, id) >= 0) {
        rc = 0;
    } else if ((d->count + 1) * 10 > d->cap * 7 && (rc = grow(d)) < 0) {
        /* table unchanged */
    } else {
        put(d, key, id);
        rc = 1;
    }
    pthread_rwlock_unlock(&d->lock);
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
    pthread_rwlock_wrlock(&d->lock);
    long i = find(d, key, id);
    if (i >= 0)
        erase_at(d, (size_t)i);
    pthread_rwlock_unlock(&d->lock);
    return i >= 0;
}

size_t sitr_digest_index_remove_ids(sitr_digest_index_t *d, uint64_t value, uint64_t mask)
{
    size_t removed = 0;
    pthread_rwlock_wrlock(&d->lock);
    for (size_t i = 0; i < d->cap;) {
        if (d->used[i] && (d->ids[i] & mask) == (value & mask)) {
            /* A shifted-in entry may now sit at i: examine i again. */
            erase_at(d, i);
            removed++;
        } else {
            i++;
        }
    }
    pthread_rwlock_unlock(&d->lock);
    return removed;
}

size_t sitr_digest_index_lookup(sitr_digest_index_t *d, const uint8_t *key, uint64_t *out,
                                size_t max)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&d->lock);
    for (size_t i = home(d, key); d->used[i]; i = (i + 1) & (d->cap - 1)) {
        if (memcmp(d->keys + i * d->key_len, key, d->key_len) == 0) {
            if (n < max)
                out[n] = d->ids[i];
            n++;
        }
    }
    pthread_rwlock_unlock(&d->lock);
    return n;
}

size_t sitr_digest_index_size(sitr_digest_index_t *d)
{
    pthread_rwlock_rdlock(&d->lock);
    size_t n = d->count;
    pthread_rwlock_unlock(&d->lock);
    return n;
}

size_t sitr_digest_index_bytes(sitr_digest_index_t *d)
{
    pthread_rwlock_rdlock(&d->lock);
    size_t b = sizeof *d + d->cap * (d->key_len + sizeof(uint64_t) + 1);
    pthread_rwlock_unlock(&d->lock);
    return b;
}
