/* Operational endpoints (health.c): GET /healthz, GET /readyz, GET
 * /metrics, and the API layer's counters in /metrics. */
#ifndef SITR_API_HEALTH_H
#define SITR_API_HEALTH_H

#include <stdio.h>

#include "net/req.h"

int sitr_api_healthz(sitr_req_t *req);
int sitr_api_readyz(sitr_req_t *req);
int sitr_api_metrics(sitr_req_t *req);

/* A metrics source (core/metrics.h) printing every counter of the API
 * layer; arg is the sitr_api_t. */
void sitr_api_metrics_source(FILE *out, void *arg);

#endif
