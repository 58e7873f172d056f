/* The victims' case endpoints (cases.c): POST /v1/cases, GET and DELETE
 * /v1/cases/{case}, POST /v1/cases/{case}/images. */
#ifndef SITR_API_CASES_H
#define SITR_API_CASES_H

#include "net/req.h"

int sitr_api_cases_create(sitr_req_t *req);
int sitr_api_cases_get(sitr_req_t *req);
int sitr_api_cases_add_images(sitr_req_t *req);
int sitr_api_cases_withdraw(sitr_req_t *req);

#endif
