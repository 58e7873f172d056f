/* Operational endpoints: /healthz (the process answers), /readyz (the
 * database pool has a live connection and the API layer said it is ready:
 * schema current, index loaded; 503 with the reason otherwise, and during
 * shutdown so that load balancers stop sending) and /metrics (Prometheus
 * text).  Loop thread only. */
#include <stdio.h>
#include <stdlib.h>

#include "api/health.h"
#include "api/state.h"
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
        sitr_req_reply_error(req, 503, "database_unreachable", "no connection to the database",
                             NULL);
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
            "# HELP sitr_db_failures_total Queries that failed (the database or the connection).\n"
            "# TYPE sitr_db_failures_total counter\nsitr_db_failures_total %llu\n"
            "# HELP sitr_db_timeouts_total Queries that timed out.\n"
            "# TYPE sitr_db_timeouts_total counter\nsitr_db_timeouts_total %llu\n"
            "# HELP sitr_db_refused_total Statements the database refused for their data "
            "(SQLSTATE 22, 23 or sitr's own); not failures.\n"
            "# TYPE sitr_db_refused_total counter\nsitr_db_refused_total %llu\n"
            "# HELP sitr_db_unreachable 1 while the pool counts the database unreachable "
            "(writes answer 503 at once).\n"
            "# TYPE sitr_db_unreachable gauge\nsitr_db_unreachable %d\n"
            "# HELP sitr_db_outages_total Times the database became unreachable.\n"
            "# TYPE sitr_db_outages_total counter\nsitr_db_outages_total %llu\n",
            st.connections, st.connected, st.busy, st.queued, st.submitted, st.failed, st.timeouts,
            st.refused, st.unreachable, st.outages);
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
    fprintf(out,
            "# HELP sitr_ready 1 when /readyz would answer 200.\n"
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

/* Every counter of the API layer, kept one way (sitr_api_counters_t). */
void sitr_api_metrics_source(FILE *out, void *arg)
{
    const sitr_api_counters_t *c = &((const sitr_api_t *)arg)->counters;
    fprintf(out,
            "# HELP sitr_match_items_total Items checked by POST /v1/match.\n"
            "# TYPE sitr_match_items_total counter\n"
            "sitr_match_items_total %llu\n"
            "# HELP sitr_match_items_matched_total Items that matched at least one case image.\n"
            "# TYPE sitr_match_items_matched_total counter\n"
            "sitr_match_items_matched_total %llu\n"
            "# HELP sitr_match_pdq_ignored_total Item PDQs not searched (quality below 50).\n"
            "# TYPE sitr_match_pdq_ignored_total counter\n"
            "sitr_match_pdq_ignored_total %llu\n"
            "# HELP sitr_match_unrecorded_total Matched items answered \"recorded\":false "
            "(the block queue was full).\n"
            "# TYPE sitr_match_unrecorded_total counter\n"
            "sitr_match_unrecorded_total %llu\n"
            "# HELP sitr_match_pooled_total Match batches searched in the thread pool.\n"
            "# TYPE sitr_match_pooled_total counter\n"
            "sitr_match_pooled_total %llu\n",
            c->match_items, c->match_matched, c->match_pdq_ignored, c->match_unrecorded,
            c->match_pooled);
    fprintf(out,
            "# HELP sitr_hma_lookups_total Hash lookups of the HMA-compatible GET /m/lookup and "
            "GET /m/raw_lookup.\n"
            "# TYPE sitr_hma_lookups_total counter\n"
            "sitr_hma_lookups_total %llu\n"
            "# HELP sitr_hma_lookups_matched_total HMA lookups that matched at least one case "
            "image or video.\n"
            "# TYPE sitr_hma_lookups_matched_total counter\n"
            "sitr_hma_lookups_matched_total %llu\n"
            "# HELP sitr_hma_pdq_ignored_total HMA PDQ lookups not searched (quality below 50).\n"
            "# TYPE sitr_hma_pdq_ignored_total counter\n"
            "sitr_hma_pdq_ignored_total %llu\n"
            "# HELP sitr_hma_unrecorded_total HMA lookups answered without their upload-blocked "
            "record (database unavailable).\n"
            "# TYPE sitr_hma_unrecorded_total counter\n"
            "sitr_hma_unrecorded_total %llu\n"
            "# HELP sitr_hma_content_refused_total HMA content uploads and ?url= lookups refused "
            "(sitr never receives images or videos).\n"
            "# TYPE sitr_hma_content_refused_total counter\n"
            "sitr_hma_content_refused_total %llu\n",
            c->hma_lookups, c->hma_matched, c->hma_pdq_ignored, c->hma_unrecorded,
            c->hma_refused_content);
    fprintf(out,
            "# HELP sitr_cases_created_total Cases created.\n"
            "# TYPE sitr_cases_created_total counter\n"
            "sitr_cases_created_total %lu\n"
            "# HELP sitr_cases_withdrawn_total Cases withdrawn by their owner.\n"
            "# TYPE sitr_cases_withdrawn_total counter\n"
            "sitr_cases_withdrawn_total %lu\n"
            "# HELP sitr_case_images_added_total Case images stored.\n"
            "# TYPE sitr_case_images_added_total counter\n"
            "sitr_case_images_added_total %lu\n"
            "# HELP sitr_auth_failures_total Failed case and platform authentications.\n"
            "# TYPE sitr_auth_failures_total counter\n"
            "sitr_auth_failures_total %lu\n"
            "# HELP sitr_rate_limited_total Requests refused by a per-address rate limit.\n"
            "# TYPE sitr_rate_limited_total counter\n"
            "sitr_rate_limited_total %lu\n"
            "# HELP sitr_platform_rate_limited_total Platform requests refused by the "
            "per-platform rate limit.\n"
            "# TYPE sitr_platform_rate_limited_total counter\n"
            "sitr_platform_rate_limited_total %lu\n",
            c->cases_created, c->cases_withdrawn, c->images_added, c->auth_failures,
            c->rate_limited, c->platform_rate_limited);
}
