/* The listening socket of sitrd: accepting connections (at
 * cfg->max_connections an idle or slow one is evicted for the new one, else
 * 503), SIGTERM/SIGINT, and the start of the graceful shutdown.
 *
 * Shutdown (first SIGTERM/SIGINT or sitr_server_stop): close the listener,
 * tell every connection to drain (idle ones close at once, busy ones after
 * their answers), and arm a timer that cuts whatever is still open after
 * cfg->shutdown_timeout_ms.  When the last connection is gone server.c
 * finishes (sitr_server_finish_shutdown).  A second signal cuts connections
 * immediately.  Loop thread only. */
#include "net/listener.h"

#include <signal.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/metrics.h"
#include "net/conn.h"

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
    /* Connections already closing free their slot: only their close
     * callbacks are pending. */
    int overflow = srv->nconns - srv->noverflow - srv->nclosing >= srv->cfg->max_connections;
    /* At the limit, a new client is worth more than one that holds a
     * connection without using it. */
    if (overflow && sitr_conn_evict(srv))
        overflow = 0;
    if (overflow) {
        sitr_metrics_conn_rejected(srv->metrics);
        if (srv->noverflow >= SITR_SERVER_MAX_OVERFLOW) {
            /* Too many even to answer politely: take it off the backlog and
             * close it. */
            uv_tcp_t *t = malloc(sizeof *t);
            if (!t || uv_tcp_init(srv->loop, t) < 0) {
                free(t);
                return;
            }
            t->data = t;
            if (uv_accept(listener, (uv_stream_t *)t) < 0) {
            }
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
        sitr_server_finish_shutdown(srv);
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
