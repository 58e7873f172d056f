/* sitrd: parse the configuration, build the server, hand over to the API
 * layer, run the loop until shutdown, exit.
 *
 * Exit status: 0 after a graceful shutdown, 1 when start-up fails or the API
 * layer aborts (e.g. the schema is behind), 2 for a configuration error.
 * Everything runs on this thread's loop. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "app.h"
#include "core/config.h"
#include "db/db.h"
#include "core/log.h"
#include <sitr/secmem.h>
#include "net/listener.h"
#include "net/server.h"

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* The shutdown hook: when the last client connection is gone, the API
 * layer writes what it still holds for the database (sitr_app_drain: the
 * queued blocks, one attempt), closes its handles (if it started), then the
 * database pool; queries still in flight fail with SITR_ECLOSED. */
static int app_started;

static void on_db_closed(void *arg)
{
    sitr_server_t *srv = arg;
    srv->db = NULL;
    sitr_server_shutdown_done(srv);
}

static void close_after_drain(void *arg)
{
    sitr_server_t *srv = arg;
    if (app_started)
        sitr_app_close(srv);
    if (srv->db)
        sitr_db_close(srv->db, on_db_closed, srv);
    else
        on_db_closed(srv);
}

static void shutdown_hook(sitr_server_t *srv)
{
    if (app_started)
        sitr_app_drain(srv, close_after_drain, srv);
    else
        close_after_drain(srv);
}

static int run(const sitr_config_t *cfg)
{
    uv_loop_t loop;
    sitr_server_t srv;
    sitr_err_t err = {0};
    int rc = uv_loop_init(&loop);
    if (rc < 0) {
        fprintf(stderr, "sitrd: cannot create the event loop: %s\n", uv_strerror(rc));
        return 1;
    }
    if (sitr_server_init(&srv, &loop, cfg, &err) < 0) {
        sitr_log(SITR_LOG_ERROR, NULL, "start-up failed: %s", err.msg);
        uv_loop_close(&loop);
        return 1;
    }
    /* The pool connects in the background. */
    sitr_db_options_t opt = {
        .conninfo = cfg->database_url ? cfg->database_url : "",
        .pool_size = (int)cfg->db_pool,
        .max_queue = (int)cfg->db_queue,
        .query_timeout_ms = cfg->db_timeout_ms,
    };
    if (sitr_db_new(&loop, &opt, &srv.db, &err) < 0) {
        sitr_log(SITR_LOG_ERROR, NULL, "start-up failed: %s", err.msg);
        sitr_server_free(&srv);
        uv_loop_close(&loop);
        return 1;
    }
    srv.shutdown_hook = shutdown_hook;
    if (sitr_app_init(&srv, &err) < 0) {
        sitr_log(SITR_LOG_ERROR, NULL, "start-up failed: %s", err.msg);
        srv.exit_code = 1;
        sitr_server_stop(&srv);
    } else {
        app_started = 1;
        if (sitr_server_start(&srv, &err) < 0) {
            sitr_log(SITR_LOG_ERROR, NULL, "start-up failed: %s", err.msg);
            srv.exit_code = 1;
            sitr_server_stop(&srv);
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    sitr_server_free(&srv);
    if (uv_loop_close(&loop) == UV_EBUSY) {
        /* A handle someone forgot: close it rather than leak it, and say so. */
        sitr_log(SITR_LOG_WARN, NULL, "handles left open at exit; closing them");
        uv_walk(&loop, close_walk_cb, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    return srv.exit_code;
}

int main(int argc, char **argv)
{
    /* A client closing early must give EPIPE on write, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) {
        fprintf(stderr, "sitrd: libsodium failed to initialise\n");
        return 1;
    }
    /* jansson's copies of secrets are wiped when freed (sitr/secmem.h). */
    sitr_secmem_json_init();
    sitr_config_t cfg;
    sitr_config_action_t action;
    sitr_err_t err = {0};
    if (sitr_config_load(&cfg, argc, argv, NULL, &action, &err) < 0) {
        fprintf(stderr, "sitrd: %s\n", err.msg);
        sitr_config_free(&cfg);
        return 2;
    }
    if (action == SITR_CONFIG_HELP) {
        sitr_config_usage(stdout, "sitrd");
        sitr_config_free(&cfg);
        return 0;
    }
    if (action == SITR_CONFIG_VERSION) {
        printf("sitrd %s\n", SITR_VERSION);
        sitr_config_free(&cfg);
        return 0;
    }
    sitr_log_set_level(cfg.log_level);
    int rc = run(&cfg);
    sitr_config_free(&cfg);
    return rc;
}
