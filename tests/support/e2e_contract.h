/* Records what the end-to-end tests receive, for the contract check.
 *
 * When SITR_CONTRACT_LOG names a directory (CTest sets it for every test of
 * the `pg` fixture), each answer read by sitr_e2e_request is appended as one
 * JSON line (method, request target, status, headers, body) to
 * <dir>/<program>-<pid>.jsonl.  tests/contract/contract_check.mjs then
 * validates every line against docs/openapi.yaml: an answer the document
 * does not describe fails the suite.  Without the variable nothing is
 * written. */
#ifndef SITR_E2E_CONTRACT_H
#define SITR_E2E_CONTRACT_H

#include "e2e_util.h"

void sitr_e2e_contract_record(const char *method, const char *target, const sitr_e2e_resp_t *r);

#endif
