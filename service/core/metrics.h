/* Prometheus counters of the HTTP core.
 *
 * Requests are counted by route pattern (never the raw path, which may carry
 * a case reference) and status; durations go into one histogram per route.
 * Other modules add their own lines through sources called at render time.
 * Loop thread only. */
#ifndef SITR_METRICS_H
#define SITR_METRICS_H

#include <stdio.h>

/* Routes that can be told apart (index 1..this); the router holds as many. */
#define SITR_METRICS_MAX_ROUTES 64

typedef struct sitr_metrics sitr_metrics_t;

/* Writes extra metric lines (with their # HELP / # TYPE) to out. */
typedef void (*sitr_metrics_source_fn)(FILE *out, void *arg);

sitr_metrics_t *sitr_metrics_new(void); /* NULL on OOM; free with sitr_metrics_free */
void sitr_metrics_free(sitr_metrics_t *m);

/* Names route index (1..) for the "route" label; label is borrowed. */
void sitr_metrics_set_route(sitr_metrics_t *m, int index, const char *label);
/* index 0 = no route matched. */
void sitr_metrics_observe(sitr_metrics_t *m, int index, int status, double seconds);
void sitr_metrics_conn_opened(sitr_metrics_t *m);
void sitr_metrics_conn_closed(sitr_metrics_t *m);
void sitr_metrics_conn_rejected(sitr_metrics_t *m);
int sitr_metrics_add_source(sitr_metrics_t *m, sitr_metrics_source_fn fn,
                            void *arg); /* 0 or SITR_ETOOBIG */
/* Writes everything in the Prometheus text format. */
void sitr_metrics_render(const sitr_metrics_t *m, FILE *out);

#endif
