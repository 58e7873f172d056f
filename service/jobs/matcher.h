/* The matcher: cross-matches new case images against stored uploads and new
 * uploads against case images, turning matches into takedowns.
 *
 * Exactly one sitrd at a time does this: the one whose dedicated database
 * session holds the advisory lock 1936290931 (pg_try_advisory_lock, retried
 * every second by the others).  When the holder dies its session ends, the
 * lock is released and another replica takes over.  The holder consumes the
 * change log in seq order from matcher_progress.last_seq, never past what
 * its own replica has applied (so the indexes it searches contain every
 * change up to the one it handles), and writes each batch's matches,
 * takedowns, case events and progress in ONE transaction
 * (sitr_matcher_commit); a replay after a crash is harmless.
 *
 * Threads: start/close and the getters on the loop thread; the work runs on
 * a dedicated thread with a blocking libpq connection, so the loop never
 * waits for the database.  The replica's indexes are searched from that
 * thread (they are thread-safe). */
#ifndef SITR_MATCHER_H
#define SITR_MATCHER_H

#include <stdint.h>

#include <uv.h>

#include <sitr/err.h>

#include "core/metrics.h"
#include "match/replica.h"

/* The session advisory lock key of the matcher role (see the schema). */
#define SITR_MATCHER_LOCK_KEY 1936290931

typedef struct sitr_matcher sitr_matcher_t;

typedef struct sitr_matcher_options {
    const char *conninfo;    /* borrowed for the call */
    int threshold;           /* PDQ match radius (DESIGN.md: default 31), 0..256 */
    sitr_metrics_t *metrics; /* optional: exports the role and progress */
} sitr_matcher_options_t;

/* Starts competing for the role.  rep is borrowed; the matcher holds it
 * (sitr_replica_hold) until its thread has stopped, so the two may be
 * closed in any order.  The matcher registers itself as the replica's
 * on_applied callback.  0, or < 0 with err filled. */
SITR_MUST_CHECK int sitr_matcher_start(uv_loop_t *loop, sitr_replica_t *rep,
                                       const sitr_matcher_options_t *opt, sitr_matcher_t **out,
                                       sitr_err_t *err);

/* 1 while this process holds the matcher role. */
int sitr_matcher_is_holder(const sitr_matcher_t *m);
/* The last change-log seq this process committed as the matcher (0 if
 * none). */
int64_t sitr_matcher_last_seq(const sitr_matcher_t *m);

/* Stops (the session ends, releasing the role), then frees; done(arg) runs
 * on the loop thread afterwards.  NULL m: done runs at once. */
void sitr_matcher_close(sitr_matcher_t *m, void (*done)(void *arg), void *arg);

#endif
