/* POST /v1/match (match.c; Bearer auth, contract in docs/api-platforms.md). */
#ifndef SITR_API_MATCH_H
#define SITR_API_MATCH_H

#include "net/req.h"

int sitr_api_match(sitr_req_t *req);
/* Runs cb(arg) on the loop thread once no /v1/match batch is searching in
 * the thread pool (at once if none is): the replica must outlive them. */
void sitr_api_match_when_idle(void (*cb)(void *arg), void *arg);

#endif
