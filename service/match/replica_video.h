/* Videos in the replica's indexes (used by replica*.c only): one video's
 * packed frames (vframes.h) into a catalogue (vcat.h) and index entries
 * under the id space of vid.h, and back out.  The same code serves the
 * bulk load (entries staged through a callback) and the follower (entries
 * inserted one by one), so both put exactly the same entries.
 *
 * What a video contributes: every stored frame's plain hash (kind 0) and,
 * for case videos, the variants its mask says (dihedral kinds 1..7,
 * trimmed 8) -- exactly what the storage policy packed (vpack.h).
 *
 * Threads: any (the catalogue and indexes are thread-safe); the replica
 * calls these from its one job in flight. */
#ifndef SITR_REPLICA_VIDEO_H
#define SITR_REPLICA_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include <sitr/err.h>
#include <sitr/pdq.h>

#include "match/index.h"
#include "match/vcat.h"

/* Receives one index entry; returns >= 0, or < 0 to stop. */
typedef int (*sitr_replica_video_entry_fn)(void *arg, const sitr_pdq_t *hash, uint64_t id);

/* Puts video `id` (packed frames[0..len), stored duration or < 0) into the
 * catalogue, then hands each of its index entries to fn.  Returns the
 * number of entries, or < 0: SITR_EINVAL for a malformed list (nothing
 * done), SITR_ENOMEM, or fn's error.  A retry after a failure is harmless
 * (the catalogue entry is replaced, index insertions are idempotent). */
SITR_MUST_CHECK long sitr_replica_video_add(sitr_vcat_t *cat, int64_t id, const uint8_t *frames,
                                            size_t len, double duration,
                                            sitr_replica_video_entry_fn fn, void *arg);

/* An entry function inserting into the index given as arg. */
int sitr_replica_video_insert(void *idx, const sitr_pdq_t *hash, uint64_t id);

/* Removes video `id` from the catalogue and, when it was there, every index
 * entry of it (a linear scan of the index ids).  Returns 1 when it was
 * there. */
int sitr_replica_video_remove(sitr_index_t *idx, sitr_vcat_t *cat, int64_t id);

#endif
