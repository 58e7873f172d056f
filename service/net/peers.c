/* Per-address connection counts (see peers.h): a power-of-two array of
 * chain heads, one malloc'd entry per address with open connections,
 * freed when its count returns to zero.  Loop thread only. */
#include "net/peers.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

typedef struct entry {
    struct entry *next;
    uint8_t key[SITR_PEERS_KEY_BYTES];
    unsigned count;
} entry_t;

struct sitr_peers {
    entry_t **buckets;
    size_t nbuckets; /* power of two */
    size_t naddresses;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

int sitr_peers_new(size_t expected, sitr_peers_t **out)
{
    *out = NULL;
    if (expected < 1 || expected > ((size_t)1 << 24))
        return SITR_EINVAL;
    sitr_peers_t *p = calloc(1, sizeof *p);
    if (!p)
        return SITR_ENOMEM;
    p->nbuckets = 1;
    while (p->nbuckets < 2 * expected)
        p->nbuckets <<= 1;
    p->buckets = calloc(p->nbuckets, sizeof *p->buckets);
    if (!p->buckets) {
        free(p);
        return SITR_ENOMEM;
    }
    crypto_shorthash_keygen(p->hash_key);
    *out = p;
    return 0;
}

void sitr_peers_free(sitr_peers_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nbuckets; i++) {
        entry_t *e = p->buckets[i];
        while (e) {
            entry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(p->buckets);
    free(p);
}

static entry_t **slot_of(const sitr_peers_t *p, const uint8_t key[SITR_PEERS_KEY_BYTES])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, SITR_PEERS_KEY_BYTES, p->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    entry_t **link = &p->buckets[v & (p->nbuckets - 1)];
    while (*link && memcmp((*link)->key, key, SITR_PEERS_KEY_BYTES) != 0)
        link = &(*link)->next;
    return link; /* *link is the entry, or NULL at the chain's end */
}

unsigned sitr_peers_count(const sitr_peers_t *p, const uint8_t key[SITR_PEERS_KEY_BYTES])
{
    entry_t *e = *slot_of(p, key);
    return e ? e->count : 0;
}

int sitr_peers_add(sitr_peers_t *p, const uint8_t key[SITR_PEERS_KEY_BYTES])
{
    entry_t **link = slot_of(p, key);
    if (!*link) {
        entry_t *e = calloc(1, sizeof *e);
        if (!e)
            return SITR_ENOMEM;
        memcpy(e->key, key, SITR_PEERS_KEY_BYTES);
        *link = e;
        p->naddresses++;
    }
    (*link)->count++;
    return 0;
}

void sitr_peers_remove(sitr_peers_t *p, const uint8_t key[SITR_PEERS_KEY_BYTES])
{
    entry_t **link = slot_of(p, key);
    entry_t *e = *link;
    if (!e)
        return;
    if (--e->count == 0) {
        *link = e->next;
        free(e);
        p->naddresses--;
    }
}

size_t sitr_peers_addresses(const sitr_peers_t *p)
{
    return p ? p->naddresses : 0;
}
