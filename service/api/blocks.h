/* "Upload blocked" records: what a platform's check must leave on the
 * victim's timeline, written without putting the database on the check's
 * path (issue 10).
 *
 * A handler that answered a match (POST /v1/match, and any other lookup a
 * platform makes against the cases) calls sitr_blocks_record once per
 * matched case image or case video.  The record goes into a bounded
 * in-memory queue that aggregates by (case image or case video, platform,
 * UTC day), so a picture blocked 1,204 times on one platform in one day is
 * one entry with a count of 1,204.  A writer sends the queue to PostgreSQL
 * every second (sitr_blocks_record in migrations/0004_blocks.sql), in
 * batches of at most SITR_BLOCKS_BATCH entries, each added to the one row
 * of its (item, platform, day).  When the database cannot take a batch, its
 * entries go back to the queue and are tried again a second later; nothing
 * ever waits for the database.
 *
 * "Queued" is the promise the answer makes ("recorded"): the record is in
 * this replica's memory and will be written when the database takes it.
 * It is lost only if this process dies before that (a graceful stop makes
 * one last attempt, sitr_blocks_drain) or the database refuses the batch as
 * malformed (an error, logged and counted as dropped).  A record is not
 * queued when the queue already holds max_pending distinct entries and
 * this one would be a new entry; the caller then says "recorded":false.
 *
 * Threads: loop thread only. */
#ifndef SITR_API_BLOCKS_H
#define SITR_API_BLOCKS_H

#include <stdint.h>
#include <stdio.h>

#include <sitr/err.h>
#include <uv.h>

#include "db/db.h"

/* Entries per database call. */
#define SITR_BLOCKS_BATCH 1000
/* How often the writer sends what is queued. */
#define SITR_BLOCKS_FLUSH_MS 1000

typedef struct sitr_blocks sitr_blocks_t;

typedef enum sitr_block_target {
    SITR_BLOCK_IMAGE = 0, /* a case image (case_images.id) */
    SITR_BLOCK_VIDEO = 1  /* a case video (case_videos.id) */
} sitr_block_target_t;

/* Counters for /metrics (rendered by sitr_blocks_metrics_source): blocks,
 * not entries, except pending_entries. */
typedef struct sitr_blocks_stats {
    unsigned long long queued;       /* accepted into the queue */
    unsigned long long written;      /* committed by the database */
    unsigned long long dropped;      /* refused (queue full) or lost (batch refused, shutdown) */
    unsigned long long write_errors; /* failed database calls (retried unless malformed) */
    size_t pending_entries;          /* distinct (item, platform, day) entries held */
    unsigned long long pending;      /* blocks held, not yet written */
} sitr_blocks_stats_t;

/* db is borrowed and must outlive the queue; max_pending >= 1 distinct
 * entries.  0 or SITR_ENOMEM. */
SITR_MUST_CHECK int sitr_blocks_new(uv_loop_t *loop, sitr_db_t *db, size_t max_pending,
                                    sitr_blocks_t **out);

/* Queues one block of target (an id of kind) by platform, now.  1 when
 * queued, 0 when not (queue full, or b NULL or closing). */
int sitr_blocks_record(sitr_blocks_t *b, int64_t platform_id, sitr_block_target_t kind,
                       int64_t target_id);

void sitr_blocks_stats(const sitr_blocks_t *b, sitr_blocks_stats_t *out);

/* A /metrics source (core/metrics.h); arg is the sitr_blocks_t. */
void sitr_blocks_metrics_source(FILE *out, void *arg);

/* Stops the timer and makes one last attempt to write everything queued
 * (while the database pool is still open); done(arg) runs once that is
 * over, whatever the outcome, on the loop thread. */
void sitr_blocks_drain(sitr_blocks_t *b, void (*done)(void *arg), void *arg);

/* Frees the queue once no write is in flight (after sitr_blocks_drain, or
 * at once when none ran); what is still queued is counted as dropped and
 * logged.  NULL does nothing. */
void sitr_blocks_close(sitr_blocks_t *b);

#endif
