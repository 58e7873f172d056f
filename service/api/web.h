/* The victims' web page (web.c): GET / and GET /static/{file} from a fixed
 * list of files read once from dir (blocking: before listening). */
#ifndef SITR_API_WEB_H
#define SITR_API_WEB_H

#include <stddef.h>
#include <stdint.h>

#include <sitr/err.h>

#include "net/req.h"

typedef struct sitr_web sitr_web_t;
SITR_MUST_CHECK int sitr_api_web_load(const char *dir, sitr_web_t **out, sitr_err_t *err);
void sitr_api_web_free(sitr_web_t *web);
/* The bytes of one of the page's files (borrowed from web), or NULL. */
const uint8_t *sitr_api_web_file(const sitr_web_t *web, const char *name, size_t *len);
int sitr_api_web_index(sitr_req_t *req);
int sitr_api_web_static(sitr_req_t *req);
/* GET /favicon.ico: the page's icon (an SVG), so no browser logs a 404. */
int sitr_api_web_favicon(sitr_req_t *req);
/* GET /verify: the page that checks a report's signature in the browser. */
int sitr_api_web_verify(sitr_req_t *req);

#endif
