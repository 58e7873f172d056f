/* Prometheus text exposition of the HTTP core's counters.
 *
 * Fixed-size tables: one slot per route (index 0 = unmatched), each with a
 * few status codes and a latency histogram.  Nothing grows with traffic, so
 * the label set stays bounded whatever clients send.  Sources registered by
 * other modules append their own families.  Loop thread only. */
#include "core/metrics.h"

#include <stdlib.h>
#include <string.h>

#include <sitr/err.h>

#define MAX_ROUTES   (SITR_METRICS_MAX_ROUTES + 1)
#define MAX_STATUSES 16
#define MAX_SOURCES  16

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct route_stats {
    const char *label;
    struct {
        int status;
        unsigned long long count;
    } st[MAX_STATUSES];
    unsigned long long bucket[NBUCKETS]; /* non-cumulative */
    unsigned long long count;
    double sum;
} route_stats_t;

struct sitr_metrics {
    route_stats_t routes[MAX_ROUTES];
    unsigned long long conns_open, conns_total, conns_rejected;
    struct {
        sitr_metrics_source_fn fn;
        void *arg;
    } sources[MAX_SOURCES];
    int nsources;
};

sitr_metrics_t *sitr_metrics_new(void)
{
    sitr_metrics_t *m = calloc(1, sizeof *m);
    if (m)
        m->routes[0].label = "unmatched";
    return m;
}

void sitr_metrics_free(sitr_metrics_t *m)
{
    free(m);
}

void sitr_metrics_set_route(sitr_metrics_t *m, int index, const char *label)
{
    if (index > 0 && index < MAX_ROUTES)
        m->routes[index].label = label;
}

void sitr_metrics_observe(sitr_metrics_t *m, int index, int status, double seconds)
{
    if (index < 0 || index >= MAX_ROUTES || !m->routes[index].label)
        index = 0;
    route_stats_t *r = &m->routes[index];
    int i;
    for (i = 0; i < MAX_STATUSES; i++) {
        if (r->st[i].status == status || r->st[i].status == 0)
            break;
    }
    if (i == MAX_STATUSES)
        i = MAX_STATUSES - 1; /* more distinct codes than slots: lump into the last */
    r->st[i].status = r->st[i].status ? r->st[i].status : status;
    r->st[i].count++;
    size_t b = 0;
    while (b < NBUCKETS && seconds > buckets[b])
        b++;
    if (b < NBUCKETS)
        r->bucket[b]++;
    r->count++;
    r->sum += seconds;
}

void sitr_metrics_conn_opened(sitr_metrics_t *m)
{
    m->conns_open++;
    m->conns_total++;
}

void sitr_metrics_conn_closed(sitr_metrics_t *m)
{
    if (m->conns_open)
        m->conns_open--;
}

void sitr_metrics_conn_rejected(sitr_metrics_t *m)
{
    m->conns_rejected++;
}

int sitr_metrics_add_source(sitr_metrics_t *m, sitr_metrics_source_fn fn, void *arg)
{
    if (m->nsources == MAX_SOURCES)
        return SITR_ETOOBIG;
    m->sources[m->nsources].fn = fn;
    m->sources[m->nsources].arg = arg;
    m->nsources++;
    return 0;
}

void sitr_metrics_render(const sitr_metrics_t *m, FILE *out)
{
    fprintf(out, "# HELP sitr_http_requests_total HTTP requests answered, by route pattern and "
                 "status.\n# TYPE sitr_http_requests_total counter\n");
    for (int r = 0; r < MAX_ROUTES; r++) {
        const route_stats_t *rs = &m->routes[r];
        for (int i = 0; rs->label && i < MAX_STATUSES && rs->st[i].status; i++)
            fprintf(out, "sitr_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", rs->label,
                    rs->st[i].status, rs->st[i].count);
    }
    fprintf(out, "# HELP sitr_http_request_duration_seconds Time from the first byte of a "
                 "request to its answer.\n# TYPE sitr_http_request_duration_seconds histogram\n");
    for (int r = 0; r < MAX_ROUTES; r++) {
        const route_stats_t *rs = &m->routes[r];
        if (!rs->label || !rs->count)
            continue;
        unsigned long long cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += rs->bucket[b];
            fprintf(out, "sitr_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    rs->label, buckets[b], cum);
        }
        fprintf(out,
                "sitr_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                "sitr_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                "sitr_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                rs->label, rs->count, rs->label, rs->sum, rs->label, rs->count);
    }
    fprintf(out,
            "# HELP sitr_http_connections Open client connections.\n"
            "# TYPE sitr_http_connections gauge\nsitr_http_connections %llu\n"
            "# HELP sitr_http_connections_total Client connections accepted.\n"
            "# TYPE sitr_http_connections_total counter\nsitr_http_connections_total %llu\n"
            "# HELP sitr_http_connections_rejected_total Connections refused over the limit.\n"
            "# TYPE sitr_http_connections_rejected_total counter\n"
            "sitr_http_connections_rejected_total %llu\n",
            m->conns_open, m->conns_total, m->conns_rejected);
    for (int i = 0; i < m->nsources; i++)
        m->sources[i].fn(out, m->sources[i].arg);
}
