/* The match oracle's guard (issue 14, docs/SECURITY.md §4 "The match
 * oracle"): what stops a platform from rebuilding a victim's PDQ by probing
 * /v1/match or the /m lookups with hashes a bit apart.
 *
 * Two rules, applied by every answer that names a case image or case video
 * matched through a perceptual hash (signals pdq, video_frame, vpdq_copy,
 * vpdq_excerpt; an exact md5/sha256 match leaks nothing and is never
 * touched):
 *
 *  - The distance a platform sees is a band (sitr_oracle_band): 0 for the
 *    exact hash, SITR_MSEARCH_BAND_NEAR (15) for 1 up to it, the threshold
 *    above it.  A single bit changed in a query moves the answer only when
 *    it crosses a band's edge, never inside a band (the edge at 0 only
 *    confirms a hash already found, one budgeted query per guess).
 *  - A budget per (platform, case image or case video): the distinct query
 *    hashes that matched it.  A query is remembered only as a keyed digest
 *    (BLAKE2b-128 under the operator's digest key, over a domain tag, the
 *    platform, the target and the query's hashes): never the hash itself.
 *    The first `budget` distinct queries are answered (repeats of one of
 *    them too); the next one suspends the pair: from then on its
 *    perceptual matches are withheld from that platform (the answer says
 *    "not matched" for that target), an alert is counted and logged once
 *    (platform id and the opaque ref that platform sees, never a hash or a
 *    case), and the pair stays suspended until the operator clears it.
 *
 * Shared by the replicas through the database (migrations/0010_oracle.sql):
 * every SITR_ORACLE_SYNC_MS a replica sends the digests it learnt since the
 * last time and the pairs it suspended on its own count (sitr_oracle_sync);
 * the database opens an alert for a pair whose distinct digests over every
 * replica pass the budget, and answers the open alerts, which this replica
 * then suspends too.  A pair this replica knew suspended that is no longer
 * among them was cleared by the operator (sitr-admin alerts clear): it is
 * answered again, its count starting afresh.  The match path never waits
 * for this: when the database is away, each replica goes on with its own
 * count and sends what it queued once it is back (at most
 * SITR_ORACLE_MAX_PENDING digests; beyond, they are counted as dropped).
 *
 * Memory: at most SITR_ORACLE_MAX_PAIRS pairs, each holding at most
 * `budget` digests of 16 bytes.  When the table is full a new pair is not
 * tracked (answered as before, counted in sitr_oracle_untracked_total and
 * logged once): a platform would need that many distinct (platform, case
 * item) matches to get there, and each one it probes still shows in the
 * block records.
 *
 * Threads: loop thread only (the handlers call it while building their
 * answers). */
#ifndef SITR_API_ORACLE_H
#define SITR_API_ORACLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sitr/err.h>

#include <uv.h>

#include "core/log.h"
#include "db/db.h"
#include "match/msearch.h"

/* Pairs tracked at most (about 40 MB with the default budget, if every
 * one were full). */
#define SITR_ORACLE_MAX_PAIRS (1u << 20)
/* How often a replica syncs with the database. */
#define SITR_ORACLE_SYNC_MS 1000
/* Digests queued for the database at most. */
#define SITR_ORACLE_MAX_PENDING 65536
/* sitr_oracle_fingerprint's size. */
#define SITR_ORACLE_FP_BYTES 32

typedef struct sitr_oracle sitr_oracle_t;

typedef struct sitr_oracle_stats {
    unsigned long long distinct;  /* distinct (pair, query) digests remembered */
    unsigned long long withheld;  /* matches withheld from an answer (pair suspended) */
    unsigned long long alerts;    /* pairs suspended by this replica */
    unsigned long long untracked; /* matches answered without tracking (table full) */
    size_t pairs;                 /* pairs tracked */
    size_t suspended;             /* of those, suspended */
    unsigned long long synced;    /* database syncs that succeeded */
    unsigned long long sync_errors;
    unsigned long long dropped; /* digests not sent: the queue was full */
} sitr_oracle_stats_t;

/* key (copied): the digest key.  budget: distinct matching queries
 * answered per pair, >= 1.  threshold: the match threshold (for the bands).
 * db (borrowed, must outlive it; NULL: no sharing) is synced every
 * SITR_ORACLE_SYNC_MS on loop.  0 or SITR_ENOMEM. */
SITR_MUST_CHECK int sitr_oracle_new(uv_loop_t *loop, sitr_db_t *db, const uint8_t key[32],
                                    unsigned budget, int threshold, sitr_oracle_t **out);
/* Stops syncing with the database for good (the timer stops; a call in
 * flight still ends, with SITR_ECLOSED when the pool closes): the server
 * calls it before it frees the pool, while match jobs may still consult o
 * from memory until sitr_oracle_close.  NULL does nothing. */
void sitr_oracle_stop_sync(sitr_oracle_t *o);
/* Stops syncing and frees o once no database call is in flight (digests not
 * yet sent are lost: the database keeps what it had).  NULL does nothing. */
void sitr_oracle_close(sitr_oracle_t *o);

/* The distance a platform sees for a hit: digests and an exact PDQ keep
 * their 0; every other perceptual distance its band's upper bound. */
int sitr_oracle_band(const sitr_oracle_t *o, const sitr_msearch_match_t *h);

/* 1 when h's signal is perceptual (the guard applies). */
int sitr_oracle_guarded(const sitr_msearch_match_t *h);

/* A keyed fingerprint of a query item's perceptual hashes (an image's PDQ,
 * a video's frame hashes in order), out[SITR_ORACLE_FP_BYTES]; held only
 * while its answer is built. */
void sitr_oracle_fingerprint(const sitr_oracle_t *o, const sitr_msearch_item_t *item, uint8_t *out);

/* Whether the perceptual hit h may be shown to platform for the query
 * whose fingerprint is fp: 1 yes, 0 withheld (the pair is, or now becomes,
 * suspended).  log_ids: the request's (sitr_req_log_ids), for the alert's
 * log line. */
int sitr_oracle_admit(sitr_oracle_t *o, int64_t platform, const sitr_msearch_match_t *h,
                      const uint8_t *fp, const sitr_log_ids_t *log_ids);

void sitr_oracle_stats(const sitr_oracle_t *o, sitr_oracle_stats_t *out);

/* A /metrics source (core/metrics.h); arg is the sitr_oracle_t. */
void sitr_oracle_metrics_source(FILE *out, void *arg);

#endif
