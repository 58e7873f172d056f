/* The application as seen by sitrd's main: the API layer (service/api) and
 * the background jobs (service/jobs) wired together.  app.c and main.c are
 * the only files that include both.
 *
 * sitr_app_init runs once on the loop thread after sitr_server_init and
 * sitr_db_new (main.c: the pool connects in the background) and before the
 * server listens.  It adds the /v1 routes (sitr_server_add_routes), sets the
 * auth hook (sitr_server_set_auth_hook), stores its state in srv->app, and
 * starts its asynchronous start-up work (schema check, index load, then the
 * matcher and the webhook sender).  When
 * that work succeeds it calls sitr_server_set_ready(srv, 1, NULL); if the
 * schema is behind it calls sitr_server_abort(srv, 1, "...what to run...").
 * A synchronous failure returns < 0 with err filled: sitrd exits 1.
 *
 * sitr_app_drain runs first during shutdown (main.c's shutdown hook), when
 * every client connection is gone: one last attempt to write the queued
 * blocks (api/blocks.h) while the pool is open; done(arg) runs afterwards,
 * on the loop thread, whatever the outcome.
 *
 * sitr_app_close runs once during shutdown (from main.c's shutdown hook),
 * when every client connection is gone and before the database pool
 * closes: stop timers, close handles, free srv->app.  Queries still in
 * flight then fail with SITR_ECLOSED. */
#ifndef SITR_APP_H
#define SITR_APP_H

#include <sitr/err.h>
#include <sitr/err_service.h>

#include "net/server.h"

SITR_MUST_CHECK int sitr_app_init(sitr_server_t *srv, sitr_err_t *err);
void sitr_app_drain(sitr_server_t *srv, void (*done)(void *arg), void *arg);
void sitr_app_close(sitr_server_t *srv);

#endif
