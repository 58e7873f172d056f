/* The HMA-compatible routes (docs/api-hma.md): Meta's Hasher-Matcher-
 * Actioner 2.x matching API ("OpenMediaMatch", /m/...) answered from the
 * same in-memory indexes and under the same rules as POST /v1/match.
 *
 *  hma.c       GET /m/lookup, GET /m/raw_lookup: search, answer, record
 *  hma_info.c  GET /m/index/status, POST /m/compare, and POST /m/lookup
 *              (content uploads, refused: sitr never receives images or
 *              videos)
 *
 * Errors leave in HMA's shape, {"message": "..."}, through
 * sitr_api_hma_error; authentication and rate-limit refusals before the
 * handler keep sitr's shape (HMA itself has no authentication), except
 * "not loaded yet" (sitr_api_hma_not_ready).  Loop thread. */
#ifndef SITR_API_HMA_H
#define SITR_API_HMA_H

#include "net/req.h"
#include "net/router.h"

int sitr_api_hma_lookup(sitr_req_t *req);
int sitr_api_hma_raw_lookup(sitr_req_t *req);
int sitr_api_hma_index_status(sitr_req_t *req);
int sitr_api_hma_compare(sitr_req_t *req);
int sitr_api_hma_lookup_post(sitr_req_t *req);

/* 1 for the /m routes. */
int sitr_api_hma_is_route(const sitr_route_t *route);

/* A /m route before this replica loaded its index (and the platform keys):
 * answers as HMA does, without authentication (nothing is searched):
 * index/status "not present", the others 503 "index not yet ready". */
int sitr_api_hma_not_ready(sitr_req_t *req, const sitr_route_t *route);

/* {"message": message} with status. */
void sitr_api_hma_error(sitr_req_t *req, int status, const char *message);

/* Runs cb(arg) once no HMA lookup is searching in the thread pool (the
 * indexes it reads may then be closed); at once when none is. */
void sitr_api_hma_when_idle(void (*cb)(void *arg), void *arg);

#endif
