/* Every route of sitrd (routes.c). */
#ifndef SITR_API_ROUTES_H
#define SITR_API_ROUTES_H

#include "net/server.h"

/* Adds every route to srv, body caps filled from srv->cfg.  0, or < 0
 * (SITR_EINVAL, SITR_ETOOBIG from the router). */
SITR_MUST_CHECK int sitr_api_add_routes(sitr_server_t *srv);

#endif
