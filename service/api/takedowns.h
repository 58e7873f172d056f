/* GET /v1/takedowns and POST /v1/takedowns/{id} (takedowns.c; Bearer auth,
 * contract in docs/api-platforms.md). */
#ifndef SITR_API_TAKEDOWNS_H
#define SITR_API_TAKEDOWNS_H

#include "net/req.h"

int sitr_api_takedowns_list(sitr_req_t *req);
int sitr_api_takedowns_answer(sitr_req_t *req);

#endif
