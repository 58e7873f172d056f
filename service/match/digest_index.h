/* Exact digest tables: MD5 (16 bytes) or SHA-256 (32 bytes) -> ids.
 *
 * A multimap of (digest, id) pairs, each pair stored at most once (inserting
 * a present pair changes nothing; one digest may carry many ids).  Open
 * addressing with linear probing and backward-shift deletion; slots are
 * placed by a keyed SipHash (libsodium crypto_shorthash with a random key)
 * so that chosen digests cannot pile up in one probe run.
 *
 * Tables filled apart (e.g. for an import prepared before it is published)
 * can be attached under a tag in O(1) and detached as a whole; every
 * operation covers them.
 *
 * Threads: any thread.  Lookups take a shared lock; writers (insert,
 * remove, bulk_build, attach, detach) are serialised by a writer mutex and
 * take the exclusive lock for their change (O(1) expected, except a
 * doubling resize and the scans of remove_ids / remove_if) or, for a bulk
 * build or a merge, only for the final swap. */
#ifndef SITR_DIGEST_INDEX_H
#define SITR_DIGEST_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sitr/err.h>

#define SITR_DIGEST_MD5_BYTES    16
#define SITR_DIGEST_SHA256_BYTES 32

typedef struct sitr_digest_index sitr_digest_index_t;

/* Tables attached at once; one more merges them into the index's own. */
#define SITR_DIGEST_MAX_ATTACHED 4

/* key_len: 1..32 (16 for MD5, 32 for SHA-256).  NULL when out of memory or
 * on a bad key_len.  Caller frees with sitr_digest_index_free (NULL ok). */
sitr_digest_index_t *sitr_digest_index_new(size_t key_len);
void sitr_digest_index_free(sitr_digest_index_t *d);

/* key points to key_len bytes (borrowed).  Returns 1 when added, 0 when the
 * pair was already present (in d's own table or an attached one),
 * SITR_ENOMEM / SITR_ETOOBIG. */
SITR_MUST_CHECK int sitr_digest_index_insert(sitr_digest_index_t *d, const uint8_t *key,
                                             uint64_t id);

/* One part of the input of sitr_digest_index_bulk_build: n pairs
 * (keys + i * key_len, ids[i]). */
typedef struct sitr_digest_part {
    const uint8_t *keys;
    const uint64_t *ids;
    size_t n;
} sitr_digest_part_t;

/* Replaces the whole content (attached tables dropped with their tags)
 * with the pairs of parts[0..nparts) (borrowed for the call; duplicate
 * pairs collapse to one), sized once for their number.  Much faster than
 * one insert per pair: the slots are filled in home order, so the table is
 * written sequentially.  Lookups running meanwhile see the old content
 * until the swap; other writers wait.  SITR_ENOMEM / SITR_ETOOBIG; on
 * error the old content stays. */
SITR_MUST_CHECK int sitr_digest_index_bulk_build(sitr_digest_index_t *d,
                                                 const sitr_digest_part_t *parts, size_t nparts);

/* Makes the pairs of part (a table built with sitr_digest_index_bulk_build
 * or inserts, same key_len, no attached tables of its own, not shared)
 * findable in d under tag, taking ownership of part on success (on error
 * the caller still owns it).  The caller guarantees that no pair of part is
 * in d (e.g. the ids are new): the check would cost a random read per
 * pair.  O(1) under d's exclusive lock; when SITR_DIGEST_MAX_ATTACHED
 * tables are attached already, they are first merged into d's own table
 * (sized once; lookups continue meanwhile; their tags are dropped).
 * SITR_EINVAL (part NULL, == d, attached elsewhere or with attached tables,
 * another key_len, tag 0 or already attached) / SITR_ENOMEM /
 * SITR_ETOOBIG (the merge); on error nothing changes. */
SITR_MUST_CHECK int sitr_digest_index_attach(sitr_digest_index_t *d, sitr_digest_index_t *part,
                                             uint64_t tag);

/* Drops the table attached under tag as a whole (if not merged by an
 * attach over the limit or a bulk_build) and frees it; returns how many
 * pairs it still held (0: no such tag, the caller then removes by scan,
 * e.g. sitr_digest_index_remove_if). */
size_t sitr_digest_index_detach(sitr_digest_index_t *d, uint64_t tag);

/* Returns 1 when removed, 0 when absent. */
int sitr_digest_index_remove(sitr_digest_index_t *d, const uint8_t *key, uint64_t id);

/* Removes every pair with (id & mask) == (value & mask) (a full scan);
 * returns how many. */
size_t sitr_digest_index_remove_ids(sitr_digest_index_t *d, uint64_t value, uint64_t mask);

/* Removes every pair for which drop(id, arg) returns nonzero (a full scan,
 * drop called under the exclusive lock); returns how many. */
size_t sitr_digest_index_remove_if(sitr_digest_index_t *d, int (*drop)(uint64_t id, void *arg),
                                   void *arg);

/* Ids stored under key: the first min(total, max) go to out (order
 * unspecified); returns the total. */
size_t sitr_digest_index_lookup(sitr_digest_index_t *d, const uint8_t *key, uint64_t *out,
                                size_t max);

size_t sitr_digest_index_size(sitr_digest_index_t *d);
size_t sitr_digest_index_bytes(sitr_digest_index_t *d);

#endif
