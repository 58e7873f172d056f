/* The two phases of `sitr-admin import` around the staging (import.c;
 * migrations/0012_staged_imports.sql):
 *
 *  - before staging: the source's import lock (a session-level advisory
 *    lock, held until the publication or the end of the session; another
 *    import of the same source is waited for), then the discard of the
 *    source's abandoned staged imports (an earlier sitr-admin that was
 *    interrupted or failed between its phases);
 *  - after the staging committed: the wait for the live replicas (rows of
 *    `replicas` seen in the last 15 s) to acknowledge the prepared import
 *    (import_prepared), polled every 100 ms until all of them did or
 *    --wait seconds passed, then the publication in its own transaction.
 *
 * A replica that did not prepare in time loads the import when it reaches
 * the publication (correct, only slower); its name is printed.  Interrupted
 * or failed between the phases, the import stays staged (matched by no
 * one) until the next import of the source discards it or `source
 * withdraw` erases it; the message says so. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"

#define POLL_NS       100000000L /* 100 ms */
#define LIVE_INTERVAL "15 seconds"

static volatile sig_atomic_t interrupted;
static struct sigaction old_int, old_term;
static int catching;

static void on_signal(int sig)
{
    interrupted = sig;
}

void admin_import_signals(int on)
{
    if (on && !catching) {
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        interrupted = 0;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        catching = 1;
    } else if (!on && catching) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        catching = 0;
    }
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The stored-but-not-published message (stderr). */
static void say_staged(const char *source)
{
    fprintf(stderr,
            "sitr-admin: the import is stored but not published: no replica matches it; it stays "
            "so until the next import of source '%s' discards it, or `sitr-admin source withdraw "
            "%s` erases it\n",
            source, source);
}

int admin_import_lock(PGconn *c, const char *source)
{
    const char *v[] = {source};
    PGresult *r = admin_exec(c, "SELECT sitr_source_lock($1, false)", 1, v);
    if (!r)
        return -1;
    int got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (got)
        return 0;
    fprintf(stderr, "sitr-admin: another import of source '%s' is running; waiting for it to end\n",
            source);
    return admin_cmd(c, "SELECT sitr_source_lock($1, true)", 1, v);
}

int admin_import_discard(PGconn *c, const char *source)
{
    const char *v[] = {source};
    PGresult *r = admin_exec(c, "SELECT sitr_source_discard_abandoned($1)", 1, v);
    if (!r)
        return -1;
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (n > 0)
        fprintf(stderr,
                "sitr-admin: %ld abandoned import(s) of source '%s' discarded (stored by an "
                "interrupted sitr-admin, never published; their hashes are erased)\n",
                n, source);
    return 0;
}

/* One poll: live replicas, how many prepared case_id, the names of the
 * others (caller frees).  -1 on a database error. */
static int poll_replicas(PGconn *c, const char *case_id, int *live, int *prepared, char **missing)
{
    const char *v[] = {case_id};
    PGresult *r = admin_exec(c,
                             "SELECT count(*), count(p.instance), "
                             "coalesce(string_agg(r.instance, ', ' ORDER BY r.instance) "
                             "FILTER (WHERE p.instance IS NULL), '') "
                             "FROM replicas r LEFT JOIN import_prepared p "
                             "ON p.case_id = $1::bigint AND p.instance = r.instance "
                             "WHERE r.seen_at > now() - interval '" LIVE_INTERVAL "'",
                             1, v);
    if (!r)
        return -1;
    *live = atoi(PQgetvalue(r, 0, 0));
    *prepared = atoi(PQgetvalue(r, 0, 1));
    *missing = strdup(PQgetvalue(r, 0, 2));
    PQclear(r);
    return *missing ? 0 : -1;
}

/* Waits for the live replicas; fills out's wait fields.  0, or -1 (database
 * error or interrupted; the message is printed). */
static int wait_replicas(PGconn *c, const char *case_id, int wait_s, int progress,
                         admin_publish_t *out)
{
    double t0 = mono_s();
    int rc = 0, shown = -1, shown_live = -1;
    char *missing = NULL;
    for (;;) {
        free(missing);
        missing = NULL;
        if (interrupted) {
            rc = -1;
            break;
        }
        if (poll_replicas(c, case_id, &out->live, &out->prepared, &missing) < 0) {
            rc = -1;
            break;
        }
        if (progress && out->live > 0 && (out->prepared != shown || out->live != shown_live)) {
            fprintf(stderr, "\rreplicas prepared %d/%d ", out->prepared, out->live);
            shown = out->prepared, shown_live = out->live;
        }
        if (out->live == 0 || out->prepared >= out->live)
            break;
        if (mono_s() - t0 >= wait_s) {
            out->timed_out = 1;
            break;
        }
        struct timespec ts = {0, POLL_NS};
        nanosleep(&ts, NULL);
    }
    if (shown >= 0)
        fputc('\n', stderr);
    out->wait_s = mono_s() - t0;
    if (interrupted)
        fprintf(stderr, "sitr-admin: interrupted while waiting for the replicas\n");
    else if (out->timed_out)
        fprintf(stderr,
                "sitr-admin: not prepared after %d s by: %s (they load the import when they "
                "reach its publication: correct, only slower)\n",
                wait_s, missing);
    free(missing);
    return rc;
}

int admin_import_publish(PGconn *c, const char *source, const char *case_id, int wait_s,
                         int progress, admin_publish_t *out)
{
    memset(out, 0, sizeof *out);
    int rc = wait_s > 0 ? wait_replicas(c, case_id, wait_s, progress, out) : 0;
    if (rc == 0 && interrupted) {
        fprintf(stderr, "sitr-admin: interrupted before the publication\n");
        rc = -1;
    }
    admin_import_signals(0);
    if (rc < 0) {
        say_staged(source);
        return -1;
    }
    out->waited = wait_s > 0;
    const char *v[] = {case_id};
    PGresult *r = admin_exec(c, "SELECT sitr_source_publish($1::bigint)", 1, v);
    if (!r) {
        say_staged(source);
        return -1;
    }
    int published = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!published) {
        fprintf(stderr,
                "sitr-admin: the import was withdrawn before its publication (`source withdraw "
                "%s`?): nothing published\n",
                source);
        return -1;
    }
    /* Published whatever happens now: the session's end releases the lock
     * if this fails. */
    const char *u[] = {source};
    PQclear(PQexecParams(c, "SELECT pg_advisory_unlock(1936290933, hashtext($1))", 1, NULL, u, NULL,
                         NULL, 0));
    return 0;
}

void admin_publish_describe(const admin_publish_t *p, char *out, size_t cap)
{
    if (!p->waited)
        snprintf(out, cap, "replicas not waited for (--wait 0), published");
    else if (p->live == 0)
        snprintf(out, cap, "no live replica, published");
    else
        snprintf(out, cap, "replicas prepared %.1f s (%d/%d), published", p->wait_s, p->prepared,
                 p->live);
}
