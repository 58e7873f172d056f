/* Operational endpoints: /healthz (the process answers), /readyz (the
 * database pool has a live connection and the API layer said it is ready:
 * schema current, index loaded; 503 with the reason otherwise, and during
 * shutdown so that load balancers stop sending) and /metrics (Prometheus
 * text).  Loop thread only. */
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "db/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "net/server.h"

int sitr_api_healthz(sitr_req_t *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    sitr_req_reply(req, 200, "application/json", body, sizeof body - 1);
    return 0;
}

int sitr_api_readyz(sitr_req_t *req)
{
    sitr_server_t *srv = sitr_req_server(req);
    sitr_db_stats_t st = {0};
    if (srv->db)
        sitr_db_stats(srv->db, &st);
    if (srv->stopping) {
        sitr_req_reply_error(req, 503, "shutting_down", "the server is shutting down", NULL);
    } else if (!srv->db || st.connected == 0) {
        sitr_req_reply_error(req, 503, "database_unreachable",
                             "no connection to the database", NULL);
    } else if (!srv->ready) {
        sitr_req_reply_error(req, 503, "not_ready", srv->not_ready, NULL);
    } else {
        static const char body[] = "{\"status\":\"ready\"}";
        sitr_req_reply(req, 200, "application/json", body, sizeof body - 1);
    }
    return 0;
}

static void render_db(FILE *out, const sitr_db_t *db)
{
    sitr_db_stats_t st = {0};
    if (db)
        sitr_db_stats(db, &st);
    fprintf(out,
            "# HELP sitr_db_connections Database connections in the pool.\n"
            "# TYPE sitr_db_connections gauge\nsitr_db_connections %d\n"
            "# HELP sitr_db_connections_up Pool connections that are connected.\n"
            "# TYPE sitr_db_connections_up gauge\nsitr_db_connections_up %d\n"
            "# HELP sitr_db_busy Pool connections running a query.\n"
            "# TYPE sitr_db_busy gauge\nsitr_db_busy %d\n"
            "# HELP sitr_db_queue Queries waiting for a connection.\n"
            "# TYPE sitr_db_queue gauge\nsitr_db_queue %d\n"
            "# HELP sitr_db_queries_total Queries submitted.\n"
            "# TYPE sitr_db_queries_total counter\nsitr_db_queries_total %llu\n"
            "# HELP sitr_db_failures_total Queries that failed.\n"
            "# TYPE sitr_db_failures_total counter\nsitr_db_failures_total %llu\n"
            "# HELP sitr_db_timeouts_total Queries that timed out.\n"
            "# TYPE sitr_db_timeouts_total counter\nsitr_db_timeouts_total %llu\n",
            st.connections, st.connected, st.busy, st.queued, st.submitted, st.failed,
            st.timeouts);
}

int sitr_api_metrics(sitr_req_t *req)
{
    sitr_server_t *srv = sitr_req_server(req);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return SITR_ENOMEM;
    sitr_metrics_render(srv->metrics, out);
    render_db(out, srv->db);
    fprintf(out, "# HELP sitr_ready 1 when /readyz would answer 200.\n"
                 "# TYPE sitr_ready gauge\nsitr_ready %d\n",
            srv->ready && !srv->stopping);
    if (fclose(out) != 0) {
        free(text);
        return SITR_ENOMEM;
    }
    sitr_req_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return 0;
}

static const sitr_route_t health_routes[] = {
    {SITR_GET, "/healthz", SITR_AUTH_NONE, sitr_api_healthz, 1024},
    {SITR_GET, "/readyz", SITR_AUTH_NONE, sitr_api_readyz, 1024},
    {SITR_GET, "/metrics", SITR_AUTH_NONE, sitr_api_metrics, 1024},
};

int sitr_api_health_add_routes(sitr_server_t *srv)
{
    return sitr_server_add_routes(srv, health_routes, sizeof health_routes / sizeof health_routes[0]);
}
