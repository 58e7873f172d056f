/* The replica's in-memory view of the database, for matching.
 *
 * Each sitrd holds two exact PDQ indexes, four digest tables and two video
 * catalogues:
 *  - case images and case video frames (searched by POST /v1/match and by
 *    the matcher for new uploads): PDQ id = case_image_id << 3 | variant
 *    (variant 0 = the PDQ, 1..7 the dihedral variants), digest id =
 *    case_image_id; a case video's frames and digests have ids with bit 63
 *    set (match/vid.h), its times and distinct-hash numbers are in the
 *    case_videos catalogue (match/vcat.h);
 *  - uploads (searched by the matcher for new case images and videos):
 *    id = upload_id, a video upload's frames bit 63 | upload_id << 24 |
 *    slot << 4, its frames as a query in the upload_videos catalogue.
 * The live platform keys (pkeys.h) are held beside them.
 * They are loaded at start with one bulk read, then kept current by
 * following the change log (LISTEN for a wake-up, then read every change
 * after the last applied seq), so a lost notification or a reconnect loses
 * nothing.  The server is not ready (/readyz 503) until the load is done.
 *
 * Threads: created, fed and closed on the loop thread.  The index objects
 * themselves are thread-safe for searching (see index.h, digest_index.h),
 * so request handlers may search them from uv_queue_work. */
#ifndef SITR_REPLICA_H
#define SITR_REPLICA_H

#include <stdint.h>

#include <sitr/err.h>
#include <uv.h>

#include "db/db.h"
#include "match/digest_index.h"
#include "match/index.h"
#include "match/pkeys.h"
#include "match/vcat.h"
#include "core/metrics.h"

typedef struct sitr_replica sitr_replica_t;

#define SITR_REPLICA_VARIANT_BITS 3
#define SITR_REPLICA_CASE_PDQ_ID(image_id, variant)                                                \
    (((uint64_t)(image_id) << 3) | (uint64_t)(variant))
#define SITR_REPLICA_IMAGE_OF(pdq_id) ((int64_t)((pdq_id) >> 3))

typedef struct sitr_replica_indexes {
    sitr_index_t *case_pdq;             /* case image PDQs and variants */
    sitr_digest_index_t *case_md5;      /* -> case_image_id */
    sitr_digest_index_t *case_sha256;   /* -> case_image_id */
    sitr_index_t *upload_pdq;           /* -> upload_id */
    sitr_digest_index_t *upload_md5;    /* -> upload_id */
    sitr_digest_index_t *upload_sha256; /* -> upload_id */
    sitr_vcat_t *case_videos;           /* case video catalogue (NULL: none loaded) */
    sitr_vcat_t *upload_videos;         /* video upload catalogue, with query frames */
} sitr_replica_indexes_t;

/* What a replica runs on (all borrowed; they must outlive it). */
typedef struct sitr_replica_opts {
    uv_loop_t *loop;
    sitr_db_t *db;            /* the pool, for the change-log reads */
    const char *database_url; /* for the bulk load's own connection (copied) */
    sitr_metrics_t *metrics;  /* NULL: no metrics exported */
    void (*on_ready)(void *arg);
    void *arg;
} sitr_replica_opts_t;

/* Starts loading (in the thread pool) and following.  on_ready(arg) runs
 * once on the loop thread when the initial load is applied.  0 or < 0 with
 * err filled. */
SITR_MUST_CHECK int sitr_replica_start(const sitr_replica_opts_t *o, sitr_replica_t **out,
                                       sitr_err_t *err);

/* Where the last initial load spent its time (wall seconds unless noted),
 * for bench-load and the debug log. */
typedef struct sitr_replica_load_stats {
    double total_s;        /* connect to indexes swapped in */
    double copy_s;         /* snapshot + every COPY, both connections */
    double copy_cpu_s;     /* client CPU of receiving and parsing the rows */
    double present_s;      /* marking the loaded ids present */
    double build_s;        /* PDQ and digest builds (in parallel) */
    double pdq_build_s;    /* both PDQ bulk builds */
    double digest_build_s; /* the four digest tables, on their own thread */
    int connections;       /* COPY connections used (1 or 2) */
} sitr_replica_load_stats_t;

/* Copies the statistics of the last load (call once ready: loop thread). */
void sitr_replica_load_stats(const sitr_replica_t *r, sitr_replica_load_stats_t *out);

/* 1 once the initial load is applied. */
int sitr_replica_is_ready(const sitr_replica_t *r);

/* Authenticates a platform from memory (pkeys.h): the keyed digest of
 * the key it sent -> 1 with *id and name filled, 0 for no live key with
 * that digest, SITR_EBUSY before the initial load (no keys yet).  The keys
 * are those of the load's snapshot, then reloaded on every
 * 'platform_changed' row of the change log.  Loop thread. */
int sitr_replica_find_platform(const sitr_replica_t *r,
                               const uint8_t digest[SITR_KEYS_DIGEST_BYTES], int64_t *id,
                               char name[SITR_PKEYS_NAME_MAX + 1]);

/* The indexes (borrowed; valid until sitr_replica_close). */
const sitr_replica_indexes_t *sitr_replica_indexes(const sitr_replica_t *r);

/* Highest change-log seq applied to the indexes (atomic: any thread). */
int64_t sitr_replica_applied_seq(const sitr_replica_t *r);

/* Registers a callback run on the loop thread after changes up to seq were
 * applied (the matcher waits for the indexes to reach what it consumes). */
void sitr_replica_on_applied(sitr_replica_t *r, void (*cb)(int64_t seq, void *arg), void *arg);

/* Keeps the indexes alive past sitr_replica_close until the matching
 * release (the matcher's thread searches them and stops asynchronously).
 * Loop thread. */
void sitr_replica_hold(sitr_replica_t *r);
void sitr_replica_release(sitr_replica_t *r);

/* Stops following at once and frees everything (indexes included) once no work is
 * in flight and every hold is released; done(arg) runs afterwards on the loop thread.  The
 * change-log listener lives until the database pool closes (db.h has no "unlisten"): close the pool
 * in the same loop iteration (sitrd's shutdown does: the shutdown hook, then sitr_db_close) so that
 * no notification reaches the freed replica.  Its /metrics source likewise must not be rendered
 * after close. */
void sitr_replica_close(sitr_replica_t *r, void (*done)(void *arg), void *arg);

#endif
