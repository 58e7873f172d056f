/* The sitr_stats_* gauges of /metrics: the transparency figures
 * (`sitr-admin stats`) that make sense as gauges, read from PostgreSQL
 * (sitr_stats_gauges in migrations/0007_stats.sql) on a timer, never on a
 * request's path.  /metrics prints the figures of the last refresh that
 * succeeded, with its time, so a scrape never waits for the database and a
 * stale value can be told from a fresh one.  One query at a time; a
 * refresh still in flight when the timer fires again is not doubled.
 *
 * Threads: loop thread only. */
#ifndef SITR_JOBS_STATS_H
#define SITR_JOBS_STATS_H

#include <stdio.h>

#include <sitr/err.h>
#include <uv.h>

#include "db/db.h"

/* Samples rendered at most (beyond, a refresh keeps the first ones and
 * logs it once). */
#define SITR_STATS_MAX_SAMPLES 20000

typedef struct sitr_stats sitr_stats_t;

/* Refreshes every interval_s seconds (>= 1), the first time a second after
 * this call.  db is borrowed and must outlive the refresher.  0 or
 * SITR_ENOMEM. */
SITR_MUST_CHECK int sitr_stats_new(uv_loop_t *loop, sitr_db_t *db, unsigned interval_s,
                                   sitr_stats_t **out);

/* A /metrics source (core/metrics.h); arg is the sitr_stats_t. */
void sitr_stats_metrics_source(FILE *out, void *arg);

/* Stops the timer; freed once no query is in flight.  NULL does nothing. */
void sitr_stats_close(sitr_stats_t *s);

#endif
