/* The live platform API keys, held in memory so that a platform's request
 * is authenticated without a database round trip (issue 10).
 *
 * A set holds, per platform that is not revoked, its id, its name and the
 * keyed BLAKE2b digest of its API key (sitr/keys.h); never a key.  The
 * replica (replica.h) builds one at its initial load, from the same
 * snapshot as the indexes, and builds a whole new one whenever the change
 * log says a platform changed ('platform_changed': added, revoked, key
 * rotated), then swaps it in: a set is never modified once built.
 *
 * Lookup: the slot is chosen from the digest's first bytes (a digest an
 * attacker cannot compute without the operator's digest key, so where a
 * probe stops tells nothing about any key) and every candidate is compared
 * in full with sodium_memcmp (constant time).
 *
 * Threads: a set is immutable, so any thread may read it; the replica
 * builds them in its load worker or on the loop thread and swaps them on
 * the loop thread. */
#ifndef SITR_PKEYS_H
#define SITR_PKEYS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <sitr/err.h>
#include <sitr/keys.h>

/* Longest platform name (migrations/0001_schema.sql: 64 characters). */
#define SITR_PKEYS_NAME_MAX 64

typedef struct sitr_pkeys sitr_pkeys_t;

/* The query whose rows sitr_pkeys_from_result reads: id, name and the hex
 * digest of every platform that is not revoked. */
#define SITR_PKEYS_SQL                                                                             \
    "SELECT id, name, encode(key_digest, 'hex') FROM platforms WHERE revoked_at IS NULL"

/* Builds a set from the rows of SITR_PKEYS_SQL.  0 with *out (caller frees
 * with sitr_pkeys_free), SITR_ENOMEM, or SITR_EPROTO for a malformed row
 * (nothing built). */
SITR_MUST_CHECK int sitr_pkeys_from_result(const PGresult *res, sitr_pkeys_t **out);

void sitr_pkeys_free(sitr_pkeys_t *k);

/* Finds the platform whose key has this digest: 1 with *id and name (a
 * NUL-terminated copy, SITR_PKEYS_NAME_MAX + 1 bytes) filled, or 0.  k may
 * be NULL (0). */
int sitr_pkeys_find(const sitr_pkeys_t *k, const uint8_t digest[SITR_KEYS_DIGEST_BYTES],
                    int64_t *id, char name[SITR_PKEYS_NAME_MAX + 1]);

/* Platforms in the set (0 for NULL). */
size_t sitr_pkeys_size(const sitr_pkeys_t *k);

#endif
