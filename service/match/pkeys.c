/* The in-memory set of live platform keys (see pkeys.h): an array of
 * entries and an open-addressing table of their positions (linear probing,
 * at most half full), built once and never changed.  Any thread. */
#include "match/pkeys.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/err_service.h>
#include <sitr/hex.h>

typedef struct entry {
    uint8_t digest[SITR_KEYS_DIGEST_BYTES];
    int64_t id;
    char name[SITR_PKEYS_NAME_MAX + 1];
} entry_t;

struct sitr_pkeys {
    entry_t *e;
    size_t n;
    uint32_t *slot; /* position + 1, 0 = empty */
    size_t mask;    /* slots - 1 (a power of two) */
};

static size_t slot_of(const uint8_t *digest, size_t mask)
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return (size_t)h & mask;
}

void sitr_pkeys_free(sitr_pkeys_t *k)
{
    if (!k)
        return;
    if (k->e)
        sodium_memzero(k->e, k->n * sizeof *k->e);
    free(k->e);
    free(k->slot);
    free(k);
}

int sitr_pkeys_from_result(const PGresult *res, sitr_pkeys_t **out)
{
    *out = NULL;
    int rows = PQntuples(res);
    if (rows < 0 || PQnfields(res) != 3)
        return SITR_EPROTO;
    sitr_pkeys_t *k = calloc(1, sizeof *k);
    if (!k)
        return SITR_ENOMEM;
    size_t slots = 16;
    while (slots < 2 * (size_t)rows)
        slots *= 2;
    k->mask = slots - 1;
    k->slot = calloc(slots, sizeof *k->slot);
    k->e = calloc(rows ? (size_t)rows : 1, sizeof *k->e);
    if (!k->slot || !k->e) {
        sitr_pkeys_free(k);
        return SITR_ENOMEM;
    }
    for (int i = 0; i < rows; i++) {
        entry_t *e = &k->e[k->n];
        const char *hex = PQgetvalue(res, i, 2);
        const char *name = PQgetvalue(res, i, 1);
        e->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (e->id <= 0 || strlen(name) > SITR_PKEYS_NAME_MAX ||
            sitr_hex_decode(hex, strlen(hex), e->digest, sizeof e->digest) < 0) {
            sitr_pkeys_free(k);
            return SITR_EPROTO;
        }
        memcpy(e->name, name, strlen(name) + 1);
        size_t s = slot_of(e->digest, k->mask);
        while (k->slot[s])
            s = (s + 1) & k->mask;
        k->slot[s] = (uint32_t)(k->n + 1);
        k->n++;
    }
    *out = k;
    return 0;
}

int sitr_pkeys_find(const sitr_pkeys_t *k, const uint8_t digest[SITR_KEYS_DIGEST_BYTES],
                    int64_t *id, char name[SITR_PKEYS_NAME_MAX + 1])
{
    if (!k)
        return 0;
    for (size_t s = slot_of(digest, k->mask); k->slot[s]; s = (s + 1) & k->mask) {
        const entry_t *e = &k->e[k->slot[s] - 1];
        if (sodium_memcmp(e->digest, digest, SITR_KEYS_DIGEST_BYTES) == 0) {
            *id = e->id;
            memcpy(name, e->name, sizeof e->name);
            return 1;
        }
    }
    return 0;
}

size_t sitr_pkeys_size(const sitr_pkeys_t *k)
{
    return k ? k->n : 0;
}
