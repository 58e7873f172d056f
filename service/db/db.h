/* Asynchronous PostgreSQL access for the loop thread.
 *
 * A bounded pool of libpq connections in non-blocking mode, driven by
 * uv_poll; a bounded FIFO of queries waiting for a connection; a timeout per
 * query.  One statement per submission, always parameterised (text
 * parameters; NULL value = SQL NULL).  Multi-statement work is done by SQL
 * functions defined in migrations/ so that each submission is one atomic
 * statement. */
#ifndef SITR_DB_H
#define SITR_DB_H

#include <libpq-fe.h>
#include <uv.h>
#include <sitr/err.h>
#include <sitr/err_service.h>

typedef struct sitr_db sitr_db_t;

typedef struct sitr_db_options {
    const char *conninfo;      /* libpq conninfo or URL; borrowed for the call */
    int pool_size;             /* connections, default 8 */
    int max_queue;             /* waiting queries, default 1024; beyond: SITR_EBUSY */
    unsigned query_timeout_ms; /* default 5000 */
} sitr_db_options_t;

/* Completion: res is the last PGresult (PGRES_TUPLES_OK or PGRES_COMMAND_OK)
 * on success, NULL on failure with rc < 0 (SITR_EDB, SITR_EREFUSED,
 * SITR_ETIMEOUT, SITR_EUNAVAIL, SITR_ECLOSED) and, for SITR_EDB and SITR_EREFUSED, sqlstate
 * set when the server sent one (e.g. "23505"), else NULL.
 * res is borrowed: it is cleared after the callback returns. */
typedef void (*sitr_db_cb)(int rc, PGresult *res, const char *sqlstate, void *arg);

SITR_MUST_CHECK int sitr_db_new(uv_loop_t *loop, const sitr_db_options_t *opt, sitr_db_t **out,
                                sitr_err_t *err);

/* 1 when sqlstate names a refusal of the statement's data rather than a
 * failure of the database: classes 22 (data exception) and 23 (integrity
 * constraint), and the SI codes the sitr_* functions raise.  Such
 * statements end with SITR_EREFUSED instead of SITR_EDB. */
int sitr_db_sqlstate_refused(const char *sqlstate);

/* Queues one statement.  values[i] are NUL-terminated text (borrowed only for
 * the duration of this call: they are copied).  Returns 0 and then calls cb
 * exactly once, or < 0 (SITR_EBUSY when the queue is full, SITR_EUNAVAIL
 * while the database is known to be unreachable, SITR_ECLOSED after close)
 * without ever calling cb.
 *
 * Reachability: the pool counts the database unreachable from the moment a
 * connection attempt or a connection fails while none of its connections is
 * connected, until one connects again.  Meanwhile submissions fail at once
 * with SITR_EUNAVAIL and queries waiting for a connection end with
 * SITR_EUNAVAIL instead of their timeout; the connections keep retrying
 * (backoff 100 ms doubling to 1 s).  The first failure at start-up and
 * every change (unreachable, reachable again) are logged once each. */
SITR_MUST_CHECK int sitr_db_submit(sitr_db_t *db, const char *sql, int nparams,
                                   const char *const *values, sitr_db_cb cb, void *arg);

/* Pool state for /readyz and /metrics. */
typedef struct sitr_db_stats {
    int connections, connected, busy, queued;
    int unreachable;            /* 1 while the pool counts the database unreachable (above) */
    unsigned long long outages; /* times it became unreachable */
    unsigned long long submitted, failed, timeouts;
    unsigned long long refused; /* ended with SITR_EREFUSED (not in failed) */
} sitr_db_stats_t;
void sitr_db_stats(const sitr_db_t *db, sitr_db_stats_t *out);

/* Fails queued queries with SITR_ECLOSED, lets running ones finish (or time
 * out), closes the connections; on_closed(arg) runs once everything is
 * released and the struct is freed. */
void sitr_db_close(sitr_db_t *db, void (*on_closed)(void *arg), void *arg);

/* Notifications.  payload is the NOTIFY payload, or NULL right after the
 * listener (re)subscribed: notifications sent while it was disconnected
 * are lost, so a NULL payload means "catch up now" (read the change log
 * after the last sequence number applied).  Both strings are borrowed. */
typedef void (*sitr_db_notify_cb)(const char *channel, const char *payload, void *arg);

/* Opens a dedicated connection (not part of the pool) that LISTENs on
 * channel ([a-z0-9_], at most 63 characters) and calls cb for every
 * notification, reconnecting with backoff when the server goes away.  It
 * lives until sitr_db_close.  Returns 0, SITR_EINVAL, SITR_ENOMEM or
 * SITR_ECLOSED. */
SITR_MUST_CHECK int sitr_db_listen(sitr_db_t *db, const char *channel, sitr_db_notify_cb cb,
                                   void *arg);

/* The last connection or query error reported by libpq (for logs: libpq
 * messages carry host and port, never the password); "" if none. */
const char *sitr_db_last_error(const sitr_db_t *db);

#endif
