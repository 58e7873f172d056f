/* Match checks per (platform, UTC day), kept in PostgreSQL for the
 * transparency figures (`sitr-admin stats`, issue 12) without putting the
 * database on the check's path.
 *
 * A handler that answered a platform's check (POST /v1/match: one per
 * item; GET /m/lookup and /m/raw_lookup: one per lookup) calls
 * sitr_checks_add.  The count goes into a small in-memory table, one entry
 * per (platform, day), and a writer adds the table to platform_checks every
 * SITR_CHECKS_FLUSH_MS (sitr_checks_record in migrations/0007_stats.sql),
 * as the block writer does with blocks (blocks.h): a call that fails for a
 * transient reason is tried again a second later, a call the database
 * refuses as malformed is dropped and counted, and a graceful stop makes
 * one last attempt (sitr_checks_drain).  Only the counts of the last
 * seconds before a crash can be lost.  At most SITR_CHECKS_MAX entries are
 * held; beyond (thousands of platforms during a long outage), new entries
 * are counted as dropped.
 *
 * Threads: loop thread only. */
#ifndef SITR_API_CHECKS_H
#define SITR_API_CHECKS_H

#include <stdint.h>
#include <stdio.h>

#include <sitr/err.h>
#include <uv.h>

#include "db/db.h"

/* Entries held (and sent in one call). */
#define SITR_CHECKS_MAX 4096
/* How often the writer sends what is held. */
#define SITR_CHECKS_FLUSH_MS 1000

typedef struct sitr_checks sitr_checks_t;

/* db is borrowed and must outlive the counter.  0 or SITR_ENOMEM. */
SITR_MUST_CHECK int sitr_checks_new(uv_loop_t *loop, sitr_db_t *db, sitr_checks_t **out);

/* Counts n checks by platform, today (UTC).  NULL or closing: nothing. */
void sitr_checks_add(sitr_checks_t *c, int64_t platform_id, uint64_t n);

/* A /metrics source (core/metrics.h); arg is the sitr_checks_t. */
void sitr_checks_metrics_source(FILE *out, void *arg);

/* Stops the timer and makes one last attempt to write what is held;
 * done(arg) runs once that is over, whatever the outcome, on the loop
 * thread. */
void sitr_checks_drain(sitr_checks_t *c, void (*done)(void *arg), void *arg);

/* Frees the counter once no write is in flight; what is still held is
 * counted as dropped.  NULL does nothing. */
void sitr_checks_close(sitr_checks_t *c);

#endif
