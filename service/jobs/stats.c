/* The sitr_stats_* gauges (see stats.h).
 *
 * A refresh runs `SELECT * FROM sitr_stats_gauges()` (metric, labels,
 * value rows) and renders the rows into one text in the Prometheus format,
 * grouped by metric under its HELP and TYPE lines, which replaces the
 * previous text.  The metrics source only copies that text: a scrape costs
 * no query.  A failed refresh keeps the previous text and is counted;
 * failures are logged when they start and when they end.
 *
 * Loop thread only. */
#include "jobs/stats.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sitr/err_service.h>

#include "core/log.h"

/* Every metric sitr_stats_gauges may return, in the order /metrics lists
 * them; a row naming another metric is ignored. */
static const struct {
    const char *name, *help;
} METRICS[] = {
    {"sitr_stats_cases", "Victims' cases in the database by state (open, withdrawn)."},
    {"sitr_stats_held", "Images and videos of victims' cases held (hashes not erased), by kind."},
    {"sitr_stats_source_held",
     "Images and videos of partner lists held (hashes not erased), by source and kind."},
    {"sitr_stats_checks",
     "Platform checks (match items, HMA lookups) written to the database per platform, all "
     "replicas, all time."},
    {"sitr_stats_blocks", "Uploads blocked per platform, all replicas, all time."},
    {"sitr_stats_takedowns",
     "Takedowns per platform and outcome, all time, withdrawn cases' included (their pending "
     "ones as cancelled)."},
    {"sitr_stats_takedown_answer_seconds",
     "Median (quantile 0.5) and 90th percentile (0.9) of the time from a takedown request to the "
     "platform's first answer, takedowns requested in the current UTC month."},
};
#define NMETRICS (sizeof METRICS / sizeof METRICS[0])

struct sitr_stats {
    sitr_db_t *db;
    uv_timer_t timer;
    int inflight, closing, timer_closed, failing, truncated;
    char *text;          /* the last refresh's samples, or NULL before the first */
    double refreshed_at; /* its time, seconds since the epoch */
    unsigned long long refreshes, errors;
};

static void maybe_free(sitr_stats_t *s)
{
    if (!s->closing || s->inflight || !s->timer_closed)
        return;
    free(s->text);
    free(s);
}

/* Labels come from our own SQL, built from platform names that the schema
 * limits to [A-Za-z0-9._-]; anything else is not printed. */
static int labels_ok(const char *l)
{
    for (; *l; l++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-=\",", *l))
            return 0;
    return 1;
}

static char *render(PGresult *res, int *truncated)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    int rows = PQntuples(res);
    *truncated = rows > SITR_STATS_MAX_SAMPLES;
    if (*truncated)
        rows = SITR_STATS_MAX_SAMPLES;
    for (size_t m = 0; m < NMETRICS; m++) {
        int any = 0;
        for (int i = 0; i < rows; i++) {
            if (strcmp(PQgetvalue(res, i, 0), METRICS[m].name) != 0)
                continue;
            const char *labels = PQgetvalue(res, i, 1);
            if (!labels_ok(labels) || PQgetisnull(res, i, 2))
                continue;
            if (!any)
                fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", METRICS[m].name, METRICS[m].help,
                        METRICS[m].name);
            any = 1;
            fprintf(f, "%s{%s} %.17g\n", METRICS[m].name, labels,
                    strtod(PQgetvalue(res, i, 2), NULL));
        }
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void on_result(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    (void)sqlstate;
    sitr_stats_t *s = arg;
    s->inflight = 0;
    if (s->closing) {
        maybe_free(s);
        return;
    }
    char *text = NULL;
    int truncated = 0;
    if (rc == 0 && PQnfields(res) == 3) {
        text = render(res, &truncated);
        if (!text)
            rc = SITR_ENOMEM;
    } else if (rc == 0) {
        rc = SITR_EDB;
    }
    if (rc == 0) {
        free(s->text);
        s->text = text;
        s->refreshed_at = (double)time(NULL);
        s->refreshes++;
        if (s->failing)
            sitr_log(SITR_LOG_INFO, NULL, "statistics gauges refreshed again");
        s->failing = 0;
        if (truncated && !s->truncated)
            sitr_log(SITR_LOG_WARN, NULL,
                     "statistics gauges: more than %d samples, the rest not shown",
                     SITR_STATS_MAX_SAMPLES);
        s->truncated = truncated;
    } else {
        s->errors++;
        if (!s->failing)
            sitr_log(SITR_LOG_WARN, NULL,
                     "statistics gauges not refreshed: %s; /metrics shows the last figures read",
                     sitr_strerror(rc));
        s->failing = 1;
    }
    maybe_free(s);
}

static void on_timer(uv_timer_t *t)
{
    sitr_stats_t *s = t->data;
    if (s->inflight || s->closing)
        return;
    s->inflight = 1;
    int rc = sitr_db_submit(s->db, "SELECT metric, labels, value FROM sitr_stats_gauges()", 0, NULL,
                            on_result, s);
    if (rc < 0)
        on_result(rc, NULL, NULL, s);
}

int sitr_stats_new(uv_loop_t *loop, sitr_db_t *db, unsigned interval_s, sitr_stats_t **out)
{
    *out = NULL;
    sitr_stats_t *s = calloc(1, sizeof *s);
    if (!s)
        return SITR_ENOMEM;
    s->db = db;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uint64_t every = (uint64_t)(interval_s ? interval_s : 1) * 1000;
    uv_timer_start(&s->timer, on_timer, 1000, every);
    *out = s;
    return 0;
}

void sitr_stats_metrics_source(FILE *out, void *arg)
{
    const sitr_stats_t *s = arg;
    if (s->text)
        fputs(s->text, out);
    fprintf(out,
            "# HELP sitr_stats_refreshed_timestamp_seconds When the sitr_stats_* gauges were "
            "last read from the database (0: not yet).\n"
            "# TYPE sitr_stats_refreshed_timestamp_seconds gauge\n"
            "sitr_stats_refreshed_timestamp_seconds %.0f\n"
            "# HELP sitr_stats_refresh_errors_total Failed reads of the sitr_stats_* gauges.\n"
            "# TYPE sitr_stats_refresh_errors_total counter\n"
            "sitr_stats_refresh_errors_total %llu\n",
            s->refreshed_at, s->errors);
}

static void on_timer_closed(uv_handle_t *h)
{
    sitr_stats_t *s = h->data;
    s->timer_closed = 1;
    maybe_free(s);
}

void sitr_stats_close(sitr_stats_t *s)
{
    if (!s || s->closing)
        return;
    s->closing = 1;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
