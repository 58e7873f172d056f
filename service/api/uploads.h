/* POST /v1/uploads and DELETE /v1/uploads/{id} (uploads.c; Bearer auth,
 * contract in docs/api-platforms.md). */
#ifndef SITR_API_UPLOADS_H
#define SITR_API_UPLOADS_H

#include "net/req.h"

int sitr_api_uploads_report(sitr_req_t *req);
int sitr_api_uploads_remove(sitr_req_t *req);

#endif
