/* The listening socket, the list of connections and the shutdown sequence.
 *
 * Shutdown (first SIGTERM/SIGINT or sitr_server_stop): close the listener,
 * tell every connection to drain (idle ones close at once, busy ones after
 * their answers), and arm a timer that cuts whatever is still open after
 * SITR_SHUTDOWN_TIMEOUT_MS.  When the last connection is gone the shutdown
 * hook lets the API layer close its handles, then the database pool closes,
 * then the signal handles and the timer; the loop then has nothing left and
 * uv_run returns.  A second signal cuts connections immediately.  Loop
 * thread only. */
#include "net/server.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "net/conn.h"
#include "core/log.h"

#define MAX_OVERFLOW 64 /* rejected connections being answered 503 at once */

int sitr_server_add_routes(sitr_server_t *srv, const sitr_route_t *routes, size_t n)
{
    size_t before = sitr_router_count(srv->router);
    int rc = sitr_router_add(srv->router, routes, n);
    size_t after = sitr_router_count(srv->router);
    for (size_t i = before + 1; i <= after; i++)
        sitr_metrics_set_route(srv->metrics, (int)i, sitr_router_get(srv->router, i)->pattern);
    return rc;
}

void sitr_server_set_auth_hook(sitr_server_t *srv, sitr_auth_hook_fn hook)
{
    srv->auth_hook = hook;
}

void sitr_server_set_ready(sitr_server_t *srv, int ready, const char *reason)
{
    if (srv->ready != (ready != 0))
        sitr_log(SITR_LOG_INFO, NULL, "%s%s%s", ready ? "ready" : "not ready",
                 !ready && reason ? ": " : "", !ready && reason ? reason : "");
    srv->ready = ready != 0;
    snprintf(srv->not_ready, sizeof srv->not_ready, "%s", reason ? reason : "not ready");
}

int sitr_server_init(sitr_server_t *srv, uv_loop_t *loop, const sitr_config_t *cfg,
                     sitr_err_t *err)
{
    memset(srv, 0, sizeof *srv);
    srv->loop = loop;
    srv->cfg = cfg;
    srv->exit_code = 0;
    snprintf(srv->not_ready, sizeof srv->not_ready, "starting");
    if (sodium_init() < 0)
        return sitr_err_set(err, SITR_EINTERNAL, "libsodium failed to initialise");
    uint8_t tag[3];
    randombytes_buf(tag, sizeof tag);
    snprintf(srv->instance, sizeof srv->instance, "%02x%02x%02x", tag[0], tag[1], tag[2]);
    srv->metrics = sitr_metrics_new();
    srv->router = sitr_router_new();
    if (!srv->metrics || !srv->router) {
        sitr_server_free(srv);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    return 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
    sitr_server_t *srv = h->data;
    sitr_log(SITR_LOG_INFO, NULL, "%s received", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    sitr_server_stop(srv);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *listener, int status)
{
    sitr_server_t *srv = listener->data;
    if (status < 0) {
        sitr_log(SITR_LOG_WARN, NULL, "accept failed: %s", uv_strerror(status));
        return;
    }
    if (srv->stopping)
        return;
    int overflow = srv->nconns - srv->noverflow >= srv->cfg->max_connections;
    if (overflow) {
        sitr_metrics_conn_rejected(srv->metrics);
        if (srv->noverflow >= MAX_OVERFLOW) {
            /* Too many even to answer politely: take it off the backlog and
             * close it. */
            uv_tcp_t *t = malloc(sizeof *t);
            if (!t || uv_tcp_init(srv->loop, t) < 0) {
                free(t);
                return;
            }
            t->data = t;
            if (uv_accept(listener, (uv_stream_t *)t) < 0) {}
            uv_close((uv_handle_t *)t, free_handle);
            return;
        }
        sitr_log(SITR_LOG_DEBUG, NULL, "connection limit (%u) reached: answering 503",
                 srv->cfg->max_connections);
    }
    sitr_conn_accept(srv, listener, overflow);
}

int sitr_server_start(sitr_server_t *srv, sitr_err_t *err)
{
    int rc;
    if ((rc = uv_tcp_init(srv->loop, &srv->listener)) < 0)
        return sitr_err_set(err, SITR_EIO, "cannot create the listening socket: %s",
                            uv_strerror(rc));
    srv->listener.data = srv;
    srv->listening = 1;
    if ((rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&srv->cfg->listen_addr, 0)) <
            0 ||
        (rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection)) < 0)
        return sitr_err_set(err, SITR_EIO, "cannot listen on %s: %s", srv->cfg->listen,
                            uv_strerror(rc));
    uv_signal_init(srv->loop, &srv->sig_term);
    uv_signal_init(srv->loop, &srv->sig_int);
    uv_timer_init(srv->loop, &srv->drain_timer);
    srv->sig_term.data = srv->sig_int.data = srv->drain_timer.data = srv;
    srv->signals = 1;
    uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
    uv_signal_start(&srv->sig_int, on_signal, SIGINT);
    sitr_log(SITR_LOG_INFO, NULL, "sitrd %s listening on %s (instance %s)", SITR_VERSION,
             srv->cfg->listen, srv->instance);
    return 0;
}

void sitr_server_shutdown_done(sitr_server_t *srv)
{
    if (srv->signals) {
        uv_close((uv_handle_t *)&srv->sig_term, NULL);
        uv_close((uv_handle_t *)&srv->sig_int, NULL);
        uv_close((uv_handle_t *)&srv->drain_timer, NULL);
        srv->signals = 0;
    }
    sitr_log(SITR_LOG_INFO, NULL, "stopped");
}

static void finish_shutdown(sitr_server_t *srv)
{
    if (srv->shutdown_done)
        return;
    srv->shutdown_done = 1;
    if (srv->signals)
        uv_timer_stop(&srv->drain_timer);
    if (srv->shutdown_hook)
        srv->shutdown_hook(srv);
    else
        sitr_server_shutdown_done(srv);
}

static void cut_all(sitr_server_t *srv)
{
    for (sitr_conn_t *c = srv->conns; c; c = c->next)
        sitr_conn_close(c);
}

static void on_drain_timeout(uv_timer_t *t)
{
    sitr_server_t *srv = t->data;
    sitr_log(SITR_LOG_WARN, NULL, "shutdown timeout: cutting %u connections", srv->nconns);
    cut_all(srv);
}

void sitr_server_stop(sitr_server_t *srv)
{
    if (srv->stopping) {
        if (!srv->shutdown_done) {
            sitr_log(SITR_LOG_WARN, NULL, "second stop: cutting %u connections", srv->nconns);
            cut_all(srv);
        }
        return;
    }
    srv->stopping = 1;
    sitr_log(SITR_LOG_INFO, NULL, "shutting down: %u connections to drain", srv->nconns);
    if (srv->listening) {
        uv_close((uv_handle_t *)&srv->listener, NULL);
        srv->listening = 0;
    }
    for (sitr_conn_t *c = srv->conns; c; c = c->next)
        sitr_conn_drain(c);
    if (srv->nconns == 0) {
        finish_shutdown(srv);
        return;
    }
    if (srv->signals && srv->cfg->shutdown_timeout_ms)
        uv_timer_start(&srv->drain_timer, on_drain_timeout, srv->cfg->shutdown_timeout_ms, 0);
    else if (!srv->cfg->shutdown_timeout_ms)
        cut_all(srv);
}

void sitr_server_abort(sitr_server_t *srv, int exit_code, const char *why)
{
    sitr_log(SITR_LOG_ERROR, NULL, "%s", why);
    if (!srv->exit_code)
        srv->exit_code = exit_code;
    sitr_server_stop(srv);
}

void sitr_server_conn_closed(sitr_server_t *srv, sitr_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    if (c->overflow)
        srv->noverflow--;
    sitr_metrics_conn_closed(srv->metrics);
    sitr_log_conn(SITR_LOG_DEBUG, c->id, "closed");
    if (srv->stopping && srv->nconns == 0)
        finish_shutdown(srv);
}

void sitr_server_free(sitr_server_t *srv)
{
    sitr_router_free(srv->router);
    sitr_metrics_free(srv->metrics);
    srv->router = NULL;
    srv->metrics = NULL;
}
