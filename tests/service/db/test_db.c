/* The asynchronous pool against a real PostgreSQL (the `pg` fixture): results
 * and errors, queueing beyond the pool size, queue overflow, timeouts, an
 * unreachable server failing queries at once (SITR_EUNAVAIL),
 * reconnection after the server drops every connection, LISTEN, and a clean
 * shutdown (uv_loop_close() == 0 after every test).  Each test has its own
 * loop and its own database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include <sitr/err_service.h>

#include "db/db.h"
#include "db_support.h"

typedef struct result {
    int done;
    int rc;
    char sqlstate[6];
    char value[64];
} result_t;

static void on_result(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    result_t *r = arg;
    r->done++;
    r->rc = rc;
    snprintf(r->sqlstate, sizeof r->sqlstate, "%s", sqlstate ? sqlstate : "");
    if (rc == 0 && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        snprintf(r->value, sizeof r->value, "%s", PQgetvalue(res, 0, 0));
    if (rc == 0)
        assert_non_null(res);
    else
        assert_null(res);
}

static int closed_count;
static void on_closed(void *arg)
{
    (void)arg;
    closed_count++;
}

static sitr_db_t *open_pool(uv_loop_t *loop, const char *url, int pool, int queue, unsigned ms)
{
    sitr_db_options_t o = {
        .conninfo = url, .pool_size = pool, .max_queue = queue, .query_timeout_ms = ms};
    sitr_db_t *db = NULL;
    sitr_err_t err;
    assert_int_equal(sitr_db_new(loop, &o, &db, &err), 0);
    return db;
}

static void run_until(uv_loop_t *loop, const int *flag, int want)
{
    while (*flag < want)
        assert_true(uv_run(loop, UV_RUN_ONCE) || *flag >= want);
}

static void close_pool(uv_loop_t *loop, sitr_db_t *db)
{
    closed_count = 0;
    sitr_db_close(db, on_closed, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(closed_count, 1);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until every pool connection is up. */
static void wait_connected(uv_loop_t *loop, sitr_db_t *db, int want)
{
    sitr_db_stats_t st;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    for (;;) {
        sitr_db_stats(db, &st);
        if (st.connected >= want)
            break;
        uv_timer_start(&t, on_tick, 20, 0);
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void test_query_and_error(void **state)
{
    (void)state;
    char *url = pgt_create_db("tdb");
    uv_loop_t loop;
    uv_loop_init(&loop);
    sitr_db_t *db = open_pool(&loop, url, 2, 16, 5000);

    result_t a = {0}, b = {0}, c = {0};
    const char *v[] = {"41"};
    assert_int_equal(sitr_db_submit(db, "SELECT $1::int + 1", 1, v, on_result, &a), 0);
    assert_int_equal(sitr_db_submit(db, "SELECT 1/0", 0, NULL, on_result, &b), 0);
    const char *nul[] = {NULL};
    assert_int_equal(
        sitr_db_submit(db, "SELECT coalesce($1::text, 'was null')", 1, nul, on_result, &c), 0);
    run_until(&loop, &c.done, 1);
    run_until(&loop, &b.done, 1);
    run_until(&loop, &a.done, 1);
    assert_int_equal(a.rc, 0);
    assert_string_equal(a.value, "42");
    /* A division by zero is about the statement's data, not the
     * database's health: refused, not failed. */
    assert_int_equal(b.rc, SITR_EREFUSED);
    assert_string_equal(b.sqlstate, "22012");
    assert_int_equal(c.rc, 0);
    assert_string_equal(c.value, "was null");
    sitr_db_stats_t st;
    sitr_db_stats(db, &st);
    assert_int_equal(st.submitted, 3);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.refused, 1);
    assert_int_equal(a.done + b.done + c.done, 3);
    /* An undefined function is not the request's fault: a failure. */
    result_t d = {0};
    assert_int_equal(sitr_db_submit(db, "SELECT no_such_function()", 0, NULL, on_result, &d), 0);
    run_until(&loop, &d.done, 1);
    assert_int_equal(d.rc, SITR_EDB);
    assert_string_equal(d.sqlstate, "42883");
    sitr_db_stats(db, &st);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.refused, 1);
    close_pool(&loop, db);
    free(url);
}

static void test_queue_and_overflow(void **state)
{
    (void)state;
    char *url = pgt_create_db("tdb");
    uv_loop_t loop;
    uv_loop_init(&loop);
    sitr_db_t *db = open_pool(&loop, url, 2, 3, 10000);
    wait_connected(&loop, db, 2);

    result_t r[6] = {{0}};
    for (int i = 0; i < 5; i++)
        assert_int_equal(sitr_db_submit(db, "SELECT pg_sleep(0.2)", 0, NULL, on_result, &r[i]), 0);
    sitr_db_stats_t st;
    sitr_db_stats(db, &st);
    assert_int_equal(st.busy, 2);
    assert_int_equal(st.queued, 3);
    assert_int_equal(sitr_db_submit(db, "SELECT 1", 0, NULL, on_result, &r[5]), SITR_EBUSY);
    for (int i = 0; i < 5; i++) {
        run_until(&loop, &r[i].done, 1);
        assert_int_equal(r[i].rc, 0);
    }
    sitr_db_stats(db, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.busy, 0);
    assert_int_equal(r[5].done, 0); /* a refused submission never calls back */
    close_pool(&loop, db);
    free(url);
}

static result_t after_timeout;
static sitr_db_t *timeout_db;
static void on_timeout_then_query(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    on_result(rc, res, sqlstate, arg);
    /* The pool must still work: the connection is replaced. */
    assert_int_equal(sitr_db_submit(timeout_db, "SELECT 7", 0, NULL, on_result, &after_timeout), 0);
}

static void test_timeout(void **state)
{
    (void)state;
    char *url = pgt_create_db("tdb");
    uv_loop_t loop;
    uv_loop_init(&loop);
    sitr_db_t *db = open_pool(&loop, url, 1, 4, 300);
    timeout_db = db;
    memset(&after_timeout, 0, sizeof after_timeout);
    result_t r = {0};
    assert_int_equal(sitr_db_submit(db, "SELECT pg_sleep(5)", 0, NULL, on_timeout_then_query, &r),
                     0);
    run_until(&loop, &r.done, 1);
    assert_int_equal(r.rc, SITR_ETIMEOUT);
    run_until(&loop, &after_timeout.done, 1);
    assert_int_equal(after_timeout.rc, 0);
    assert_string_equal(after_timeout.value, "7");
    sitr_db_stats_t st;
    sitr_db_stats(db, &st);
    assert_int_equal(st.timeouts, 1);
    close_pool(&loop, db);
    free(url);
}

static void test_unreachable_server(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* Port 1 on loopback: nothing listens there. */
    sitr_db_t *db =
        open_pool(&loop, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", 2, 4, 300);
    result_t r = {0};
    /* Queued before the first attempt failed: it ends as soon as the pool
     * knows, with SITR_EUNAVAIL, not at its timeout. */
    assert_int_equal(sitr_db_submit(db, "SELECT 1", 0, NULL, on_result, &r), 0);
    run_until(&loop, &r.done, 1);
    assert_int_equal(r.rc, SITR_EUNAVAIL);
    sitr_db_stats_t st;
    sitr_db_stats(db, &st);
    assert_int_equal(st.unreachable, 1);
    assert_int_equal(st.outages, 1);
    assert_int_equal(st.timeouts, 0);
    /* From then on a submission is refused at once, its callback never
     * called. */
    result_t r2 = {0};
    assert_int_equal(sitr_db_submit(db, "SELECT 1", 0, NULL, on_result, &r2), SITR_EUNAVAIL);
    assert_true(strlen(sitr_db_last_error(db)) > 0);
    assert_null(strstr(sitr_db_last_error(db), "nobody@"));
    close_pool(&loop, db);
    assert_int_equal(r2.done, 0);
}

static void test_close_fails_queued(void **state)
{
    (void)state;
    char *url = pgt_create_db("tdb");
    uv_loop_t loop;
    uv_loop_init(&loop);
    sitr_db_t *db = open_pool(&loop, url, 1, 8, 5000);
    wait_connected(&loop, db, 1);
    result_t r[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(sitr_db_submit(db, "SELECT pg_sleep(0.1), 5", 0, NULL, on_result, &r[i]),
                         0);
    closed_count = 0;
    sitr_db_close(db, on_closed, NULL);
    /* Queued ones fail at once; the running one finishes. */
    assert_int_equal(r[1].done, 1);
    assert_int_equal(r[1].rc, SITR_ECLOSED);
    assert_int_equal(r[2].rc, SITR_ECLOSED);
    assert_int_equal(r[0].done, 0);
    result_t late = {0};
    assert_int_equal(sitr_db_submit(db, "SELECT 1", 0, NULL, on_result, &late), SITR_ECLOSED);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r[0].done, 1);
    assert_int_equal(r[0].rc, 0);
    assert_int_equal(closed_count, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(url);
}

typedef struct notes {
    int subscribed;
    int got;
    char payload[64];
} notes_t;

static void on_notify(const char *channel, const char *payload, void *arg)
{
    notes_t *n = arg;
    assert_string_equal(channel, "sitr_test");
    if (!payload) {
        n->subscribed++;
        return;
    }
    n->got++;
    snprintf(n->payload, sizeof n->payload, "%s", payload);
}

static void test_listen_and_reconnect(void **state)
{
    (void)state;
    char *url = pgt_create_db("tdb");
    uv_loop_t loop;
    uv_loop_init(&loop);
    sitr_db_t *db = open_pool(&loop, url, 2, 8, 5000);
    notes_t n = {0};
    assert_int_equal(sitr_db_listen(db, "Bad-Name", on_notify, &n), SITR_EINVAL);
    assert_int_equal(sitr_db_listen(db, "sitr_test", on_notify, &n), 0);
    run_until(&loop, &n.subscribed, 1);

    result_t r = {0};
    const char *v[] = {"hello"};
    assert_int_equal(sitr_db_submit(db, "SELECT pg_notify('sitr_test', $1)", 1, v, on_result, &r),
                     0);
    run_until(&loop, &n.got, 1);
    assert_string_equal(n.payload, "hello");
    /* The notification can arrive (on the listener) before the query's own
     * answer (on a pool connection): wait for both, or that late answer
     * would be taken for the next query's. */
    run_until(&loop, &r.done, 1);
    assert_int_equal(r.rc, 0);

    /* The server drops every other connection of this database: the pool
     * and the listener reconnect by themselves. */
    wait_connected(&loop, db, 2);
    memset(&r, 0, sizeof r);
    assert_int_equal(
        sitr_db_submit(db,
                       "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                       0, NULL, on_result, &r),
        0);
    run_until(&loop, &r.done, 1);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.value, "2"); /* the other pool connection and the listener */
    run_until(&loop, &n.subscribed, 2);

    const char *v2[] = {"again"};
    for (int i = 0; i < 4; i++) {
        memset(&r, 0, sizeof r);
        int rc = sitr_db_submit(db, "SELECT pg_notify('sitr_test', $1)", 1, v2, on_result, &r);
        assert_int_equal(rc, 0);
        run_until(&loop, &r.done, 1);
        /* A connection killed while idle may fail one query before the
         * pool notices; it must recover. */
        if (r.rc == 0)
            break;
        assert_int_equal(r.rc, SITR_EDB);
    }
    assert_int_equal(r.rc, 0);
    run_until(&loop, &n.got, 2);
    assert_string_equal(n.payload, "again");
    close_pool(&loop, db);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_and_error),
        cmocka_unit_test(test_queue_and_overflow),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_unreachable_server),
        cmocka_unit_test(test_close_fails_queued),
        cmocka_unit_test(test_listen_and_reconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
