/* reliability-faults: sitrd through faults, every answer checked, each
 * scenario printing its figures (docs/RELIABILITY.md).
 *
 *   reliability-faults [--quick|--long] [--build DIR] [SCENARIO...]
 *
 * Scenarios (all by default, in this order):
 *   sigkill    writers create cases; sitrd is killed with SIGKILL and
 *              started again: every acknowledged (201) case must be in the
 *              database and matched by the new process.
 *   pg-restart match and write load; PostgreSQL is stopped in immediate
 *              mode and started again at once.
 *   pg-stop    the same with PostgreSQL down for 30 s (--long) or 3 s.
 *   pg-late    sitrd started while PostgreSQL is down, PostgreSQL started
 *              later: time until /readyz says ready and a case is accepted.
 *   replicas   two sitrd on one PostgreSQL across a stop: matches on both
 *              throughout, then the freshness of a case written on A after
 *              the recovery, as seen by /v1/match on B.
 *   slow       slow clients (one header byte a second, never finishing)
 *              and a flood of idle connections, from other loopback
 *              addresses, while a normal client sends /healthz and
 *              /v1/match on fresh connections.
 * In the load scenarios, two threads send /v1/match (half near copies of
 * planted cases at a known distance, half random hashes: the answer must
 * say exactly that) and two threads POST /v1/cases with new random PDQs.
 *
 * What fails the run (exit 1): a match not answered 200 with the right
 * matches, a write answered anything but 201 or 503, an acknowledged case
 * missing from the database or from the index after recovery, a sitrd that
 * never becomes ready again, a normal client failing beside slow ones.
 * Times are printed, never judged (the machine is shared).
 *
 * --quick (the CTest test reliability_faults) uses short phases and 200
 * slow connections; --long the phases of the document (30-s outage, 2,000
 * slow connections).  It starts its own PostgreSQL with tools/pg-local in a
 * /tmp directory (it stops and starts it: the CTest fixture's server is
 * shared) and sitrd from the build tree (--build DIR: another build's
 * sitrd and sitr-admin, to measure an older commit).  Threads: the main
 * thread drives the scenario; load threads only send requests and append
 * results under a mutex. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "e2e_util.h"

#define PLANTED      8
#define MAX_RESULTS  (1u << 22)
#define MAX_ACKED    (1u << 20)
#define DIGEST_KEY   "5e1f0e7a11ab1e5e1f0e7a11ab1e5e1f0e7a11ab1e5e1f0e7a11ab1e5e1f0e7a"
#define FRESH_POLL_S 60

/* ---- settings and small helpers ---------------------------------------- */

static struct {
    int quick;
    char build[1024];
    char work[256];   /* mktemp'd directory: pg/ and logs */
    char server[512]; /* conninfo of the private cluster's postgres db */
    char url[600];    /* the migrated database */
    int pg_port;
    char key[160]; /* platform API key */
    int failed;
} G;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "FAIL: ");
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    G.failed = 1;
}

static int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_cmd(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static pthread_mutex_t rng_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rnd(void)
{
    pthread_mutex_lock(&rng_mu);
    uint64_t x = rng_state;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    rng_state = x;
    pthread_mutex_unlock(&rng_mu);
    return x;
}

static void rand_pdq(uint8_t *p)
{
    for (int i = 0; i < 32; i += 8) {
        uint64_t v = rnd();
        memcpy(p + i, &v, 8);
    }
}

static void hex32(const uint8_t *b, char *out)
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* q = p with exactly d distinct bits flipped. */
static void flip(const uint8_t *p, int d, uint8_t *q)
{
    memcpy(q, p, 32);
    uint8_t done[256] = {0};
    for (int k = 0; k < d;) {
        int bit = (int)(rnd() % 256);
        if (done[bit])
            continue;
        done[bit] = 1;
        q[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        k++;
    }
}

/* ---- PostgreSQL -------------------------------------------------------- */

static long long sql_scalar(const char *url, const char *sql, int nparams, const char *const *p)
{
    PGconn *c = PQconnectdb(url);
    long long v = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexecParams(c, sql, nparams, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            v = atoll(PQgetvalue(r, 0, 0));
        else if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fprintf(stderr, "faults: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "faults: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return v;
}

static int pg_start(void)
{
    return run_cmd("'%s/tools/pg-local' start '%s/pg' %d --tmp-fallback >/dev/null",
                   SITR_SOURCE_DIR, G.work, G.pg_port);
}

/* Immediate stop: the server dies as on a crash (no checkpoint; clients
 * see their connections cut). */
static int pg_stop_immediate(void)
{
    char data[512];
    FILE *f;
    char loc[512];
    snprintf(loc, sizeof loc, "%s/pg/location", G.work);
    if ((f = fopen(loc, "r")) != NULL && fgets(data, sizeof data, f)) {
        data[strcspn(data, "\n")] = '\0';
        strncat(data, "/data", sizeof data - strlen(data) - 1);
    } else {
        snprintf(data, sizeof data, "%s/pg/data", G.work);
    }
    if (f)
        fclose(f);
    return run_cmd("%s /usr/lib/postgresql/15/bin/pg_ctl -D '%s' -m immediate -w stop >/dev/null",
                   geteuid() == 0 ? "runuser -u postgres --" : "", data);
}

/* ---- sitrd ------------------------------------------------------------- */

typedef struct sitrd {
    sitr_e2e_server_t s;
} sitrd_t;

static int free_port(void)
{
    for (;;) {
        int port = 18000 + (int)(rnd() % 1000);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return port;
    }
}

/* Starts sitrd on a free port (18000-18999) and waits until it answers
 * /healthz (not /readyz: PostgreSQL may be down on purpose). */
static int sitrd_start_once(sitrd_t *d, const char *name);

/* A few attempts: the free port may be taken before sitrd binds it. */
static int sitrd_start(sitrd_t *d, const char *name)
{
    for (int attempt = 0; attempt < 3; attempt++)
        if (sitrd_start_once(d, name) == 0)
            return 0;
    fail("sitrd did not start (log %s)", d->s.log_path);
    return -1;
}

static int sitrd_start_once(sitrd_t *d, const char *name)
{
    memset(d, 0, sizeof *d);
    d->s.port = free_port();
    snprintf(d->s.log_path, sizeof d->s.log_path, "%s/%s.log", G.work, name);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(d->s.log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        char listen[64], db[700], bin[1100];
        snprintf(listen, sizeof listen, "SITR_LISTEN=127.0.0.1:%d", d->s.port);
        snprintf(db, sizeof db, "SITR_DATABASE_URL=%s", G.url);
        putenv(listen);
        putenv(db);
        putenv((char *)"SITR_DIGEST_KEY=" DIGEST_KEY);
        putenv((char *)"SITR_PLATFORM_RATE=0");
        putenv((char *)"SITR_CLIENT_RATE=0");
        putenv((char *)"SITR_CASE_RATE=0");
        putenv((char *)"SITR_WEBHOOKS=off");
        snprintf(bin, sizeof bin, "%s/service/sitrd", G.build);
        execl(bin, "sitrd", (char *)NULL);
        _exit(127);
    }
    d->s.pid = pid;
    for (double end = now_s() + 30; now_s() < end; sleep_s(0.02)) {
        sitr_e2e_resp_t r;
        if (sitr_e2e_request(&d->s, "GET", "/healthz", NULL, NULL, &r) == 0) {
            int ok = r.status == 200;
            sitr_e2e_resp_free(&r);
            if (ok)
                return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            d->s.pid = 0;
            return -1;
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    d->s.pid = 0;
    return -1;
}

static void sitrd_stop(sitrd_t *d)
{
    if (d->s.pid > 0)
        sitr_e2e_stop(&d->s);
}

/* Seconds until /readyz answers 200, or -1 after timeout_s. */
static double wait_ready(sitrd_t *d, double timeout_s)
{
    double t0 = now_s();
    while (now_s() - t0 < timeout_s) {
        sitr_e2e_resp_t r;
        if (sitr_e2e_request(&d->s, "GET", "/readyz", NULL, NULL, &r) == 0) {
            int ok = r.status == 200;
            sitr_e2e_resp_free(&r);
            if (ok)
                return now_s() - t0;
        }
        sleep_s(0.02);
    }
    return -1;
}

/* ---- one keep-alive HTTP client per thread ---------------------------- */

typedef struct client {
    const sitr_e2e_server_t *srv;
    sitr_e2e_client_t c;
    int open;
} client_t;

/* One request on the client's connection (opened on demand, closed after
 * an error or Connection: close).  0 with *r filled, or -1: no answer. */
static int client_call(client_t *cl, const char *method, const char *path, const char *auth,
                       const char *body, sitr_e2e_resp_t *r)
{
    if (!cl->open) {
        if (sitr_e2e_connect(cl->srv, &cl->c) < 0)
            return -1;
        cl->open = 1;
    }
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, auth ? "Authorization: Bearer " : "", auth ? auth : "",
                     auth ? "\r\n" : "", blen);
    if (sitr_e2e_send(&cl->c, head, (size_t)n) < 0 ||
        (blen && sitr_e2e_send(&cl->c, body, blen) < 0) || sitr_e2e_read(&cl->c, r, 0) < 0) {
        sitr_e2e_close(&cl->c);
        cl->open = 0;
        return -1;
    }
    const char *conn = sitr_e2e_header(r, "Connection");
    if (conn && strcmp(conn, "close") == 0) {
        sitr_e2e_close(&cl->c);
        cl->open = 0;
    }
    return 0;
}

static void client_close(client_t *cl)
{
    if (cl->open)
        sitr_e2e_close(&cl->c);
    cl->open = 0;
}

/* ---- results ----------------------------------------------------------- */

enum { K_MATCH, K_WRITE };

typedef struct result {
    double t0, t1; /* sent, answered (seconds since the scenario's start) */
    short status;  /* 0: no answer (connection refused, reset, timeout) */
    char kind;
    char right; /* match: the answer was the right one */
    int server; /* which sitrd (0 or 1) */
} result_t;

typedef struct acked {
    char ref[96];
    uint8_t pdq[32];
} acked_t;

static struct {
    pthread_mutex_t mu;
    result_t *res;
    size_t nres;
    acked_t *acked;
    size_t nacked;
    double t_base;
    long long blocks; /* blocks /v1/match answers said were recorded */
    volatile int stop;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void record(char kind, int server, double t0, double t1, int status, int right)
{
    pthread_mutex_lock(&R.mu);
    if (R.nres < MAX_RESULTS)
        R.res[R.nres++] = (result_t){.t0 = t0 - R.t_base,
                                     .t1 = t1 - R.t_base,
                                     .status = (short)status,
                                     .kind = kind,
                                     .right = (char)right,
                                     .server = server};
    pthread_mutex_unlock(&R.mu);
}

/* The planted cases: one image each, whose PDQ the match threads query at
 * a known distance. */
static uint8_t planted[PLANTED][32];
/* The near copies the load sends: VARIANTS fixed ones per planted case, at
 * known distances, like the handful of re-encodes real re-uploads of one
 * picture give.  A fresh random flip on every query would be a probe: the
 * match oracle guard (docs/SECURITY.md) would rightly withhold the case
 * after SITR_ORACLE_BUDGET distinct near copies. */
#define VARIANTS 8
static uint8_t variant[PLANTED][VARIANTS][32];
static int variant_dist[PLANTED][VARIANTS];

/* The distance /v1/match answers for a true distance d: the oracle guard's
 * bands (service/api/oracle.h) at the default threshold, 0 exact, 15 for
 * 1..15, 31 above. */
static int band(int d)
{
    return d == 0 ? 0 : d <= 15 ? 15 : 31;
}

/* Counts the blocks a /v1/match answer says it recorded: one per (item,
 * matched case image), except where the answer or the item says
 * "recorded":false.  Each must end up in the database (check_blocks). */
static void note_blocks(json_t *answer)
{
    long long n = 0;
    json_t *items = json_object_get(answer, "items");
    int all_off = json_is_false(json_object_get(answer, "recorded"));
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        if (!all_off && !json_is_false(json_object_get(it, "recorded")))
            n += (long long)json_array_size(json_object_get(it, "matches"));
    }
    pthread_mutex_lock(&R.mu);
    R.blocks += n;
    pthread_mutex_unlock(&R.mu);
}

/* Is this /v1/match answer the right one for one item: exactly one match
 * at distance want (want < 0: no match)? */
static int right_answer(const char *body, int want)
{
    json_t *j = json_loads(body, 0, NULL);
    note_blocks(j);
    json_t *it = json_array_get(json_object_get(j, "items"), 0);
    json_t *ms = json_object_get(it, "matches");
    int ok;
    if (want < 0)
        ok = json_is_false(json_object_get(it, "matched")) && json_array_size(ms) == 0;
    else
        ok = json_is_true(json_object_get(it, "matched")) && json_array_size(ms) == 1 &&
             json_integer_value(json_object_get(json_array_get(ms, 0), "distance")) == band(want);
    json_decref(j);
    return ok;
}

typedef struct loadarg {
    const sitr_e2e_server_t *srv;
    int server;
} loadarg_t;

static void *match_thread(void *p)
{
    loadarg_t *a = p;
    client_t cl = {.srv = a->srv};
    for (unsigned i = 0; !R.stop; i++) {
        uint8_t q[32];
        int want = -1;
        if (i % 2 == 0) {
            int c = (int)(rnd() % PLANTED), v = (int)(rnd() % VARIANTS);
            memcpy(q, variant[c][v], 32);
            want = variant_dist[c][v];
        } else {
            rand_pdq(q);
        }
        char h[65], body[160];
        hex32(q, h);
        snprintf(body, sizeof body, "{\"items\":[{\"pdq\":\"%s\",\"quality\":90}]}", h);
        sitr_e2e_resp_t r;
        double t0 = now_s();
        int rc = client_call(&cl, "POST", "/v1/match", G.key, body, &r);
        double t1 = now_s();
        if (rc < 0) {
            record(K_MATCH, a->server, t0, t1, 0, 0);
            sleep_s(0.01);
            continue;
        }
        record(K_MATCH, a->server, t0, t1, r.status, r.status == 200 && right_answer(r.body, want));
        sitr_e2e_resp_free(&r);
        if (G.quick)
            sleep_s(0.002); /* CI shares its cores: correctness needs no flood */
    }
    client_close(&cl);
    return NULL;
}

static void *write_thread(void *p)
{
    loadarg_t *a = p;
    client_t cl = {.srv = a->srv};
    while (!R.stop) {
        uint8_t pdq[32];
        rand_pdq(pdq);
        char h[65], body[160];
        hex32(pdq, h);
        snprintf(body, sizeof body, "{\"images\":[{\"pdq\":\"%s\",\"quality\":90}]}", h);
        sitr_e2e_resp_t r;
        double t0 = now_s();
        int rc = client_call(&cl, "POST", "/v1/cases", NULL, body, &r);
        double t1 = now_s();
        if (rc < 0) {
            record(K_WRITE, a->server, t0, t1, 0, 0);
            sleep_s(0.01);
            continue;
        }
        if (r.status == 201) {
            json_t *j = json_loads(r.body, 0, NULL);
            const char *ref = json_string_value(json_object_get(j, "case"));
            pthread_mutex_lock(&R.mu);
            if (ref && R.nacked < MAX_ACKED) {
                snprintf(R.acked[R.nacked].ref, sizeof R.acked[R.nacked].ref, "%s", ref);
                memcpy(R.acked[R.nacked].pdq, pdq, 32);
                R.nacked++;
            }
            pthread_mutex_unlock(&R.mu);
            if (!ref)
                fail("a 201 to POST /v1/cases without a case reference");
            json_decref(j);
        }
        record(K_WRITE, a->server, t0, t1, r.status, r.status == 201);
        int st = r.status;
        sitr_e2e_resp_free(&r);
        if (st != 201)
            sleep_s(0.01); /* a client that backs off a little, as one would */
    }
    client_close(&cl);
    return NULL;
}

typedef struct load {
    pthread_t th[8];
    loadarg_t arg[8];
    int n;
} load_t;

static void load_start(load_t *l, sitrd_t *const *servers, int nservers, int writers)
{
    memset(l, 0, sizeof *l);
    R.stop = 0;
    R.nres = 0;
    R.t_base = now_s();
    for (int s = 0; s < nservers; s++) {
        for (int k = 0; k < 2; k++) {
            l->arg[l->n] = (loadarg_t){.srv = &servers[s]->s, .server = s};
            pthread_create(&l->th[l->n], NULL, match_thread, &l->arg[l->n]);
            l->n++;
        }
    }
    for (int k = 0; k < writers; k++) {
        l->arg[l->n] = (loadarg_t){.srv = &servers[0]->s, .server = 0};
        pthread_create(&l->th[l->n], NULL, write_thread, &l->arg[l->n]);
        l->n++;
    }
}

static void load_stop(load_t *l)
{
    R.stop = 1;
    for (int i = 0; i < l->n; i++)
        pthread_join(l->th[i], NULL);
}

/* 1 once a write sent after t (seconds since the start) was acknowledged. */
static int acked_after(double t)
{
    int found = 0;
    pthread_mutex_lock(&R.mu);
    for (size_t i = R.nres; i-- > 0 && !found;)
        found = R.res[i].kind == K_WRITE && R.res[i].status == 201 && R.res[i].t0 >= t;
    pthread_mutex_unlock(&R.mu);
    return found;
}

static double since_base(void)
{
    return now_s() - R.t_base;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Latency percentile (ms) of the results selected by keep. */
typedef int (*keep_fn)(const result_t *r, double a, double b);

static double pct_ms(keep_fn keep, double a, double b, double p)
{
    double *v = malloc(R.nres * sizeof *v + 1);
    size_t n = 0;
    for (size_t i = 0; i < R.nres; i++)
        if (keep(&R.res[i], a, b))
            v[n++] = (R.res[i].t1 - R.res[i].t0) * 1e3;
    double out = 0;
    if (n) {
        qsort(v, n, sizeof *v, cmp_double);
        size_t k = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
        out = v[k];
    }
    free(v);
    return out;
}

static int keep_write503(const result_t *r, double a, double b)
{
    (void)a, (void)b;
    return r->kind == K_WRITE && r->status == 503;
}

static int keep_match_window(const result_t *r, double a, double b)
{
    return r->kind == K_MATCH && r->t1 >= a && r->t0 <= b;
}

/* Prints the match and write figures of a load phase with a fault window
 * [fa, fb] (seconds since the start; the database is back at fb), checks
 * them, and returns the recovery time of writes (first 201 sent after fb,
 * its answer's time minus fb; -1 if none). */
static double report_load(const char *name, double fa, double fb)
{
    size_t m = 0, mok = 0, mw = 0, mwok = 0, mnone = 0, w = 0, w201 = 0, w503 = 0, wother = 0,
           wnone = 0;
    double rec = -1;
    int other_status = 0;
    for (size_t i = 0; i < R.nres; i++) {
        const result_t *r = &R.res[i];
        if (r->kind == K_MATCH) {
            m++;
            mok += r->status == 200 && r->right;
            mnone += r->status == 0;
            if (r->t1 >= fa && r->t0 <= fb) {
                mw++;
                mwok += r->status == 200 && r->right;
            }
        } else {
            w++;
            w201 += r->status == 201;
            w503 += r->status == 503;
            wnone += r->status == 0;
            if (r->status != 0 && r->status != 201 && r->status != 503) {
                wother++;
                other_status = r->status;
            }
            if (r->status == 201 && r->t0 >= fb && (rec < 0 || r->t1 - fb < rec))
                rec = r->t1 - fb;
        }
    }
    printf("%s: /v1/match %zu answered 200 with the right matches of %zu sent (%.2f %%); during "
           "the outage %zu of %zu (%.2f %%), p99 %.1f ms, max %.1f ms; %zu without answer\n",
           name, mok, m, m ? 100.0 * (double)mok / (double)m : 0, mwok, mw,
           mw ? 100.0 * (double)mwok / (double)mw : 100.0, pct_ms(keep_match_window, fa, fb, 99),
           pct_ms(keep_match_window, fa, fb, 100), mnone);
    printf("%s: POST /v1/cases %zu sent: %zu acknowledged (201), %zu answered 503 (p50 %.1f ms, "
           "p99 %.1f ms, max %.1f ms), %zu other answers, %zu without answer; first write "
           "acknowledged %.2f s after PostgreSQL was back\n",
           name, w, w201, w503, pct_ms(keep_write503, 0, 0, 50), pct_ms(keep_write503, 0, 0, 99),
           pct_ms(keep_write503, 0, 0, 100), wother, wnone, rec);
    if (mok != m)
        fail("%s: %zu of %zu /v1/match not answered 200 with the right matches", name, m - mok, m);
    if (wother)
        fail("%s: %zu writes answered neither 201 nor 503 (e.g. %d)", name, wother, other_status);
    if (w201 == 0)
        fail("%s: no write was acknowledged", name);
    return rec;
}

/* Acknowledged cases [i, i + n): adds to *lost_db those missing from the
 * database (when lost_db is not NULL) and to *lost_index those the given
 * sitrd does not match (exact copy). */
static void check_acked_batch(sitrd_t *d, size_t i, size_t n, size_t *lost_db, size_t *lost_index)
{
    char refs[64 * 100 + 8], body[64 * 100 + 32];
    size_t rp = 0, bp = 0;
    refs[rp++] = '{';
    bp += (size_t)snprintf(body + bp, sizeof body - bp, "{\"items\":[");
    for (size_t k = 0; k < n; k++) {
        char h[65];
        hex32(R.acked[i + k].pdq, h);
        rp += (size_t)snprintf(refs + rp, sizeof refs - rp, "%s\"%s\"", k ? "," : "",
                               R.acked[i + k].ref);
        bp += (size_t)snprintf(body + bp, sizeof body - bp, "%s{\"pdq\":\"%s\",\"quality\":90}",
                               k ? "," : "", h);
    }
    snprintf(refs + rp, sizeof refs - rp, "}");
    snprintf(body + bp, sizeof body - bp, "]}");
    if (lost_db) {
        const char *p[1] = {refs};
        long long found = sql_scalar(G.url,
                                     "SELECT count(DISTINCT c.id) FROM cases c JOIN case_images i "
                                     "ON i.case_id = c.id WHERE c.reference = ANY($1::text[]) "
                                     "AND i.pdq IS NOT NULL AND c.withdrawn_at IS NULL",
                                     1, p);
        *lost_db += found < 0 ? n : n - (size_t)found;
    }
    client_t cl = {.srv = &d->s};
    sitr_e2e_resp_t r;
    int rc = client_call(&cl, "POST", "/v1/match", G.key, body, &r);
    if (rc < 0 || r.status != 200) {
        *lost_index += n;
    } else {
        json_t *j = json_loads(r.body, 0, NULL);
        note_blocks(j);
        json_t *items = json_object_get(j, "items");
        for (size_t k = 0; k < n; k++)
            *lost_index += !json_is_true(json_object_get(json_array_get(items, k), "matched"));
        json_decref(j);
    }
    if (rc == 0)
        sitr_e2e_resp_free(&r);
    client_close(&cl);
}

/* How long the index may take to show the last acknowledged cases after
 * the load stops: the change-log follower can be between two reads (a read
 * that timed out on a busy machine is retried).  A case not matched by then
 * is lost; the time it took is printed, never judged. */
#define CATCH_UP_S 10.0

/* Every acknowledged case is in the database with its image, and the
 * given sitrd matches its PDQ (exact copy).  Returns the number lost. */
static size_t check_acked(const char *name, sitrd_t *d)
{
    size_t lost_db = 0, lost_index = 0;
    double t0 = now_s();
    for (size_t i = 0; i < R.nacked; i += 64)
        check_acked_batch(d, i, R.nacked - i < 64 ? R.nacked - i : 64, &lost_db, &lost_index);
    size_t first = lost_index;
    while (lost_index && now_s() - t0 < CATCH_UP_S) {
        sleep_s(0.2);
        lost_index = 0;
        for (size_t i = 0; i < R.nacked; i += 64)
            check_acked_batch(d, i, R.nacked - i < 64 ? R.nacked - i : 64, NULL, &lost_index);
    }
    printf("%s: %zu acknowledged cases: %zu missing from the database, %zu not matched by "
           "/v1/match (%zu at the first look; checked again for %.2f s)\n",
           name, R.nacked, lost_db, lost_index, first, now_s() - t0);
    if (lost_db || lost_index)
        fail("%s: acknowledged cases lost (%zu from the database, %zu from the index)", name,
             lost_db, lost_index);
    return lost_db + lost_index;
}

/* ---- set-up: database, platform, planted cases ------------------------- */

static int create_case(sitrd_t *d, const uint8_t *pdq, char *ref, size_t cap)
{
    char h[65], body[160];
    hex32(pdq, h);
    snprintf(body, sizeof body, "{\"images\":[{\"pdq\":\"%s\",\"quality\":90}]}", h);
    sitr_e2e_resp_t r;
    if (sitr_e2e_request(&d->s, "POST", "/v1/cases", "Content-Type: application/json\r\n", body,
                         &r) < 0)
        return -1;
    int st = r.status;
    if (st == 201 && ref) {
        json_t *j = json_loads(r.body, 0, NULL);
        snprintf(ref, cap, "%s", json_string_value(json_object_get(j, "case")));
        json_decref(j);
    }
    sitr_e2e_resp_free(&r);
    return st == 201 ? 0 : -1;
}

/* 1 when d's /v1/match matches pdq exactly. */
static int matches(sitrd_t *d, const uint8_t *pdq)
{
    char h[65], body[160], auth[320];
    hex32(pdq, h);
    snprintf(body, sizeof body, "{\"items\":[{\"pdq\":\"%s\",\"quality\":90}]}", h);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             G.key);
    sitr_e2e_resp_t r;
    if (sitr_e2e_request(&d->s, "POST", "/v1/match", auth, body, &r) < 0)
        return 0;
    int ok = r.status == 200 && right_answer(r.body, 0);
    sitr_e2e_resp_free(&r);
    return ok;
}

static int plant(sitrd_t *const *servers, int n)
{
    for (int i = 0; i < PLANTED; i++) {
        rand_pdq(planted[i]);
        for (int v = 0; v < VARIANTS; v++) {
            variant_dist[i][v] = (int)(rnd() % 32);
            flip(planted[i], variant_dist[i][v], variant[i][v]);
        }
        if (create_case(servers[0], planted[i], NULL, 0) < 0) {
            fail("cannot create the planted cases");
            return -1;
        }
    }
    for (int s = 0; s < n; s++)
        for (int i = 0; i < PLANTED; i++)
            for (double end = now_s() + 30; !matches(servers[s], planted[i]); sleep_s(0.02))
                if (now_s() > end) {
                    fail("planted case %d never matched on sitrd %d", i, s);
                    return -1;
                }
    return 0;
}

static int setup_world(void)
{
    snprintf(G.work, sizeof G.work, "/tmp/sitr-rel-faults.XXXXXX");
    if (!mkdtemp(G.work) || chmod(G.work, 0755) < 0) {
        perror("mkdtemp");
        return -1;
    }
    /* The port was free when tried; another program may take it before
     * PostgreSQL binds it: then try another. */
    int started = -1;
    for (int attempt = 0; attempt < 5 && started != 0; attempt++) {
        G.pg_port = free_port();
        started = pg_start();
    }
    if (started != 0) {
        fail("PostgreSQL did not start");
        return -1;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/pg/conninfo", G.work);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(G.server, sizeof G.server, f)) {
        fail("no %s", path);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    G.server[strcspn(G.server, "\n")] = '\0';
    sql_scalar(G.server, "CREATE DATABASE rel", 0, NULL);
    /* tools/pg-local runs PostgreSQL with synchronous_commit off (fast
     * tests); an acknowledged commit could then be lost by the immediate
     * stops below through no fault of sitrd.  A database setting overrides
     * the server's command line: commits here are durable before sitrd
     * hears of them, as in production. */
    sql_scalar(G.server, "ALTER DATABASE rel SET synchronous_commit = on", 0, NULL);
    snprintf(G.url, sizeof G.url, "%.*s/rel", (int)(strrchr(G.server, '/') - G.server), G.server);
    if (run_cmd("'%s/tools/sitr-admin' --database-url '%s' migrate >/dev/null", G.build, G.url)) {
        fail("sitr-admin migrate failed");
        return -1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "SITR_DIGEST_KEY=" DIGEST_KEY " '%s/tools/sitr-admin' --database-url '%s' platform "
             "add relfaults 2>/dev/null",
             G.build, G.url);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(G.key, sizeof G.key, p)) {
        fail("sitr-admin platform add printed no key");
        if (p)
            pclose(p);
        return -1;
    }
    pclose(p);
    G.key[strcspn(G.key, "\r\n")] = '\0';
    return 0;
}

static void teardown_world(void)
{
    run_cmd("'%s/tools/pg-local' stop '%s/pg' >/dev/null 2>&1", SITR_SOURCE_DIR, G.work);
    if (!G.failed)
        run_cmd("rm -rf '%s'", G.work);
    else
        printf("logs kept in %s\n", G.work);
}

/* Blocks in the database: case_blocks (one row per case image, platform
 * and day, with a count) where the schema has it, else the upload_blocked
 * case events of the older schema. */
static long long blocks_in_db(void)
{
    if (sql_scalar(G.url, "SELECT (to_regclass('case_blocks') IS NOT NULL)::int", 0, NULL) == 1)
        return sql_scalar(G.url, "SELECT coalesce(sum(count), 0) FROM case_blocks", 0, NULL);
    return sql_scalar(G.url,
                      "SELECT coalesce(sum(count), 0) FROM case_events "
                      "WHERE kind = 'upload_blocked'",
                      0, NULL);
}

/* Every block an answer said was recorded since (db0, answered0) is in the
 * database once PostgreSQL is back (at most 60 s later), no more, no less. */
static void check_blocks(const char *name, long long db0, long long answered0)
{
    long long want = R.blocks - answered0, got = -1;
    double t0 = now_s();
    while (now_s() - t0 < 60) {
        got = blocks_in_db() - db0;
        if (got >= want)
            break;
        sleep_s(0.1);
    }
    printf("%s: blocks the answers said were recorded: %lld; in the database: %lld (%.1f s after "
           "the load stopped)\n",
           name, want, got, now_s() - t0);
    if (got != want)
        fail("%s: %lld blocks answered as recorded, %lld in the database", name, want, got);
}

/* ---- scenarios ----------------------------------------------------------- */

static void scenario_sigkill(void)
{
    const char *name = "sigkill";
    sitrd_t d;
    if (sitrd_start(&d, "sigkill-1") < 0 || wait_ready(&d, 60) < 0)
        return;
    R.nacked = 0;
    long long before = sql_scalar(G.url, "SELECT count(*) FROM cases", 0, NULL);
    sitrd_t *sv[1] = {&d};
    load_t l;
    load_start(&l, sv, 1, 2);
    sleep_s(G.quick ? 1 : 10);
    double fa = since_base();
    kill(d.s.pid, SIGKILL);
    waitpid(d.s.pid, NULL, 0);
    d.s.pid = 0;
    sleep_s(0.5);
    load_stop(&l);
    size_t acked = R.nacked;
    long long rows = sql_scalar(G.url, "SELECT count(*) FROM cases", 0, NULL);
    sitrd_t d2;
    double t0 = now_s();
    if (sitrd_start(&d2, "sigkill-2") < 0)
        return;
    double ready = wait_ready(&d2, 60);
    printf("%s: killed at %.1f s; %zu cases acknowledged, %lld new cases in the database (more: "
           "committed, answer never received); restarted sitrd ready in %.2f s\n",
           name, fa, acked, rows - before, ready < 0 ? -1 : now_s() - t0);
    if (ready < 0)
        fail("%s: sitrd not ready after the restart", name);
    else
        check_acked(name, &d2);
    sitrd_stop(&d2);
}

/* pg-restart (stop_s 0) and pg-stop: PostgreSQL down stop_s seconds under
 * match and write load. */
static void scenario_pg(const char *name, double stop_s)
{
    sitrd_t d;
    if (sitrd_start(&d, name) < 0 || wait_ready(&d, 60) < 0)
        return;
    sitrd_t *sv[1] = {&d};
    long long db0 = blocks_in_db(), answered0 = R.blocks;
    if (plant(sv, 1) < 0) {
        sitrd_stop(&d);
        return;
    }
    R.nacked = 0;
    load_t l;
    load_start(&l, sv, 1, 2);
    sleep_s(G.quick ? 0.5 : 5);
    double fa = since_base();
    pg_stop_immediate();
    sleep_s(stop_s);
    if (pg_start() != 0)
        fail("%s: PostgreSQL did not start again", name);
    double fb = since_base();
    /* Until the writes succeed again, and then a little longer. */
    double ready_after = -1;
    for (double end = now_s() + 60; now_s() < end; sleep_s(0.05)) {
        sitr_e2e_resp_t r;
        if (sitr_e2e_request(&d.s, "GET", "/readyz", NULL, NULL, &r) == 0) {
            int ok = r.status == 200;
            sitr_e2e_resp_free(&r);
            if (ok) {
                ready_after = since_base() - fb;
                break;
            }
        }
    }
    /* Until a write sent after the restart is acknowledged (at most 60 s),
     * then a little longer. */
    for (double end = now_s() + 60; now_s() < end && !acked_after(fb); sleep_s(0.05))
        ;
    sleep_s(G.quick ? 0.5 : 10);
    load_stop(&l);
    printf("%s: PostgreSQL down from %.2f s to %.2f s (%.1f s); /readyz ready again %.2f s after "
           "it was back\n",
           name, fa, fb, fb - fa, ready_after);
    if (ready_after < 0)
        fail("%s: /readyz never said ready again", name);
    double rec = report_load(name, fa, fb);
    if (rec < 0)
        fail("%s: no write acknowledged after PostgreSQL came back", name);
    check_blocks(name, db0, answered0);
    check_acked(name, &d);
    sitrd_stop(&d);
}

static void scenario_pg_late(void)
{
    const char *name = "pg-late";
    pg_stop_immediate();
    sitrd_t d;
    if (sitrd_start(&d, name) < 0) {
        pg_start();
        return;
    }
    sleep_s(G.quick ? 1 : 10);
    sitr_e2e_resp_t r;
    int readyz_down = -1;
    if (sitr_e2e_request(&d.s, "GET", "/readyz", NULL, NULL, &r) == 0) {
        readyz_down = r.status;
        sitr_e2e_resp_free(&r);
    }
    int log_lines = sitr_e2e_log_count(&d.s, "database");
    double t0 = now_s();
    if (pg_start() != 0)
        fail("%s: PostgreSQL did not start", name);
    double pg_up = now_s() - t0;
    double ready = wait_ready(&d, 120);
    double ready_total = ready < 0 ? -1 : now_s() - t0;
    uint8_t p[32];
    rand_pdq(p);
    double w0 = now_s();
    int written = -1;
    while (now_s() - w0 < 30 && (written = create_case(&d, p, NULL, 0)) < 0)
        sleep_s(0.05);
    double matched = -1;
    for (double m0 = now_s(); written == 0 && now_s() - m0 < 30; sleep_s(0.01))
        if (matches(&d, p)) {
            matched = now_s() - t0;
            break;
        }
    printf("%s: while PostgreSQL was down /readyz answered %d and the log had %d lines naming the "
           "database; PostgreSQL started in %.2f s; sitrd ready %.2f s after the start command, "
           "a new case matched %.2f s after it\n",
           name, readyz_down, log_lines, pg_up, ready_total, matched);
    if (readyz_down == 200)
        fail("%s: /readyz said ready while PostgreSQL was down", name);
    if (ready < 0 || written < 0 || matched < 0)
        fail("%s: sitrd did not recover (ready %.2f, written %d, matched %.2f)", name, ready,
             written, matched);
    sitrd_stop(&d);
}

static void scenario_replicas(void)
{
    const char *name = "replicas";
    sitrd_t a, b;
    if (sitrd_start(&a, "replica-a") < 0)
        return;
    if (sitrd_start(&b, "replica-b") < 0) {
        sitrd_stop(&a);
        return;
    }
    sitrd_t *sv[2] = {&a, &b};
    if (wait_ready(&a, 60) < 0 || wait_ready(&b, 60) < 0 || plant(sv, 2) < 0) {
        fail("%s: replicas not ready", name);
        sitrd_stop(&a);
        sitrd_stop(&b);
        return;
    }
    R.nacked = 0;
    load_t l;
    load_start(&l, sv, 2, 0);
    sleep_s(G.quick ? 0.5 : 5);
    double fa = since_base();
    pg_stop_immediate();
    sleep_s(G.quick ? 2 : 30);
    if (pg_start() != 0)
        fail("%s: PostgreSQL did not start again", name);
    double fb = since_base();
    /* A case written on A once A takes writes again; then the time until
     * B matches it. */
    uint8_t p[32];
    rand_pdq(p);
    double w0 = now_s(), written = -1, fresh = -1;
    while (now_s() - w0 < FRESH_POLL_S) {
        if (create_case(&a, p, NULL, 0) == 0) {
            written = now_s();
            break;
        }
        sleep_s(0.05);
    }
    while (written > 0 && now_s() - written < FRESH_POLL_S) {
        if (matches(&b, p)) {
            fresh = now_s() - written;
            break;
        }
        sleep_s(0.005);
    }
    load_stop(&l);
    size_t per[2] = {0, 0}, ok[2] = {0, 0};
    for (size_t i = 0; i < R.nres; i++) {
        per[R.res[i].server]++;
        ok[R.res[i].server] += R.res[i].status == 200 && R.res[i].right;
    }
    printf("%s: PostgreSQL down %.1f s; /v1/match right answers: A %zu of %zu, B %zu of %zu; first "
           "case acknowledged on A %.2f s after PostgreSQL was back, matched on B %.3f s after "
           "its 201\n",
           name, fb - fa, ok[0], per[0], ok[1], per[1], written < 0 ? -1 : written - w0, fresh);
    if (ok[0] != per[0] || ok[1] != per[1])
        fail("%s: /v1/match not always answered right across the outage", name);
    if (fresh < 0)
        fail("%s: the case written on A after the outage was never matched on B", name);
    sitrd_stop(&a);
    sitrd_stop(&b);
}

/* Slow clients and idle floods: n connections from naddr addresses
 * (127.0.0.2 and up), while a normal client from 127.0.0.1 sends requests
 * on fresh connections for dur_s seconds. */
typedef struct normal {
    const sitr_e2e_server_t *srv;
    double dur;
    size_t sent, ok;
    double worst_ms;
} normal_t;

static void *normal_thread(void *p)
{
    normal_t *n = p;
    char auth[320];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             G.key);
    double end = now_s() + n->dur;
    for (unsigned i = 0; now_s() < end; i++) {
        uint8_t q[32];
        int c = (int)(i % PLANTED), v = (int)(i / PLANTED % VARIANTS);
        memcpy(q, variant[c][v], 32);
        int want = variant_dist[c][v];
        char h[65], body[160];
        hex32(q, h);
        snprintf(body, sizeof body, "{\"items\":[{\"pdq\":\"%s\",\"quality\":90}]}", h);
        sitr_e2e_resp_t r;
        double t0 = now_s();
        int rc = i % 2 ? sitr_e2e_request(n->srv, "GET", "/healthz", NULL, NULL, &r)
                       : sitr_e2e_request(n->srv, "POST", "/v1/match", auth, body, &r);
        double ms = (now_s() - t0) * 1e3;
        n->sent++;
        if (rc == 0) {
            n->ok += r.status == 200 && (i % 2 || right_answer(r.body, want));
            sitr_e2e_resp_free(&r);
        }
        if (ms > n->worst_ms)
            n->worst_ms = ms;
        sleep_s(0.01);
    }
    return NULL;
}

static int open_from(int port, int i, int naddr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % naddr))};
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void scenario_slow(const char *name, int dribble, int n, int naddr, double dur_s)
{
    sitrd_t d;
    if (sitrd_start(&d, name) < 0 || wait_ready(&d, 60) < 0)
        return;
    sitrd_t *sv[1] = {&d};
    if (plant(sv, 1) < 0) {
        sitrd_stop(&d);
        return;
    }
    int *fds = malloc((size_t)n * sizeof *fds);
    int opened = 0, refused = 0;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        fds[i] = open_from(d.s.port, i, naddr);
        if (fds[i] < 0)
            refused++;
        else
            opened++;
        if (dribble && fds[i] >= 0)
            (void)send(fds[i], "P", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    double open_s = now_s() - t0;
    normal_t nm = {.srv = &d.s, .dur = dur_s};
    pthread_t th;
    pthread_create(&th, NULL, normal_thread, &nm);
    static const char head[] = "OST /v1/match HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    int closed = 0;
    for (int tick = 0; now_s() - t0 < dur_s + open_s; tick++) {
        sleep_s(1);
        for (int i = 0; i < n; i++) {
            if (fds[i] < 0)
                continue;
            char c;
            ssize_t got = recv(fds[i], &c, 1, MSG_DONTWAIT);
            int gone = got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                       got > 0; /* an answer (408/503) means the server let go */
            if (!gone && dribble) {
                char b = tick < (int)sizeof head - 1 ? head[tick] : 'x';
                gone = send(fds[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN;
            }
            if (gone) {
                close(fds[i]);
                fds[i] = -1;
                closed++;
            }
        }
    }
    pthread_join(th, NULL);
    long rss_kb = 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)d.s.pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &rss_kb) == 1)
            break;
    if (f)
        fclose(f);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    printf("%s: %d %s connections from %d addresses (%d opened in %.2f s, %d refused at "
           "connect); %d closed by sitrd within %.0f s; normal client: %zu of %zu requests "
           "answered right, slowest %.1f ms; sitrd RSS %ld MB\n",
           name, n, dribble ? "slow (1 header byte a second)" : "idle", naddr, opened, open_s,
           refused, closed, dur_s, nm.ok, nm.sent, nm.worst_ms, rss_kb / 1024);
    if (nm.ok != nm.sent)
        fail("%s: the normal client saw %zu failures", name, nm.sent - nm.ok);
    sitrd_stop(&d);
}

/* ---- main ------------------------------------------------------------------ */

static int wanted(int argc, char **argv, int first, const char *name)
{
    if (first >= argc)
        return 1;
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    snprintf(G.build, sizeof G.build, "%s", SITR_BINARY_DIR);
    G.quick = 1;
    int first = 1;
    while (first < argc && argv[first][0] == '-') {
        if (strcmp(argv[first], "--quick") == 0) {
            G.quick = 1;
        } else if (strcmp(argv[first], "--long") == 0) {
            G.quick = 0;
        } else if (strcmp(argv[first], "--build") == 0 && first + 1 < argc) {
            snprintf(G.build, sizeof G.build, "%s", argv[++first]);
        } else {
            fprintf(stderr, "usage: reliability-faults [--quick|--long] [--build DIR] "
                            "[sigkill|pg-restart|pg-stop|pg-late|replicas|slow|flood ...]\n");
            return 2;
        }
        first++;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Room for the slow and idle connections on both sides. */
    struct rlimit rl = {16384, 16384};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    rng_state ^= (uint64_t)time(NULL) * 2654435761u;
    R.res = malloc(MAX_RESULTS * sizeof *R.res);
    R.acked = malloc(MAX_ACKED * sizeof *R.acked);
    if (!R.res || !R.acked)
        return 1;
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    printf("# reliability faults (%s): %s, sitrd from %s\n", G.quick ? "quick" : "long", date,
           G.build);
    fflush(stdout);
    if (setup_world() < 0) {
        teardown_world();
        return 1;
    }
    int slow_n = G.quick ? 200 : 2000;
    double slow_s = G.quick ? 2 : 20;
    if (wanted(argc, argv, first, "sigkill"))
        scenario_sigkill();
    if (wanted(argc, argv, first, "pg-restart"))
        scenario_pg("pg-restart", 0);
    if (wanted(argc, argv, first, "pg-stop"))
        scenario_pg("pg-stop", G.quick ? 2 : 30);
    if (wanted(argc, argv, first, "pg-late"))
        scenario_pg_late();
    if (wanted(argc, argv, first, "replicas"))
        scenario_replicas();
    if (wanted(argc, argv, first, "slow"))
        scenario_slow("slow", 1, slow_n, 1, slow_s);
    if (wanted(argc, argv, first, "flood"))
        scenario_slow("flood", 0, slow_n, 10, slow_s);
    fflush(stdout);
    teardown_world();
    printf("%s\n",
           G.failed ? "reliability-faults: FAILED" : "reliability-faults: all checks passed");
    free(R.res);
    free(R.acked);
    return G.failed ? 1 : 0;
}
