/* The API layer's start and end (app.h): creates the API state, adds the
 * /v1 routes and the auth hook, checks the database schema before declaring
 * the service ready, and releases everything at shutdown.
 *
 * Readiness: the schema check needs the database.  sitrd may start before
 * PostgreSQL does, so an unreachable database is retried every second
 * (/readyz says why meanwhile); a schema that is behind or edited is fatal,
 * with the message saying what to run.  Loop thread only. */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>

#include <sitr/err_service.h>

#include "api/auth.h"
#include "api/blocks.h"
#include "api/checks.h"
#include "api/health.h"
#include "api/hma.h"
#include "api/match.h"
#include "api/oracle.h"
#include "api/report_page.h"
#include "api/routes.h"
#include "api/state.h"
#include "api/web.h"
#include "core/log.h"
#include "jobs/matcher.h"
#include "jobs/stats.h"
#include "match/replica.h"
#include "db/schema.h"
#include "jobs/webhook.h"
#include "net/listener.h"

#define SCHEMA_RETRY_MS 1000

/* srv->app points at api, the first member, so the holder is found from
 * it.  The holder is freed once its timer is closed and no schema check is
 * in flight (a check's callback may run after sitr_app_close, failing with
 * SITR_ECLOSED). */
typedef struct app_holder {
    sitr_api_t api;
    struct {
        uv_timer_t retry;
        int closing, checking, timer_closed;
        int replica_closing;          /* sitr_replica_close called, its done not yet run */
        sitr_matcher_t *matcher;      /* started once the replica is loaded */
        sitr_webhook_t *webhook;      /* sends only while the matcher holds the role */
        sitr_stats_t *stats;          /* the sitr_stats_* gauges, refreshed on a timer */
        sitr_migrations_t migrations; /* scanned once at start, checked at each try */
        int draining;                 /* writers (blocks, checks) still draining */
        void (*drained)(void *arg);   /* sitr_app_drain's done, once both are over */
        void *drained_arg;
    } app;
} app_holder_t;

/* Frees what the holder owns; the limiters and the web files may still be
 * NULL (a failed sitr_app_init). */
static void holder_free(app_holder_t *h)
{
    sitr_ratelimit_free(h->api.case_rate);
    sitr_ratelimit_free(h->api.auth_fail);
    sitr_ratelimit_free(h->api.auth_fail_target);
    sitr_ratelimit_free(h->api.client_rate);
    sitr_ratelimit_free(h->api.platform_rate);
    sitr_blocks_close(h->api.blocks);
    sitr_checks_close(h->api.checks);
    sitr_stats_close(h->app.stats);
    sitr_oracle_close(h->api.oracle);
    sitr_api_web_free(h->api.web);
    sitr_report_page_free_texts();
    sitr_schema_free(&h->app.migrations);
    free(h);
}

static void holder_maybe_free(app_holder_t *h)
{
    if (!h->app.closing || h->app.checking || !h->app.timer_closed || h->app.replica_closing)
        return;
    holder_free(h);
}

static void check_schema(app_holder_t *h);

/* One sender of webhooks among the replicas: the matcher's holder, which
 * creates the takedowns (webhook.h). */
static int webhook_leader(void *arg)
{
    const app_holder_t *h = arg;
    return sitr_matcher_is_holder(h->app.matcher);
}

static void start_webhooks(app_holder_t *h)
{
    sitr_server_t *srv = h->api.srv;
    const sitr_config_t *cfg = srv->cfg;
    sitr_webhook_options_t wo = {.db = srv->db,
                                 .digest_key = cfg->digest_key,
                                 .match_threshold = (int)cfg->match_threshold,
                                 .metrics = srv->metrics,
                                 .is_leader = webhook_leader,
                                 .leader_arg = h,
                                 .poll_ms = cfg->webhook_poll_ms,
                                 .timeout_ms = cfg->webhook_timeout_ms,
                                 .concurrency = cfg->webhook_concurrency,
                                 .retry_min_ms = cfg->webhook_retry_min_ms,
                                 .retry_max_ms = cfg->webhook_retry_max_ms,
                                 .max_attempts = cfg->webhook_max_attempts};
    sitr_err_t err = {0};
    if (sitr_webhook_start(srv->loop, &wo, &h->app.webhook, &err) < 0)
        sitr_server_abort(srv, 1, err.msg);
}

/* Ready once the indexes are loaded (/v1/match answers from them). */
static void on_replica_ready(void *arg)
{
    sitr_server_t *srv = arg;
    sitr_log(SITR_LOG_INFO, NULL, "match index loaded; ready");
    sitr_server_set_ready(srv, 1, NULL);
    /* Compete for the matcher role only with loaded indexes: a holder
     * whose replica is still loading would stall the role. */
    app_holder_t *h = (app_holder_t *)srv->app;
    if (h && !h->app.closing && !h->app.matcher && h->api.replica) {
        sitr_matcher_options_t mo = {.conninfo = srv->cfg->database_url,
                                     .threshold = (int)srv->cfg->match_threshold,
                                     .metrics = srv->metrics};
        sitr_err_t err = {0};
        if (sitr_matcher_start(srv->loop, h->api.replica, &mo, &h->app.matcher, &err) < 0) {
            sitr_server_abort(srv, 1, err.msg);
            return;
        }
    }
    if (h && !h->app.closing && !h->app.webhook && srv->cfg->webhooks)
        start_webhooks(h);
}

static void start_replica(app_holder_t *h)
{
    sitr_server_t *srv = h->api.srv;
    sitr_err_t err = {0};
    if (h->api.replica)
        return;
    sitr_server_set_ready(srv, 0, "loading the match index");
    sitr_replica_opts_t ro = {.loop = srv->loop,
                              .db = srv->db,
                              .database_url = srv->cfg->database_url,
                              .metrics = srv->metrics,
                              .on_ready = on_replica_ready,
                              .arg = srv};
    if (sitr_replica_start(&ro, &h->api.replica, &err) < 0)
        sitr_server_abort(srv, 1, err.msg);
}

static void on_replica_closed(void *arg)
{
    app_holder_t *h = arg;
    h->app.replica_closing = 0;
    holder_maybe_free(h);
}

static void close_replica(void *arg)
{
    app_holder_t *h = arg;
    sitr_replica_close(h->api.replica, on_replica_closed, h);
    h->api.replica = NULL;
}

/* Then wait for the HMA lookups searching in the pool too. */
static void close_replica_after_hma(void *arg)
{
    sitr_api_hma_when_idle(close_replica, arg);
}

static void on_retry(uv_timer_t *t)
{
    app_holder_t *h = t->data;
    if (!h->app.closing)
        check_schema(h);
}

static void on_schema(int rc, const char *message, void *arg)
{
    app_holder_t *h = arg;
    sitr_server_t *srv = h->api.srv;
    h->app.checking = 0;
    if (h->app.closing) {
        holder_maybe_free(h);
        return;
    }
    if (rc == 0) {
        if (message)
            sitr_log(SITR_LOG_WARN, NULL, "%s", message);
        sitr_log(SITR_LOG_INFO, NULL, "database schema is current; loading the match index");
        start_replica(h);
        return;
    }
    if (rc == SITR_ESCHEMA) {
        sitr_server_abort(srv, 1, message ? message : "database schema is not current");
        return;
    }
    sitr_server_set_ready(srv, 0, "database unreachable");
    uv_timer_start(&h->app.retry, on_retry, SCHEMA_RETRY_MS, 0);
}

static void check_schema(app_holder_t *h)
{
    sitr_server_t *srv = h->api.srv;
    sitr_err_t err = {0};
    h->app.checking = 1;
    if (sitr_schema_check(srv->db, &h->app.migrations, on_schema, h, &err) < 0) {
        h->app.checking = 0;
        /* The database is unreachable (the pool said so once), the queue
         * is full or the pool closing: try again shortly. */
        int down = err.code == SITR_EUNAVAIL;
        if (!down)
            sitr_log(SITR_LOG_WARN, NULL, "schema check not started: %s", err.msg);
        sitr_server_set_ready(srv, 0, down ? "database unreachable" : "schema check pending");
        uv_timer_start(&h->app.retry, on_retry, SCHEMA_RETRY_MS, 0);
    }
}

static void on_timer_closed(uv_handle_t *handle)
{
    app_holder_t *h = handle->data;
    h->app.timer_closed = 1;
    holder_maybe_free(h);
}

int sitr_app_init(sitr_server_t *srv, sitr_err_t *err)
{
    app_holder_t *h = calloc(1, sizeof *h);
    if (!h)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    h->api.srv = srv;
    const sitr_config_t *cfg = srv->cfg;
    int rc = sitr_ratelimit_new(cfg->case_rate, cfg->case_rate, SITR_API_RATELIMIT_ENTRIES,
                                &h->api.case_rate);
    if (rc == 0)
        rc = sitr_ratelimit_new(SITR_API_AUTH_FAIL_ADDRESS_PER_HOUR,
                                SITR_API_AUTH_FAIL_ADDRESS_BURST, SITR_API_RATELIMIT_ENTRIES,
                                &h->api.auth_fail);
    if (rc == 0)
        rc = sitr_ratelimit_new(SITR_API_AUTH_FAIL_PER_HOUR, SITR_API_AUTH_FAIL_BURST,
                                SITR_API_RATELIMIT_ENTRIES, &h->api.auth_fail_target);
    if (rc == 0)
        rc = sitr_ratelimit_new_per_second(cfg->client_rate, cfg->client_burst,
                                           SITR_API_RATELIMIT_ENTRIES, &h->api.client_rate);
    if (rc == 0)
        rc = sitr_ratelimit_new_per_second(cfg->platform_rate, cfg->platform_burst,
                                           SITR_API_PLATFORM_ENTRIES, &h->api.platform_rate);
    if (rc < 0) {
        holder_free(h);
        return sitr_err_set(err, rc, "cannot create the rate limiters");
    }
    if (sitr_blocks_new(srv->loop, srv->db, cfg->block_queue, &h->api.blocks) < 0) {
        holder_free(h);
        return sitr_err_set(err, SITR_ENOMEM, "cannot create the block queue");
    }
    if (sitr_checks_new(srv->loop, srv->db, &h->api.checks) < 0) {
        holder_free(h);
        return sitr_err_set(err, SITR_ENOMEM, "cannot create the check counter");
    }
    if (sitr_stats_new(srv->loop, srv->db, cfg->stats_interval, &h->app.stats) < 0) {
        holder_free(h);
        return sitr_err_set(err, SITR_ENOMEM, "cannot create the statistics gauges");
    }
    if (sitr_oracle_new(srv->loop, srv->db, cfg->digest_key, cfg->oracle_budget,
                        (int)cfg->match_threshold, &h->api.oracle) < 0) {
        holder_free(h);
        return sitr_err_set(err, SITR_ENOMEM, "cannot create the match oracle's guard");
    }
    rc = sitr_api_add_routes(srv);
    if (rc < 0) {
        holder_free(h);
        return sitr_err_set(err, rc, "cannot add the case routes");
    }
    /* The web page's few small files are read here, once, before sitrd
     * listens: no request ever reads a file. */
    rc = sitr_api_web_load(cfg->web_dir, &h->api.web, err);
    if (rc < 0) {
        holder_free(h);
        return rc;
    }
    /* The evidence report's words come from the page's texts catalogue. */
    size_t texts_len;
    const uint8_t *texts = sitr_api_web_file(h->api.web, "texts.json", &texts_len);
    rc = sitr_report_page_texts((const char *)texts, texts_len, err);
    if (rc < 0) {
        holder_free(h);
        return rc;
    }
    /* The migration files too (blocking, small): every schema check, the
     * retries after a database failure included, compares against this one
     * scan instead of reading the folder again on the loop thread. */
    rc = sitr_schema_scan(cfg->migrations_dir, &h->app.migrations, err);
    if (rc < 0) {
        holder_free(h);
        return rc;
    }
    uv_timer_init(srv->loop, &h->app.retry);
    h->app.retry.data = h;
    srv->app = &h->api;
    sitr_server_set_auth_hook(srv, sitr_auth_hook);
    if (sitr_metrics_add_source(srv->metrics, sitr_api_metrics_source, &h->api) < 0 ||
        sitr_metrics_add_source(srv->metrics, sitr_blocks_metrics_source, h->api.blocks) < 0 ||
        sitr_metrics_add_source(srv->metrics, sitr_checks_metrics_source, h->api.checks) < 0 ||
        sitr_metrics_add_source(srv->metrics, sitr_stats_metrics_source, h->app.stats) < 0 ||
        sitr_metrics_add_source(srv->metrics, sitr_oracle_metrics_source, h->api.oracle) < 0)
        sitr_log(SITR_LOG_WARN, NULL, "API metrics not exported: too many metric sources");
    sitr_server_set_ready(srv, 0, "checking the database schema");
    check_schema(h);
    return 0;
}

/* One of the two writers made its last attempt; done runs after both. */
static void writer_drained(void *arg)
{
    app_holder_t *h = arg;
    if (--h->app.draining == 0 && h->app.drained)
        h->app.drained(h->app.drained_arg);
}

void sitr_app_drain(sitr_server_t *srv, void (*done)(void *arg), void *arg)
{
    app_holder_t *h = (app_holder_t *)srv->app;
    if (!h || h->app.closing) {
        done(arg);
        return;
    }
    h->app.draining = 2;
    h->app.drained = done;
    h->app.drained_arg = arg;
    sitr_blocks_drain(h->api.blocks, writer_drained, h);
    sitr_checks_drain(h->api.checks, writer_drained, h);
}

void sitr_app_close(sitr_server_t *srv)
{
    app_holder_t *h = (app_holder_t *)srv->app;
    if (!h || h->app.closing)
        return;
    h->app.closing = 1;
    srv->app = NULL;
    /* Drained already (sitr_app_drain); what is left is counted as lost. */
    sitr_blocks_close(h->api.blocks);
    h->api.blocks = NULL;
    sitr_checks_close(h->api.checks);
    h->api.checks = NULL;
    sitr_stats_close(h->app.stats);
    h->app.stats = NULL;
    /* The pool goes before holder_free; match jobs still in the thread
     * pool keep reading the guard from memory until then. */
    sitr_oracle_stop_sync(h->api.oracle);
    uv_timer_stop(&h->app.retry);
    uv_close((uv_handle_t *)&h->app.retry, on_timer_closed);
    /* Before the matcher: the sender asks it who leads. */
    sitr_webhook_close(h->app.webhook, NULL, NULL);
    h->app.webhook = NULL;
    /* The matcher holds the replica until its thread stops (matcher.h). */
    sitr_matcher_close(h->app.matcher, NULL, NULL);
    h->app.matcher = NULL;
    if (h->api.replica) {
        h->app.replica_closing = 1;
        /* A client gone mid-request leaves its match batch running in the
         * thread pool, reading the indexes: close once those are back. */
        sitr_api_match_when_idle(close_replica_after_hma, h);
    }
}
