/* Dispatch of a request whose turn has come (dispatch.c).  Loop thread. */
#ifndef SITR_DISPATCH_H
#define SITR_DISPATCH_H

#include "net/req.h"

/* Runs a fully received request: early errors, 404/405, auth, the handler.
 * Called by the connection for the request at the head of its queue. */
void sitr_dispatch(sitr_req_t *req);

#endif
