/* The asynchronous PostgreSQL pool (see db.h).
 *
 * Every connection is a small state machine (down -> connecting -> idle <->
 * busy, and closed at the end), driven by uv_poll readiness on its libpq
 * socket; nothing here ever blocks the loop thread, which is the only
 * thread that touches a sitr_db_t.
 *
 * Invariants:
 * - a busy connection runs exactly one query; queued queries wait in one
 *   bounded FIFO (max_queue) and are handed to the first idle connection;
 * - every query owns a timer that starts at submission, so a query waiting
 *   for a connection that never comes also ends with SITR_ETIMEOUT;
 * - a query that times out while running is not cancelled with PQcancel
 *   (that call blocks): its connection is dropped and reconnected, and the
 *   server-side statement_timeout, set a little above the client timeout
 *   on every connection, makes the backend give up on its own;
 * - during connection setup libpq may replace its socket, possibly under
 *   the same descriptor number, so each PQconnectPoll step gets a fresh
 *   uv_poll_t; the old one is closed before the socket can be reused;
 * - a uv_poll_t is always closed before PQfinish;
 * - a lost connection is re-established with exponential backoff
 *   (100 ms .. 1 s); a query running on it fails with SITR_EDB, 08006;
 * - a statement the server refused for its data (SQLSTATE classes 22 and
 *   23, and our own SI codes) ends with SITR_EREFUSED and is counted apart
 *   (refused, not failed): it says something about the request, nothing
 *   about the database's health;
 * - the pool's view of the database (reach: starting, up, down) changes in
 *   set_reach only: down when a pool connection fails while none is
 *   connected, up when one connects; while down, submissions fail at once
 *   (SITR_EUNAVAIL) and the queue is emptied the same way, so no caller
 *   waits a timeout for a database known to be gone;
 * - the struct is freed only when every libuv handle it owns is closed.
 *
 * Listeners (sitr_db_listen) use the same machinery on connections of
 * their own that never take pool queries. */
#include "db/db.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <sitr/err_service.h>

#include "core/log.h"

#define BACKOFF_MIN_MS     100u
#define BACKOFF_MAX_MS     1000u
#define CONNECT_TIMEOUT_MS 10000u
/* The server aborts a statement this long after the client gave up on it. */
#define SERVER_TIMEOUT_SLACK_MS 1000u

typedef enum conn_state {
    CONN_DOWN = 0,   /* no PGconn; waiting for the retry timer */
    CONN_CONNECTING, /* PQconnectPoll in progress */
    CONN_IDLE,       /* ready for a query */
    CONN_BUSY,       /* one query in flight */
    CONN_CLOSED      /* pool closing: never used again */
} conn_state_t;

typedef enum reach { REACH_STARTING = 0, REACH_UP, REACH_DOWN } reach_t;

typedef struct query query_t;
typedef struct dbconn dbconn_t;

struct query {
    query_t *next;
    sitr_db_t *db;
    dbconn_t *conn; /* while running */
    uv_timer_t timer;
    sitr_db_cb cb;
    void *arg;
    int nparams;
    char *sql;
    const char **values; /* points into the same allocation */
};

struct dbconn {
    sitr_db_t *db;
    conn_state_t state;
    PGconn *pg;
    uv_poll_t *poll;  /* heap: a replaced handle may still be closing */
    uv_timer_t retry; /* backoff before reconnecting; connect timeout */
    unsigned backoff_ms;
    int flushing; /* PQflush returned 1: more to send */
    query_t *q;
    PGresult *res; /* last good result of the running query */
    int failed;
    char sqlstate[6];
    /* listeners only */
    dbconn_t *next_listener;
    char *channel;
    sitr_db_notify_cb notify_cb;
    void *notify_arg;
};

struct sitr_db {
    uv_loop_t *loop;
    char *conninfo;
    char *options; /* libpq "options": the caller's plus statement_timeout */
    int pool_size;
    int max_queue;
    unsigned timeout_ms;
    dbconn_t *conns;
    dbconn_t *listeners;
    query_t *head, *tail;
    int queued;
    int handles; /* open libuv handles */
    int closing;
    void (*on_closed)(void *arg);
    void *on_closed_arg;
    sitr_db_stats_t st;
    char last_error[256];
    reach_t reach;
    uint64_t down_since; /* uv_now when it became unreachable */
};

static void conn_connect(dbconn_t *c);
static void conn_fail(dbconn_t *c, const char *why);
static void conn_close(dbconn_t *c);
static void dispatch(sitr_db_t *db);
static void maybe_freed(sitr_db_t *db);
static void on_poll(uv_poll_t *h, int status, int events);

static int is_listener(const dbconn_t *c)
{
    return c->channel != NULL;
}

static const char *conn_state_name(conn_state_t s)
{
    switch (s) {
    case CONN_DOWN:
        return "down";
    case CONN_CONNECTING:
        return "connecting";
    case CONN_IDLE:
        return "idle";
    case CONN_BUSY:
        return "busy";
    case CONN_CLOSED:
        return "closed";
    }
    return "?";
}

/* One place for state changes, logged at debug level like the client
 * connections' (net/conn.c): "db 2: state idle -> busy", "db listen: ...". */
static void conn_set_state(dbconn_t *c, conn_state_t s)
{
    if (c->state == s)
        return;
    if (sitr_log_enabled(SITR_LOG_DEBUG)) {
        if (is_listener(c))
            sitr_log(SITR_LOG_DEBUG, NULL, "db listen: state %s -> %s", conn_state_name(c->state),
                     conn_state_name(s));
        else
            sitr_log(SITR_LOG_DEBUG, NULL, "db %d: state %s -> %s", (int)(c - c->db->conns),
                     conn_state_name(c->state), conn_state_name(s));
    }
    c->state = s;
}

int sitr_db_sqlstate_refused(const char *sqlstate)
{
    /* 22: data exception (a value out of range, invalid text for its type);
     * 23: integrity constraint violation; SI: the sitr_* functions' own
     * answers (no such case, limit reached, see migrations/0001). */
    return sqlstate && (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
                        strncmp(sqlstate, "SI", 2) == 0);
}

static void record_error(sitr_db_t *db, const char *msg)
{
    /* libpq messages name hosts and ports, never the password. */
    snprintf(db->last_error, sizeof db->last_error, "%s", msg ? msg : "");
    size_t n = strlen(db->last_error);
    while (n > 0 && (db->last_error[n - 1] == '\n' || db->last_error[n - 1] == ' '))
        db->last_error[--n] = '\0';
    /* One log line per event: libpq's multi-line messages become one. */
    for (size_t i = 0; i < n; i++)
        if (db->last_error[i] == '\n' || db->last_error[i] == '\t')
            db->last_error[i] = ' ';
}

const char *sitr_db_last_error(const sitr_db_t *db)
{
    return db->last_error;
}

static int pool_connected(const sitr_db_t *db)
{
    int n = 0;
    for (int i = 0; i < db->pool_size; i++)
        n += db->conns[i].state == CONN_IDLE || db->conns[i].state == CONN_BUSY;
    return n;
}

static void query_finish(query_t *q, int rc, PGresult *res, const char *sqlstate);
static query_t *queue_pop(sitr_db_t *db);

/* The one place the pool's view of the database changes; each change is
 * logged once (not per connection or retry). */
static void set_reach(sitr_db_t *db, reach_t to)
{
    reach_t from = db->reach;
    if (from == to || db->closing)
        return;
    db->reach = to;
    uint64_t now = uv_now(db->loop);
    if (to == REACH_DOWN) {
        db->down_since = now;
        db->st.outages++;
        if (from == REACH_STARTING)
            sitr_log(SITR_LOG_WARN, NULL,
                     "database unreachable at start-up: %s (retrying; writes answer 503 until it "
                     "is reachable)",
                     db->last_error[0] ? db->last_error : "connection failed");
        else
            sitr_log(SITR_LOG_WARN, NULL,
                     "database unreachable: %s (retrying; writes answer 503 until it is back)",
                     db->last_error[0] ? db->last_error : "connection lost");
        /* Nothing waiting for a connection can get one soon. */
        query_t *q;
        while ((q = queue_pop(db)) != NULL)
            query_finish(q, SITR_EUNAVAIL, NULL, NULL);
    } else if (from == REACH_DOWN) {
        sitr_log(SITR_LOG_INFO, NULL, "database reachable again after %.1f s",
                 (double)(now - db->down_since) / 1000.0);
    } else {
        sitr_log(SITR_LOG_INFO, NULL, "database connected");
    }
}

/* ---- handles ---------------------------------------------------------- */

static void on_retry_closed(uv_handle_t *h)
{
    sitr_db_t *db = ((dbconn_t *)h->data)->db;
    db->handles--;
    maybe_freed(db);
}

static void on_poll_closed(uv_handle_t *h)
{
    sitr_db_t *db = ((dbconn_t *)h->data)->db;
    free(h);
    db->handles--;
    maybe_freed(db);
}

static void on_query_closed(uv_handle_t *h)
{
    query_t *q = h->data;
    sitr_db_t *db = q->db;
    free(q);
    db->handles--;
    maybe_freed(db);
}

static void poll_drop(dbconn_t *c)
{
    if (c->poll) {
        uv_poll_stop(c->poll);
        uv_close((uv_handle_t *)c->poll, on_poll_closed);
        c->poll = NULL;
    }
}

/* Watches the current libpq socket.  fresh: new handle (socket may have
 * been replaced). */
static int poll_watch(dbconn_t *c, int events, int fresh)
{
    sitr_db_t *db = c->db;
    if (fresh)
        poll_drop(c);
    if (!c->poll) {
        int fd = PQsocket(c->pg);
        if (fd < 0)
            return -1;
        uv_poll_t *p = malloc(sizeof *p);
        if (!p)
            return -1;
        if (uv_poll_init(db->loop, p, fd) < 0) {
            free(p);
            return -1;
        }
        p->data = c;
        db->handles++;
        c->poll = p;
    }
    if (uv_poll_start(c->poll, events, on_poll) < 0)
        return -1;
    return 0;
}

/* Closes the poll handle first, then the connection. */
static void conn_teardown(dbconn_t *c)
{
    poll_drop(c);
    if (c->res) {
        PQclear(c->res);
        c->res = NULL;
    }
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->flushing = 0;
}

/* ---- queries ---------------------------------------------------------- */

static void queue_push_back(sitr_db_t *db, query_t *q)
{
    q->next = NULL;
    if (db->tail)
        db->tail->next = q;
    else
        db->head = q;
    db->tail = q;
    db->queued++;
}

static void queue_push_front(sitr_db_t *db, query_t *q)
{
    q->next = db->head;
    db->head = q;
    if (!db->tail)
        db->tail = q;
    db->queued++;
}

static query_t *queue_pop(sitr_db_t *db)
{
    query_t *q = db->head;
    if (q) {
        db->head = q->next;
        if (!db->head)
            db->tail = NULL;
        q->next = NULL;
        db->queued--;
    }
    return q;
}

static void queue_remove(sitr_db_t *db, query_t *q)
{
    query_t **pp = &db->head, *prev = NULL;
    while (*pp && *pp != q) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = q->next;
    if (db->tail == q)
        db->tail = prev;
    q->next = NULL;
    db->queued--;
}

/* Ends a query: its callback runs exactly once, then its memory goes with
 * its timer.  The query must already be detached from queue and conn. */
static void query_finish(query_t *q, int rc, PGresult *res, const char *sqlstate)
{
    sitr_db_t *db = q->db;
    uv_timer_stop(&q->timer);
    if (rc == SITR_EDB || rc == SITR_EUNAVAIL)
        db->st.failed++;
    else if (rc == SITR_EREFUSED)
        db->st.refused++;
    else if (rc == SITR_ETIMEOUT)
        db->st.timeouts++;
    if (q->cb)
        q->cb(rc, res, sqlstate, q->arg);
    uv_close((uv_handle_t *)&q->timer, on_query_closed);
}

static void on_query_timeout(uv_timer_t *t)
{
    query_t *q = t->data;
    dbconn_t *c = q->conn;
    if (c) {
        /* Running: drop the connection rather than block in PQcancel. */
        c->q = NULL;
        q->conn = NULL;
        conn_teardown(c);
        if (c->db->closing) {
            conn_close(c);
        } else {
            conn_set_state(c, CONN_DOWN);
            c->backoff_ms = 0;
            conn_connect(c);
        }
    } else {
        queue_remove(q->db, q);
    }
    query_finish(q, SITR_ETIMEOUT, NULL, NULL);
}

static void query_send(dbconn_t *c, query_t *q);

/* Sends what libpq has buffered; waits for writability while it cannot. */
static int conn_flush(dbconn_t *c)
{
    int r = PQflush(c->pg);
    if (r < 0)
        return -1;
    c->flushing = r == 1;
    return poll_watch(c, c->flushing ? UV_READABLE | UV_WRITABLE : UV_READABLE, 0);
}

static void query_send(dbconn_t *c, query_t *q)
{
    if (!PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, q->values, NULL, NULL, 0)) {
        /* The connection is unusable; the query never reached the server,
         * so it goes back to the head of the queue for another one. */
        if (c->q == NULL && !is_listener(c))
            queue_push_front(c->db, q);
        else
            c->q = q;
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    c->q = q;
    q->conn = c;
    c->failed = 0;
    c->sqlstate[0] = '\0';
    conn_set_state(c, CONN_BUSY);
    if (conn_flush(c) < 0)
        conn_fail(c, PQerrorMessage(c->pg));
}

static void conn_query_done(dbconn_t *c)
{
    sitr_db_t *db = c->db;
    query_t *q = c->q;
    PGresult *res = c->res;
    c->q = NULL;
    c->res = NULL;
    q->conn = NULL;
    conn_set_state(c, CONN_IDLE);
    if (c->failed || !res)
        query_finish(q, sitr_db_sqlstate_refused(c->sqlstate) ? SITR_EREFUSED : SITR_EDB, NULL,
                     c->sqlstate[0] ? c->sqlstate : NULL);
    else
        query_finish(q, 0, res, NULL);
    if (res)
        PQclear(res);
    /* The callback may have closed the pool or failed this connection. */
    if (c->state != CONN_IDLE)
        return;
    if (db->closing)
        conn_close(c);
    else if (!is_listener(c))
        dispatch(db);
}

static void deliver_notifies(dbconn_t *c)
{
    PGnotify *n;
    while (c->pg && (n = PQnotifies(c->pg)) != NULL) {
        if (c->notify_cb && !c->db->closing)
            c->notify_cb(n->relname, n->extra, c->notify_arg);
        PQfreemem(n);
    }
}

/* Collects results until libpq says the query is complete. */
static void conn_read_results(dbconn_t *c)
{
    while (c->q && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            conn_query_done(c);
            return;
        }
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
            if (c->res)
                PQclear(c->res);
            c->res = r;
        } else {
            /* COPY is not supported through the pool: treat as an error. */
            if (!c->failed) {
                const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                snprintf(c->sqlstate, sizeof c->sqlstate, "%s", st ? st : "");
                record_error(c->db, PQresultErrorMessage(r));
            }
            c->failed = 1;
            PQclear(r);
            if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
                conn_fail(c, "COPY is not supported by the pool");
                return;
            }
        }
    }
}

/* ---- connections ------------------------------------------------------ */

static void on_retry_timer(uv_timer_t *t)
{
    dbconn_t *c = t->data;
    if (c->state == CONN_DOWN)
        conn_connect(c);
    else if (c->state == CONN_CONNECTING)
        conn_fail(c, "connection attempt timed out");
}

/* Server notices (and the FATAL message of a terminated session) would
 * otherwise be printed to stderr by libpq. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void conn_connect(dbconn_t *c)
{
    sitr_db_t *db = c->db;
    const char *kw[] = {"dbname", "options", "fallback_application_name", NULL};
    const char *val[] = {db->conninfo, db->options, "sitrd", NULL};
    c->pg = PQconnectStartParams(kw, val, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    conn_set_state(c, CONN_CONNECTING);
    uv_timer_start(&c->retry, on_retry_timer, CONNECT_TIMEOUT_MS, 0);
    /* libpq: after PQconnectStart, act as if polling returned WRITING. */
    if (poll_watch(c, UV_WRITABLE, 1) < 0)
        conn_fail(c, "cannot watch the database socket");
}

static query_t *listen_query(dbconn_t *c);
static void on_listen_query_done(int rc, PGresult *res, const char *sqlstate, void *arg);

static void conn_ready(dbconn_t *c)
{
    sitr_db_t *db = c->db;
    uv_timer_stop(&c->retry);
    if (PQsetnonblocking(c->pg, 1) != 0) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    c->backoff_ms = 0;
    conn_set_state(c, CONN_IDLE);
    if (poll_watch(c, UV_READABLE, 1) < 0) {
        conn_fail(c, "cannot watch the database socket");
        return;
    }
    if (!is_listener(c))
        set_reach(db, REACH_UP);
    if (is_listener(c)) {
        /* (Re)subscribe; the listener learns it may have missed
         * notifications when the LISTEN completes (see on_listen_done). */
        query_t *q = c->q ? c->q : listen_query(c);
        c->q = NULL;
        if (!q) {
            conn_fail(c, "out of memory");
            return;
        }
        query_send(c, q);
    } else {
        dispatch(db);
    }
}

static void conn_connect_step(dbconn_t *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        if (poll_watch(c, UV_READABLE, 1) < 0)
            conn_fail(c, "cannot watch the database socket");
        break;
    case PGRES_POLLING_WRITING:
        if (poll_watch(c, UV_WRITABLE, 1) < 0)
            conn_fail(c, "cannot watch the database socket");
        break;
    case PGRES_POLLING_OK:
        conn_ready(c);
        break;
    default:
        conn_fail(c, PQerrorMessage(c->pg));
        break;
    }
}

/* The connection is unusable: fail its query (if it reached the server),
 * drop it and retry after a backoff. */
static void conn_fail(dbconn_t *c, const char *why)
{
    sitr_db_t *db = c->db;
    record_error(db, why);
    query_t *q = c->q;
    if (q && is_listener(c)) {
        /* A listener keeps its LISTEN query for the next attempt. */
        q = NULL;
    } else {
        c->q = NULL;
    }
    conn_teardown(c);
    uv_timer_stop(&c->retry);
    if (db->closing) {
        conn_close(c);
    } else {
        conn_set_state(c, CONN_DOWN);
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (c->backoff_ms > BACKOFF_MAX_MS)
            c->backoff_ms = BACKOFF_MAX_MS;
        uv_timer_start(&c->retry, on_retry_timer, c->backoff_ms, 0);
    }
    if (q) {
        q->conn = NULL;
        query_finish(q, SITR_EDB, NULL, "08006");
    }
    if (!is_listener(c) && !db->closing && pool_connected(db) == 0)
        set_reach(db, REACH_DOWN);
}

static void conn_close(dbconn_t *c)
{
    conn_teardown(c);
    if (c->state != CONN_CLOSED) {
        conn_set_state(c, CONN_CLOSED);
        uv_timer_stop(&c->retry);
        uv_close((uv_handle_t *)&c->retry, on_retry_closed);
    }
    if (c->q) {
        /* A listener's pending LISTEN: it never ran. */
        query_t *q = c->q;
        c->q = NULL;
        q->cb = NULL;
        query_finish(q, SITR_ECLOSED, NULL, NULL);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    dbconn_t *c = h->data;
    if (c->poll != h || !c->pg)
        return; /* a replaced handle that is still closing */
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE; /* let libpq find out */
    switch (c->state) {
    case CONN_CONNECTING:
        conn_connect_step(c);
        break;
    case CONN_IDLE:
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
            conn_fail(c, PQerrorMessage(c->pg));
            return;
        }
        deliver_notifies(c);
        break;
    case CONN_BUSY:
        if (events & UV_READABLE) {
            if (!PQconsumeInput(c->pg)) {
                conn_fail(c, PQerrorMessage(c->pg));
                return;
            }
        }
        if (c->flushing) {
            if (conn_flush(c) < 0) {
                conn_fail(c, PQerrorMessage(c->pg));
                return;
            }
            if (c->flushing)
                return;
        }
        conn_read_results(c);
        if (c->state == CONN_IDLE || c->state == CONN_BUSY)
            deliver_notifies(c);
        break;
    default:
        break;
    }
}

static void conn_init(sitr_db_t *db, dbconn_t *c)
{
    c->db = db;
    uv_timer_init(db->loop, &c->retry);
    c->retry.data = c;
    db->handles++;
}

/* ---- the pool --------------------------------------------------------- */

static dbconn_t *idle_conn(sitr_db_t *db)
{
    for (int i = 0; i < db->pool_size; i++)
        if (db->conns[i].state == CONN_IDLE)
            return &db->conns[i];
    return NULL;
}

static void dispatch(sitr_db_t *db)
{
    dbconn_t *c;
    while (!db->closing && db->head && (c = idle_conn(db)) != NULL)
        query_send(c, queue_pop(db));
}

static void maybe_freed(sitr_db_t *db)
{
    if (!db->closing || db->handles > 0)
        return;
    for (int i = 0; i < db->pool_size; i++)
        if (db->conns[i].state != CONN_CLOSED)
            return;
    for (dbconn_t *l = db->listeners; l; l = l->next_listener)
        if (l->state != CONN_CLOSED)
            return;
    void (*cb)(void *) = db->on_closed;
    void *arg = db->on_closed_arg;
    while (db->listeners) {
        dbconn_t *l = db->listeners;
        db->listeners = l->next_listener;
        free(l->channel);
        free(l);
    }
    free(db->conns);
    sodium_memzero(db->conninfo, strlen(db->conninfo));
    free(db->conninfo);
    free(db->options);
    free(db);
    if (cb)
        cb(arg);
}

int sitr_db_new(uv_loop_t *loop, const sitr_db_options_t *opt, sitr_db_t **out, sitr_err_t *err)
{
    *out = NULL;
    if (!opt || !opt->conninfo || !*opt->conninfo)
        return sitr_err_set(err, SITR_ECONFIG, "no database connection string");
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(opt->conninfo, &perr);
    if (!parsed) {
        int rc = sitr_err_set(err, SITR_ECONFIG, "invalid database connection string: %s",
                              perr ? perr : "out of memory");
        PQfreemem(perr);
        return rc;
    }
    const char *user_opts = "";
    for (PQconninfoOption *o = parsed; o->keyword; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val)
            user_opts = o->val;

    sitr_db_t *db = calloc(1, sizeof *db);
    if (!db) {
        PQconninfoFree(parsed);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    db->loop = loop;
    db->pool_size = opt->pool_size > 0 ? opt->pool_size : 8;
    db->max_queue = opt->max_queue > 0 ? opt->max_queue : 1024;
    db->timeout_ms = opt->query_timeout_ms > 0 ? opt->query_timeout_ms : 5000;
    db->conninfo = strdup(opt->conninfo);
    size_t on = strlen(user_opts) + 64;
    db->options = malloc(on);
    db->conns = calloc((size_t)db->pool_size, sizeof *db->conns);
    if (!db->conninfo || !db->options || !db->conns) {
        PQconninfoFree(parsed);
        free(db->conninfo);
        free(db->options);
        free(db->conns);
        free(db);
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    }
    snprintf(db->options, on, "%s%s-c statement_timeout=%u", user_opts, *user_opts ? " " : "",
             db->timeout_ms + SERVER_TIMEOUT_SLACK_MS);
    PQconninfoFree(parsed);
    for (int i = 0; i < db->pool_size; i++)
        conn_init(db, &db->conns[i]);
    for (int i = 0; i < db->pool_size; i++)
        conn_connect(&db->conns[i]);
    *out = db;
    return 0;
}

static query_t *query_new(sitr_db_t *db, const char *sql, int nparams, const char *const *values)
{
    size_t need = sizeof(query_t) + (size_t)nparams * sizeof(char *) + strlen(sql) + 1;
    for (int i = 0; i < nparams; i++)
        if (values[i])
            need += strlen(values[i]) + 1;
    query_t *q = calloc(1, need);
    if (!q)
        return NULL;
    q->db = db;
    q->nparams = nparams;
    q->values = (const char **)(q + 1);
    char *p = (char *)(q->values + nparams);
    size_t n = strlen(sql) + 1;
    memcpy(p, sql, n);
    q->sql = p;
    p += n;
    for (int i = 0; i < nparams; i++) {
        if (!values[i]) {
            q->values[i] = NULL;
            continue;
        }
        n = strlen(values[i]) + 1;
        memcpy(p, values[i], n);
        q->values[i] = p;
        p += n;
    }
    return q;
}

int sitr_db_submit(sitr_db_t *db, const char *sql, int nparams, const char *const *values,
                   sitr_db_cb cb, void *arg)
{
    if (db->closing)
        return SITR_ECLOSED;
    if (nparams < 0 || (nparams > 0 && !values) || !sql)
        return SITR_EINVAL;
    if (db->reach == REACH_DOWN)
        return SITR_EUNAVAIL;
    /* Queued means waiting: a query that can start now never counts. */
    if (db->queued >= db->max_queue && !(db->head == NULL && idle_conn(db)))
        return SITR_EBUSY;
    query_t *q = query_new(db, sql, nparams, values);
    if (!q)
        return SITR_ENOMEM;
    q->cb = cb;
    q->arg = arg;
    uv_timer_init(db->loop, &q->timer);
    q->timer.data = q;
    db->handles++;
    uv_timer_start(&q->timer, on_query_timeout, db->timeout_ms, 0);
    db->st.submitted++;
    queue_push_back(db, q);
    dispatch(db);
    return 0;
}

void sitr_db_stats(const sitr_db_t *db, sitr_db_stats_t *out)
{
    *out = db->st;
    out->connections = db->pool_size;
    out->connected = 0;
    out->busy = 0;
    for (int i = 0; i < db->pool_size; i++) {
        if (db->conns[i].state == CONN_IDLE || db->conns[i].state == CONN_BUSY)
            out->connected++;
        if (db->conns[i].state == CONN_BUSY)
            out->busy++;
    }
    out->queued = db->queued;
    out->unreachable = db->reach == REACH_DOWN;
}

void sitr_db_close(sitr_db_t *db, void (*on_closed)(void *arg), void *arg)
{
    if (db->closing)
        return;
    db->closing = 1;
    db->on_closed = on_closed;
    db->on_closed_arg = arg;
    query_t *q;
    while ((q = queue_pop(db)) != NULL)
        query_finish(q, SITR_ECLOSED, NULL, NULL);
    for (int i = 0; i < db->pool_size; i++)
        if (db->conns[i].state != CONN_BUSY)
            conn_close(&db->conns[i]);
    for (dbconn_t *l = db->listeners; l; l = l->next_listener)
        conn_close(l);
}

/* ---- listeners -------------------------------------------------------- */

static void on_listen_done(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    dbconn_t *c = arg;
    (void)res;
    (void)sqlstate;
    if (rc == 0) {
        /* Subscribed (again): anything sent while we were away is lost, so
         * the listener is told to catch up with a NULL payload. */
        if (c->notify_cb && !c->db->closing)
            c->notify_cb(c->channel, NULL, c->notify_arg);
    }
}

/* The LISTEN query of a listener is re-armed for every connection attempt;
 * it has no timer of its own running while it waits. */
static query_t *listen_query(dbconn_t *c)
{
    sitr_db_t *db = c->db;
    char sql[160];
    /* PQescapeIdentifier needs a connection; channel names are restricted
     * to [a-z0-9_] in sitr_db_listen instead, so plain quotes suffice. */
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", c->channel);
    query_t *q = query_new(db, sql, 0, NULL);
    if (!q)
        return NULL;
    q->cb = on_listen_query_done;
    q->arg = c;
    uv_timer_init(db->loop, &q->timer);
    q->timer.data = q;
    db->handles++;
    return q;
}

static void on_listen_query_done(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    dbconn_t *c = arg;
    on_listen_done(rc, res, sqlstate, arg);
    /* The next (re)connection needs a fresh LISTEN query. */
    if (c->state != CONN_CLOSED && !c->db->closing && c->q == NULL)
        c->q = listen_query(c);
    if (rc != 0 && c->state == CONN_IDLE)
        conn_fail(c, "LISTEN failed");
}

int sitr_db_listen(sitr_db_t *db, const char *channel, sitr_db_notify_cb cb, void *arg)
{
    if (db->closing)
        return SITR_ECLOSED;
    size_t n = channel ? strlen(channel) : 0;
    if (n == 0 || n > 63)
        return SITR_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char ch = channel[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return SITR_EINVAL;
    }
    dbconn_t *c = calloc(1, sizeof *c);
    if (!c)
        return SITR_ENOMEM;
    c->channel = strdup(channel);
    if (!c->channel) {
        free(c);
        return SITR_ENOMEM;
    }
    conn_init(db, c);
    c->notify_cb = cb;
    c->notify_arg = arg;
    c->q = listen_query(c);
    if (!c->q) {
        /* Keep the struct: the retry timer is already a live handle. */
        c->next_listener = db->listeners;
        db->listeners = c;
        conn_set_state(c, CONN_CLOSED);
        uv_close((uv_handle_t *)&c->retry, on_retry_closed);
        return SITR_ENOMEM;
    }
    c->next_listener = db->listeners;
    db->listeners = c;
    conn_connect(c);
    return 0;
}
