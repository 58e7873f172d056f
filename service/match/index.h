/* Exact in-memory PDQ index: every stored entry within a Hamming radius of a
 * query, exactly the set a brute-force scan returns (no misses, no extras).
 *
 * Method: multi-index hashing with 11 chunks (3 x 24 + 8 x 23 bits) and
 * per-chunk radii chosen at query time so that the generalised pigeonhole
 * principle guarantees recall (see the comment at the top of index.c).
 *
 * Entries are (hash, id) pairs.  The id is an opaque 64-bit payload, e.g.
 * (case image id << 3 | dihedral variant).  A pair is stored at most once:
 * inserting a pair that is already present changes nothing; the same hash
 * under different ids, or the same id under different hashes, are distinct
 * entries and are all returned.
 *
 * Segments built apart (sitr_index_segment_build, e.g. for an import
 * prepared before it is published) can be attached under a tag in O(1) and
 * detached as a whole while they stay whole; every operation covers them.
 *
 * Threads: every function may be called from any thread.  Searches take a
 * shared (read) lock and run in parallel; mutations (insert, remove,
 * bulk_build, compact, attach, detach) are serialised by an internal writer
 * mutex and hold the exclusive lock only for short pointer swaps and
 * tombstone writes; the expensive part of a rebuild runs while searches
 * continue.  A standalone segment is built and freed by one thread.
 *
 * Limits: at most 2^32 - 2 entries.  Radius 0..256; radii above 43 are
 * answered by a linear scan (still exact, slower). */
#ifndef SITR_INDEX_H
#define SITR_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sitr/err.h>
#include <sitr/pdq.h>

typedef struct sitr_index sitr_index_t;
typedef struct sitr_index_segment sitr_index_segment_t;

/* Segments attached at once; one more merges them into the main one. */
#define SITR_INDEX_MAX_ATTACHED 4

typedef struct sitr_index_entry {
    sitr_pdq_t hash;
    uint64_t id;
} sitr_index_entry_t;

typedef struct sitr_index_hit {
    uint64_t id;
    int distance; /* 0..256 */
} sitr_index_hit_t;

/* Work done by one search (optional out-parameter of sitr_index_search). */
typedef struct sitr_index_qstats {
    uint64_t probes;     /* bucket reads */
    uint64_t candidates; /* entries whose full 256-bit distance was computed */
} sitr_index_qstats_t;

typedef struct sitr_index_stats {
    size_t entries;       /* live entries */
    size_t bytes;         /* heap bytes held by the index */
    size_t main_entries;  /* bulk-built segment, including tombstoned */
    size_t delta_entries; /* rebuilt-on-overflow segment, including tombstoned */
    size_t tail_entries;  /* unsorted recent inserts */
    size_t attached_segments;
    size_t attached_entries; /* of the attached segments, including tombstoned */
    size_t tombstones;
    uint64_t searches;
    uint64_t candidates; /* total over all searches */
} sitr_index_stats_t;

/* An empty index; NULL when out of memory.  Caller frees with
 * sitr_index_free (NULL is fine). */
sitr_index_t *sitr_index_new(void);
void sitr_index_free(sitr_index_t *idx);

/* Replaces the whole content (attached segments included, their tags
 * dropped) with entries[0..n) (borrowed for the call; duplicate pairs
 * collapse to one).  threads: worker threads for the build, 0 or 1 = the
 * calling thread only.  Searches running meanwhile see the old content
 * until the swap.  SITR_ENOMEM / SITR_ETOOBIG (n too large); on error the
 * old content stays. */
SITR_MUST_CHECK int sitr_index_bulk_build(sitr_index_t *idx, const sitr_index_entry_t *entries,
                                          size_t n, int threads);

/* Adds (hash, id).  Returns 1 when added, 0 when the pair was already
 * present (nothing changes), SITR_ENOMEM / SITR_ETOOBIG. */
SITR_MUST_CHECK int sitr_index_insert(sitr_index_t *idx, const sitr_pdq_t *hash, uint64_t id);

/* Removes (hash, id).  Returns 1 when removed, 0 when it was not present. */
int sitr_index_remove(sitr_index_t *idx, const sitr_pdq_t *hash, uint64_t id);

/* Removes every entry whose (id & mask) == (value & mask), e.g. all eight
 * dihedral variants of one case image.  A linear scan of the ids (tens of
 * milliseconds at 10M entries); returns how many were removed. */
size_t sitr_index_remove_ids(sitr_index_t *idx, uint64_t value, uint64_t mask);

/* Removes every entry for which drop(id, arg) returns nonzero, e.g. all the
 * images of one imported case: one linear scan however many go (drop runs
 * on the calling thread, under the index's writer mutex).  Returns how
 * many were removed. */
size_t sitr_index_remove_if(sitr_index_t *idx, int (*drop)(uint64_t id, void *arg), void *arg);

/* Adds entries[0..n) (borrowed for the call; pairs already present stay
 * once) with one segment build instead of n inserts: into the delta segment
 * when the batch is small next to the other segments, else by rebuilding
 * the whole index, attached segments included (threads as in bulk_build).
 * Searches running meanwhile see the old content until the swap.
 * SITR_ENOMEM / SITR_ETOOBIG; on error nothing changes. */
SITR_MUST_CHECK int sitr_index_insert_bulk(sitr_index_t *idx, const sitr_index_entry_t *entries,
                                           size_t n, int threads);

/* A standalone segment from entries[0..n) (borrowed; duplicate pairs
 * collapse), built on the calling thread plus threads - 1 workers, attached
 * to no index: searching it is impossible until attached.  Caller frees
 * with sitr_index_segment_free unless sitr_index_attach takes it.
 * SITR_ENOMEM / SITR_ETOOBIG (n too large); *out is NULL on error. */
SITR_MUST_CHECK int sitr_index_segment_build(const sitr_index_entry_t *entries, size_t n,
                                             int threads, sitr_index_segment_t **out);
void sitr_index_segment_free(sitr_index_segment_t *s); /* NULL ok */

/* Its entries (duplicate pairs counted once). */
size_t sitr_index_segment_size(const sitr_index_segment_t *s);

/* Makes seg's entries searchable in idx under tag, taking ownership of seg
 * on success (on error the caller still owns it).  The caller guarantees
 * that no pair of seg is already in idx (e.g. the ids are new): the check
 * would cost a random read per entry.  O(1) under the exclusive lock
 * (searches wait microseconds), except when SITR_INDEX_MAX_ATTACHED
 * segments are attached already: then the attached ones are first merged
 * into the main segment (a rebuild as in compact, seconds at millions of
 * entries, searches continue meanwhile; their tags are dropped).
 * SITR_EINVAL (tag 0 or already attached, seg NULL or already attached to
 * an index) / SITR_ETOOBIG (the index would pass its limit) / SITR_ENOMEM
 * (the merge); on error nothing changes. */
SITR_MUST_CHECK int sitr_index_attach(sitr_index_t *idx, sitr_index_segment_t *seg, uint64_t tag);

/* Removes the segment attached under tag as a whole, if it is still
 * attached (not merged by a compaction, a full rebuild of insert_bulk or
 * an insert's fold, a bulk_build or an attach over the limit), and frees
 * it.  Returns how many live entries left the index (its tombstoned ones
 * not counted), 0 when no segment carries that tag: the caller then
 * removes by scan, e.g. sitr_index_remove_if. */
size_t sitr_index_detach(sitr_index_t *idx, uint64_t tag);

/* Every live entry within Hamming distance <= radius of q.  Writes the first
 * min(found, max) hits to out (order unspecified) and the total number of
 * hits to *found.  qs (optional) receives this search's work counters.
 * SITR_EINVAL for a radius outside 0..256. */
SITR_MUST_CHECK int sitr_index_search(sitr_index_t *idx, const sitr_pdq_t *q, int radius,
                                      sitr_index_hit_t *out, size_t max, size_t *found,
                                      sitr_index_qstats_t *qs);

/* The same search for nq queries at one radius, sharing one memory
 * pipeline (faster per query than nq single searches).  Query i writes its
 * first min(found[i], max) hits to out + i * max (out may be NULL: counts
 * only) and its total to found[i]; qs (optional) receives nq per-query work
 * counters.  Holds the read lock for a few queries at a time, so writers
 * are not held up by a long batch.  SITR_EINVAL for a bad radius, missing
 * q/found, or nq * max overflowing. */
SITR_MUST_CHECK int sitr_index_search_batch(sitr_index_t *idx, const sitr_pdq_t *q, size_t nq,
                                            int radius, sitr_index_hit_t *out, size_t max,
                                            size_t *found, sitr_index_qstats_t *qs);

/* Merges all segments, attached ones included (their tags are dropped),
 * into one freshly built main segment (drops tombstones).  Insertions
 * trigger this on their own when the delta grows past 1/16 of the other
 * segments; callers may run it at a quiet moment. */
SITR_MUST_CHECK int sitr_index_compact(sitr_index_t *idx);

size_t sitr_index_size(sitr_index_t *idx);
void sitr_index_stats(sitr_index_t *idx, sitr_index_stats_t *out);

/* Brute-force reference: the same contract as sitr_index_search over a
 * plain array (used by tests and the benchmark). */
size_t sitr_index_brute(const sitr_index_entry_t *entries, size_t n, const sitr_pdq_t *q,
                        int radius, sitr_index_hit_t *out, size_t max);

/* The search code variant in use: "generic", "popcnt" or "avx512" (the
 * best the CPU runs unless lowered).  sitr_index_set_isa(name) selects a
 * variant for the whole process (NULL: the best again), so that tests can
 * run every variant and the benchmark can compare them; SITR_EINVAL when
 * unknown or not supported by this CPU.  Not for concurrent use with
 * searches in other threads (they may run either variant). */
int sitr_index_set_isa(const char *name);
const char *sitr_index_isa(void);

#endif
