/* The API layer's state: one sitr_api_t per server, created by
 * sitr_app_init (app.c) and reachable from any request as
 * sitr_req_server(req)->app (NULL once shutdown has released it).  It owns
 * the rate limiters and the counters shown by /metrics.  Loop thread only. */
#ifndef SITR_API_STATE_H
#define SITR_API_STATE_H

#include <stdint.h>

#include "core/ratelimit.h"
#include "net/req.h"
#include "net/router.h"

/* Failed authentications allowed per (client address, target): a burst,
 * then a steady rate per hour; the target is the case reference tried, or
 * the API key presented (its keyed digest).  So one person's mistakes lock
 * out only what they tried, not everyone behind the same address (a shared
 * NAT, a helpline's office).  Over all targets, one address has a ceiling
 * ten times higher.  Secrets have 145 bits and keys 256, so these limits
 * are not what makes guessing hopeless; they keep guessers from loading the
 * database and make one case's secret as slow to guess from an address as
 * before (docs/SECURITY.md gives the arithmetic). */
#define SITR_API_AUTH_FAIL_BURST            20
#define SITR_API_AUTH_FAIL_PER_HOUR         60
#define SITR_API_AUTH_FAIL_ADDRESS_BURST    200
#define SITR_API_AUTH_FAIL_ADDRESS_PER_HOUR 600
/* Client addresses remembered by each limiter. */
#define SITR_API_RATELIMIT_ENTRIES 65536
/* Platforms remembered by the per-platform limiter (beyond: the least
 * recently seen one starts again with a full bucket). */
#define SITR_API_PLATFORM_ENTRIES 4096

/* Every counter of the API layer, in one place, written by the handlers and
 * rendered by sitr_api_metrics_source (health.c). */
typedef struct sitr_api_counters {
    unsigned long cases_created, cases_withdrawn, images_added, auth_failures, rate_limited;
    unsigned long platform_rate_limited; /* refused by the per-platform limit */
    unsigned long long match_items, match_matched, match_pdq_ignored, match_unrecorded;
    unsigned long long match_pooled; /* /v1/match batches searched in the thread pool */
    /* the HMA-compatible /m routes (hma.h) */
    unsigned long long hma_lookups, hma_matched, hma_pdq_ignored, hma_unrecorded;
    unsigned long long hma_refused_content; /* content uploads and ?url= refused */
} sitr_api_counters_t;

typedef struct sitr_api {
    sitr_server_t *srv;
    sitr_ratelimit_t *case_rate;        /* case creations per address (cfg->case_rate per hour) */
    sitr_ratelimit_t *auth_fail;        /* failed authentications per address, all targets */
    sitr_ratelimit_t *auth_fail_target; /* failed authentications per (address, target) */
    sitr_ratelimit_t *client_rate; /* authenticated /v1 requests per address (cfg->client_rate/s) */
    sitr_ratelimit_t *platform_rate; /* platform requests per platform id (cfg->platform_rate/s) */

    sitr_api_counters_t counters;

    /* The in-memory indexes (replica.h), NULL until started; /v1/match
     * answers 503 while it is NULL or not ready. */
    struct sitr_replica *replica;

    /* "Upload blocked" records on their way to the database (blocks.h);
     * owned.  Handlers that answer a platform's match call
     * sitr_blocks_record(api->blocks, ...). */
    struct sitr_blocks *blocks;

    /* Checks per (platform, UTC day) on their way to the database
     * (checks.h); owned.  Handlers that answer a platform's check call
     * sitr_checks_add(api->checks, ...). */
    struct sitr_checks *checks;

    /* The match oracle's guard (oracle.h): distance bands and the budget
     * of distinct matching queries per (platform, case item); owned. */
    struct sitr_oracle *oracle;

    /* The victims' web page, read at start-up (web.c); owned. */
    struct sitr_web *web;
} sitr_api_t;

#endif
