/* The check counter and its writer (see checks.h).
 *
 * Two small arrays of (platform, day, count): `pending` takes new counts,
 * `sending` is the snapshot being written.  Entries are found by a linear
 * scan: the writer empties `pending` every second, so it holds about one
 * entry per platform that checked in that second (two around midnight).
 * A flush swaps the arrays when `sending` is empty and sends all of it in
 * one call; the database takes rows in key order, so replicas never
 * deadlock.  A call that fails for a transient reason puts the snapshot
 * back into `pending`; `pending` and `sending` together hold at most
 * SITR_CHECKS_MAX entries, so that always fits.
 *
 * Loop thread only. */
#include "api/checks.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sitr/err_service.h>

#include "core/log.h"

typedef struct centry {
    int64_t platform;
    uint64_t count;
    int32_t day;
} centry_t;

/* One array parameter: at most 20 digits and a comma per entry, braces. */
#define COLUMN_BYTES ((size_t)SITR_CHECKS_MAX * 22 + 3)

struct sitr_checks {
    sitr_db_t *db;
    centry_t pending[SITR_CHECKS_MAX], sending[SITR_CHECKS_MAX];
    size_t npending, nsending;
    int inflight, closing, draining, timer_closed, failing, full;
    uv_timer_t timer;
    void (*drained)(void *arg);
    void *drained_arg;
    char buf[3 * COLUMN_BYTES];
    unsigned long long added, written, dropped, write_errors;
};

/* Adds e into pending; 0 when it needs a new entry and there is no room. */
static int pending_add(sitr_checks_t *c, const centry_t *e)
{
    for (size_t i = c->npending; i-- > 0;) {
        centry_t *p = &c->pending[i];
        if (p->platform == e->platform && p->day == e->day) {
            p->count += e->count;
            return 1;
        }
    }
    if (c->npending + c->nsending >= SITR_CHECKS_MAX)
        return 0;
    c->pending[c->npending++] = *e;
    return 1;
}

void sitr_checks_add(sitr_checks_t *c, int64_t platform_id, uint64_t n)
{
    if (!c || c->closing || n == 0)
        return;
    centry_t e = {.platform = platform_id, .count = n, .day = (int32_t)(time(NULL) / 86400)};
    if (!pending_add(c, &e)) {
        c->dropped += n;
        if (!c->full)
            sitr_log(SITR_LOG_WARN, NULL,
                     "check counter full (%d platform days): new checks are not counted until "
                     "it drains",
                     SITR_CHECKS_MAX);
        c->full = 1;
        return;
    }
    c->added += n;
}

static uint64_t checks_in(const centry_t *e, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += e[i].count;
    return s;
}

static void maybe_free(sitr_checks_t *c)
{
    if (!c->closing || c->inflight || !c->timer_closed)
        return;
    uint64_t lost = checks_in(c->pending, c->npending) + checks_in(c->sending, c->nsending);
    if (lost)
        sitr_log(SITR_LOG_WARN, NULL, "%" PRIu64 " checks were never counted in the database",
                 lost);
    free(c);
}

static void drain_over(sitr_checks_t *c)
{
    if (!c->draining || !c->drained)
        return;
    void (*cb)(void *) = c->drained;
    c->drained = NULL;
    cb(c->drained_arg);
}

static void flush(sitr_checks_t *c);

static void on_written(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    (void)res;
    sitr_checks_t *c = arg;
    c->inflight = 0;
    uint64_t n = checks_in(c->sending, c->nsending);
    if (rc == 0) {
        c->written += n;
        c->nsending = 0;
        if (c->failing)
            sitr_log(SITR_LOG_INFO, NULL, "check counts written again");
        c->failing = 0;
        if (c->full && c->npending < SITR_CHECKS_MAX / 2) {
            sitr_log(SITR_LOG_INFO, NULL, "check counter no longer full");
            c->full = 0;
        }
    } else {
        c->write_errors++;
        int malformed = rc == SITR_EREFUSED ||
                        (rc == SITR_EDB && sqlstate &&
                         (strncmp(sqlstate, "42", 2) == 0 || strncmp(sqlstate, "P0", 2) == 0));
        if (malformed) {
            c->dropped += n;
            sitr_log(SITR_LOG_ERROR, NULL,
                     "the database refused %" PRIu64 " check counts (SQLSTATE %s); dropped", n,
                     sqlstate);
        } else {
            if (!c->failing)
                sitr_log(SITR_LOG_WARN, NULL,
                         "check counts not written: %s; kept in memory and retried every %d ms",
                         sitr_strerror(rc), SITR_CHECKS_FLUSH_MS);
            c->failing = 1;
            size_t held = c->nsending;
            c->nsending = 0;
            for (size_t i = 0; i < held; i++)
                pending_add(c, &c->sending[i]); /* fits: see the bound */
        }
        c->nsending = 0;
    }
    if (c->closing) {
        drain_over(c);
        maybe_free(c);
        return;
    }
    if (rc == 0 && c->draining && c->npending) {
        flush(c);
        return;
    }
    drain_over(c);
}

static int entry_cmp(const void *pa, const void *pb)
{
    const centry_t *a = pa, *b = pb;
    if (a->platform != b->platform)
        return a->platform < b->platform ? -1 : 1;
    return (a->day > b->day) - (a->day < b->day);
}

/* Sends `sending` as three array literals (sitr_checks_record). */
static void send_all(sitr_checks_t *c)
{
    char *col[3];
    const char *v[3];
    for (int k = 0; k < 3; k++) {
        col[k] = c->buf + (size_t)k * COLUMN_BYTES;
        v[k] = col[k];
        *col[k]++ = '{';
    }
    for (size_t i = 0; i < c->nsending; i++) {
        const centry_t *e = &c->sending[i];
        const char *sep = i ? "," : "";
        col[0] += sprintf(col[0], "%s%" PRId64, sep, e->platform);
        col[1] += sprintf(col[1], "%s%" PRId32, sep, e->day);
        col[2] += sprintf(col[2], "%s%" PRIu64, sep, e->count);
    }
    for (int k = 0; k < 3; k++) {
        *col[k]++ = '}';
        *col[k] = '\0';
    }
    c->inflight = 1;
    int rc =
        sitr_db_submit(c->db, "SELECT sitr_checks_record($1::bigint[], $2::int[], $3::bigint[])", 3,
                       v, on_written, c);
    if (rc < 0)
        on_written(rc, NULL, NULL, c);
}

static void flush(sitr_checks_t *c)
{
    if (c->inflight || c->nsending || !c->npending) {
        if (!c->inflight && !c->npending)
            drain_over(c);
        return;
    }
    memcpy(c->sending, c->pending, c->npending * sizeof *c->pending);
    c->nsending = c->npending;
    c->npending = 0;
    qsort(c->sending, c->nsending, sizeof *c->sending, entry_cmp);
    send_all(c);
}

static void on_timer(uv_timer_t *t)
{
    flush(t->data);
}

int sitr_checks_new(uv_loop_t *loop, sitr_db_t *db, sitr_checks_t **out)
{
    sitr_checks_t *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return SITR_ENOMEM;
    c->db = db;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_timer, SITR_CHECKS_FLUSH_MS, SITR_CHECKS_FLUSH_MS);
    *out = c;
    return 0;
}

void sitr_checks_metrics_source(FILE *out, void *arg)
{
    const sitr_checks_t *c = arg;
    fprintf(out,
            "# HELP sitr_checks_counted_total Platform checks (match items, HMA lookups) counted "
            "for the per-platform daily figures.\n"
            "# TYPE sitr_checks_counted_total counter\nsitr_checks_counted_total %llu\n"
            "# HELP sitr_checks_written_total Checks whose count the database committed.\n"
            "# TYPE sitr_checks_written_total counter\nsitr_checks_written_total %llu\n"
            "# HELP sitr_checks_dropped_total Checks not counted in the database: counter full, "
            "refused by the database, or still held at exit.\n"
            "# TYPE sitr_checks_dropped_total counter\nsitr_checks_dropped_total %llu\n"
            "# HELP sitr_checks_write_errors_total Failed writes of the check counts.\n"
            "# TYPE sitr_checks_write_errors_total counter\nsitr_checks_write_errors_total %llu\n"
            "# HELP sitr_checks_pending Checks counted in memory, not yet written.\n"
            "# TYPE sitr_checks_pending gauge\nsitr_checks_pending %llu\n",
            c->added, c->written, c->dropped, c->write_errors,
            (unsigned long long)(checks_in(c->pending, c->npending) +
                                 checks_in(c->sending, c->nsending)));
}

void sitr_checks_drain(sitr_checks_t *c, void (*done)(void *arg), void *arg)
{
    if (!c || c->draining) {
        if (done)
            done(arg);
        return;
    }
    c->draining = 1;
    c->drained = done;
    c->drained_arg = arg;
    uv_timer_stop(&c->timer);
    if (!c->inflight)
        flush(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    sitr_checks_t *c = h->data;
    c->timer_closed = 1;
    maybe_free(c);
}

void sitr_checks_close(sitr_checks_t *c)
{
    if (!c || c->closing)
        return;
    c->closing = 1;
    c->drained = NULL;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}
