/* The server's shared state: routes, readiness, the end of the shutdown
 * sequence.  The listening socket, the signals and the draining of
 * connections are listener.c's; connections (conn.c) link themselves into
 * srv->conns and report their closing here.
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
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <sodium.h>

#include "core/log.h"
#include "net/peers.h"

/* Memory is handed back after a burst of at least this many connections,
 * once they are down to an eighth of it. */
#define TRIM_MIN_PEAK 64

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

static void render_counters(FILE *out, void *arg)
{
    const sitr_server_t *srv = arg;
    const sitr_net_counters_t *k = &srv->counters;
    fprintf(out,
            "# HELP sitr_http_slow_requests_total Requests answered 408 and closed: head = "
            "line and headers not in within the head timeout, body = body below the minimum "
            "rate, idle = no byte for the idle timeout.\n"
            "# TYPE sitr_http_slow_requests_total counter\n"
            "sitr_http_slow_requests_total{reason=\"head\"} %llu\n"
            "sitr_http_slow_requests_total{reason=\"body\"} %llu\n"
            "sitr_http_slow_requests_total{reason=\"idle\"} %llu\n"
            "# HELP sitr_http_connections_address_limited_total Connections or requests "
            "refused (429) over the per-address connection cap.\n"
            "# TYPE sitr_http_connections_address_limited_total counter\n"
            "sitr_http_connections_address_limited_total %llu\n"
            "# HELP sitr_http_connections_evicted_total Connections closed at the connection "
            "limit to make room for a new one: idle, or a request head or body arriving "
            "slowly.\n"
            "# TYPE sitr_http_connections_evicted_total counter\n"
            "sitr_http_connections_evicted_total{reason=\"idle\"} %llu\n"
            "sitr_http_connections_evicted_total{reason=\"slow_head\"} %llu\n"
            "sitr_http_connections_evicted_total{reason=\"slow_body\"} %llu\n"
            "# HELP sitr_http_client_addresses Client addresses (IPv6: /64) with open "
            "connections, as the per-address cap counts them.\n"
            "# TYPE sitr_http_client_addresses gauge\n"
            "sitr_http_client_addresses %zu\n"
            "# HELP sitr_http_strict_refused_total Requests refused (400) as not strict "
            "HTTP/1.1 (RFC 9112).\n"
            "# TYPE sitr_http_strict_refused_total counter\n"
            "sitr_http_strict_refused_total %llu\n"
            "# HELP sitr_memory_trims_total Times freed memory was handed back to the system "
            "after a burst of connections.\n"
            "# TYPE sitr_memory_trims_total counter\n"
            "sitr_memory_trims_total %llu\n",
            k->head_timeouts, k->body_too_slow, k->idle_timeouts, k->address_limited,
            k->evicted_idle, k->evicted_slow_head, k->evicted_slow_body,
            sitr_peers_addresses(srv->peers), k->strict_refused, k->memory_trims);
}

int sitr_server_init(sitr_server_t *srv, uv_loop_t *loop, const sitr_config_t *cfg, sitr_err_t *err)
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
    if (!srv->metrics || !srv->router ||
        sitr_peers_new(cfg && cfg->max_connections ? cfg->max_connections : 1024, &srv->peers) <
            0 ||
        sitr_metrics_add_source(srv->metrics, render_counters, srv) < 0) {
        sitr_server_free(srv);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
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

void sitr_server_finish_shutdown(sitr_server_t *srv)
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

/* Request bodies and arenas come from malloc; after a burst glibc keeps
 * the freed pages (RSS stayed at ~140 MB after 256 connections sent 64-item
 * bodies).  malloc_trim hands them back; it walks the heap, so only when the
 * connections have fallen to an eighth of a real peak. */
static void trim_after_burst(sitr_server_t *srv)
{
    if (srv->conn_peak < TRIM_MIN_PEAK || srv->nconns > srv->conn_peak / 8)
        return;
    srv->conn_peak = srv->nconns;
#ifdef __GLIBC__
    uint64_t t0 = uv_hrtime();
    malloc_trim(0);
    srv->counters.memory_trims++;
    sitr_log(SITR_LOG_DEBUG, NULL, "freed memory handed back to the system (%.1f ms)",
             (double)(uv_hrtime() - t0) / 1e6);
#endif
}

void sitr_server_conn_closed(sitr_server_t *srv)
{
    sitr_metrics_conn_closed(srv->metrics);
    trim_after_burst(srv);
    if (srv->stopping && srv->nconns == 0)
        sitr_server_finish_shutdown(srv);
}

void sitr_server_free(sitr_server_t *srv)
{
    sitr_peers_free(srv->peers);
    srv->peers = NULL;
    sitr_router_free(srv->router);
    sitr_metrics_free(srv->metrics);
    srv->router = NULL;
    srv->metrics = NULL;
}
