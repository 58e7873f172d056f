/* The listening socket, the signals and the graceful shutdown of sitrd
 * (listener.c).  Loop thread only. */
#ifndef SITR_LISTENER_H
#define SITR_LISTENER_H

#include <sitr/err.h>

#include "net/server.h"

/* Binds, listens and installs the signal handlers. */
SITR_MUST_CHECK int sitr_server_start(sitr_server_t *srv, sitr_err_t *err);
/* Starts a graceful shutdown (idempotent). A second call cuts connections. */
void sitr_server_stop(sitr_server_t *srv);
/* Fatal problem found after start-up (e.g. the schema is behind): logs why
 * at error level, makes main exit with exit_code, and shuts down. */
void sitr_server_abort(sitr_server_t *srv, int exit_code, const char *why);

#endif
