/* End-to-end tests of the takedown webhooks against a real sitrd,
 * sitr-admin and a fresh, migrated PostgreSQL database (the `pg` fixture).
 *
 * A tiny HTTP receiver runs in a thread of this test (one listening
 * socket on loopback, one request per connection) and records every
 * request; its answer depends on the path: /ok answers 204, /flaky answers
 * 500 once then 200, /down always 500.  Platforms are registered with
 * `sitr-admin platform add NAME --webhook URL`, whose printed signing
 * secret is what the test verifies signatures with.  sitrd runs with small
 * retry delays and at most 3 attempts.
 *
 * Checked: a takedown created by the real matcher (a case, then a near
 * upload) yields exactly one POST with a valid X-Sitr-Signature over
 * "<t>.<body>", X-Sitr-Delivery naming the outbox row, a body equal to the
 * GET /v1/takedowns entry and free of any victim hash or case reference,
 * and the row marked delivered; a delivery row is written in the same
 * transaction as its takedown (present as soon as the commit returns); a
 * 500 is retried with the same delivery id and body and then delivered; a
 * receiver that always fails gets exactly max-attempts POSTs and the row
 * is abandoned; a platform without a webhook gets no delivery row;
 * sitr-admin refuses non-http(s) or host-less webhook URLs; sitrd stops
 * cleanly with a POST in flight, leaving its row due again; the log
 * carries no secret; the metrics count the outcomes.  Everything is polled
 * with deadlines; no timing assertions. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "e2e_api.h"
#include "e2e_img.h"
#include "e2e_matches.h"
#include "e2e_util.h"
#include "e2e_world.h"
#include "db_support.h"

#define TEST_DIGEST_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define DEADLINE_MS     30000
#define MAX_REQS        64
#define MAX_ATTEMPTS    3
#define MAX_HELD        8

/* ---- the receiver ------------------------------------------------------------- */

typedef struct hook_req {
    char method[16], path[128], sig[256], delivery[64], ctype[64], event[64];
    char *body;
} hook_req_t;

typedef struct receiver {
    int fd, port;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu;
    hook_req_t reqs[MAX_REQS];
    int n;
    int held[MAX_HELD], nheld; /* unanswered connections (receiver thread only) */
} receiver_t;

static receiver_t R;

static void header_value(const char *head, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
    }
}

/* The answer for the k-th request (0-based) to path. */
static int answer_for(const char *path, int k)
{
    if (strcmp(path, "/ok") == 0)
        return 204;
    if (strcmp(path, "/flaky") == 0)
        return k == 0 ? 500 : 200;
    if (strcmp(path, "/hang") == 0)
        return 0; /* never answer: the connection is held open */
    return 500;
}

/* Returns 1 when the connection must stay open (no answer). */
static int serve_one(int c)
{
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char *buf = malloc(65536);
    size_t len = 0;
    char *end = NULL;
    while (len < 65535 && !(end = strstr(buf, "\r\n\r\n"))) {
        ssize_t k = recv(c, buf + len, 65535 - len, 0);
        if (k <= 0)
            break;
        len += (size_t)k;
        buf[len] = '\0';
    }
    if (!end) {
        free(buf);
        return 0;
    }
    *end = '\0';
    char clen[32];
    header_value(buf, "Content-Length", clen, sizeof clen);
    size_t want = (size_t)strtoul(clen, NULL, 10);
    size_t have = len - (size_t)(end + 4 - buf);
    char *body = calloc(1, want + 1);
    memcpy(body, end + 4, have < want ? have : want);
    while (have < want) {
        ssize_t k = recv(c, body + have, want - have, 0);
        if (k <= 0)
            break;
        have += (size_t)k;
    }
    hook_req_t q = {0};
    sscanf(buf, "%15s %127s", q.method, q.path);
    header_value(buf, "X-Sitr-Signature", q.sig, sizeof q.sig);
    header_value(buf, "X-Sitr-Delivery", q.delivery, sizeof q.delivery);
    header_value(buf, "Content-Type", q.ctype, sizeof q.ctype);
    header_value(buf, "X-Sitr-Event", q.event, sizeof q.event);
    q.body = body;
    free(buf);
    pthread_mutex_lock(&R.mu);
    int k = 0;
    for (int i = 0; i < R.n; i++)
        k += strcmp(R.reqs[i].path, q.path) == 0;
    int status = answer_for(q.path, k);
    if (R.n < MAX_REQS)
        R.reqs[R.n++] = q;
    else
        free(body);
    pthread_mutex_unlock(&R.mu);
    if (status == 0)
        return 1;
    char resp[256];
    int n =
        snprintf(resp, sizeof resp,
                 "HTTP/1.1 %d Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno", status);
    (void)!send(c, resp, (size_t)n, MSG_NOSIGNAL);
    return 0;
}

static void *receiver_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&R.stop)) {
        struct pollfd p = {R.fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int c = accept(R.fd, NULL, NULL);
        if (c < 0)
            continue;
        if (serve_one(c) && R.nheld < MAX_HELD)
            R.held[R.nheld++] = c;
        else
            close(c);
    }
    return NULL;
}

static int receiver_start(void)
{
    pthread_mutex_init(&R.mu, NULL);
    R.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (R.fd < 0 || bind(R.fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(R.fd, 16) != 0 ||
        getsockname(R.fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    R.port = ntohs(a.sin_port);
    return pthread_create(&R.thread, NULL, receiver_main, NULL) == 0 ? 0 : -1;
}

static void receiver_stop(void)
{
    atomic_store(&R.stop, 1);
    pthread_join(R.thread, NULL);
    close(R.fd);
    for (int i = 0; i < R.nheld; i++)
        close(R.held[i]);
    for (int i = 0; i < R.n; i++)
        free(R.reqs[i].body);
}

static int count_path(const char *path)
{
    pthread_mutex_lock(&R.mu);
    int k = 0;
    for (int i = 0; i < R.n; i++)
        k += strcmp(R.reqs[i].path, path) == 0;
    pthread_mutex_unlock(&R.mu);
    return k;
}

/* A copy of the k-th request to path (caller frees body). */
static hook_req_t request_copy(const char *path, int k)
{
    hook_req_t out = {0};
    pthread_mutex_lock(&R.mu);
    for (int i = 0; i < R.n; i++) {
        if (strcmp(R.reqs[i].path, path) == 0 && k-- == 0) {
            out = R.reqs[i];
            out.body = strdup(R.reqs[i].body);
            break;
        }
    }
    pthread_mutex_unlock(&R.mu);
    if (!out.body)
        fail_msg("no request %d to %s", k, path);
    return out;
}

/* ---- the world ------------------------------------------------------------------ */

typedef struct world {
    char *db_url;
    sitr_e2e_server_t srv;
    char key_hooked[80], key_flaky[80], key_down[80], key_plain[80], key_hang[80];
    char sec_hooked[80], sec_flaky[80], sec_down[80], sec_hang[80];
} world_t;

static world_t W;
static unsigned rng_state = 777;

typedef sitr_e2e_img_t img_t;

static img_t new_img(void)
{
    return sitr_e2e_new_img(&rng_state);
}

/* Runs `sitr-admin platform add name [--webhook url]`; its stdout is the
 * API key, then the signing secret when there is a webhook. */
static void add_platform(const char *name, const char *path, char *key, char *secret)
{
    char args[512];
    if (path)
        snprintf(args, sizeof args, "platform add %s --webhook http://127.0.0.1:%d%s", name, R.port,
                 path);
    else
        snprintf(args, sizeof args, "platform add %s", name);
    if (sitr_e2e_admin_key(W.db_url, args, key, 80, secret, 80) < 0)
        fail_msg("sitr-admin platform add %s failed", name);
}

static void call(const char *method, const char *path, const char *key, const char *body,
                 sitr_e2e_resp_t *r)
{
    sitr_e2e_call(&W.srv, method, path, key, NULL, body, r);
}

static json_t *call_json(const char *method, const char *path, const char *key, const char *body,
                         int status)
{
    return sitr_e2e_call_json(&W.srv, method, path, key, body, status);
}

static void create_case(const img_t *m, char ref[64])
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"images\":[{\"pdq\":\"%s\",\"quality\":90,\"md5\":\"%s\",\"sha256\":\"%s\"}]}",
             m->pdq, m->md5, m->sha);
    json_t *j = call_json("POST", "/v1/cases", NULL, body, 201);
    snprintf(ref, 64, "%s", json_string_value(json_object_get(j, "case")));
    json_decref(j);
}

static void report(const char *key, const char *content_id, const char *pdq)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"uploads\":[{\"id\":\"%s\",\"url\":\"https://p.example/%s\",\"pdq\":\"%s\","
             "\"quality\":80}]}",
             content_id, content_id, pdq);
    json_decref(call_json("POST", "/v1/uploads", key, body, 202));
}

static long long scalar(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long scalar(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return pgt_scalar(W.db_url, sql);
}

static long long takedown_of(long long upload_id)
{
    return scalar("SELECT id FROM takedowns WHERE upload_id = %lld", upload_id);
}

static void wait_requests(const char *path, int n)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    while (count_path(path) < n) {
        if (sitr_e2e_now_ms() > end)
            fail_msg("%d request(s) to %s before the deadline, want %d (log: %s)", count_path(path),
                     path, n, W.srv.log_path);
        sitr_e2e_sleep_ms(20);
    }
}

/* Waits until the delivery of takedown td satisfies cond (SQL on d). */
static void wait_delivery(long long td, const char *cond)
{
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        if (scalar("SELECT count(*) FROM webhook_deliveries d WHERE d.takedown_id = %lld AND (%s)",
                   td, cond) == 1)
            return;
        if (sitr_e2e_now_ms() > end)
            fail_msg("delivery of takedown %lld never satisfied: %s", td, cond);
        sitr_e2e_sleep_ms(20);
    }
}

/* Checks X-Sitr-Signature against the body with the printed secret. */
static void assert_signed(const hook_req_t *q, const char *secret_hex)
{
    long long t = -1;
    char v1[80] = "";
    if (sscanf(q->sig, "t=%lld,v1=%79s", &t, v1) != 2)
        fail_msg("malformed X-Sitr-Signature: %s", q->sig);
    assert_int_equal(strlen(v1), 64);
    /* The timestamp is the sending time (a sanity bound, not a timing
     * assertion: a platform rejects anything 5 minutes off). */
    long long now = (long long)time(NULL);
    assert_true(t > now - 300 && t <= now + 5);
    uint8_t key[32], mac[32], got[32];
    assert_int_equal(sodium_hex2bin(key, sizeof key, secret_hex, 64, NULL, NULL, NULL), 0);
    assert_int_equal(sodium_hex2bin(got, sizeof got, v1, 64, NULL, NULL, NULL), 0);
    size_t n = strlen(q->body);
    char *msg = malloc(n + 32);
    int k = snprintf(msg, n + 32, "%lld.%s", t, q->body);
    crypto_auth_hmacsha256(mac, (unsigned char *)msg, (unsigned long long)k, key);
    free(msg);
    if (sodium_memcmp(mac, got, sizeof mac) != 0)
        fail_msg("X-Sitr-Signature does not verify with the platform's secret");
    /* And with another key it does not. */
    key[0] ^= 1;
    msg = malloc(n + 32);
    k = snprintf(msg, n + 32, "%lld.%s", t, q->body);
    crypto_auth_hmacsha256(mac, (unsigned char *)msg, (unsigned long long)k, key);
    free(msg);
    assert_true(sodium_memcmp(mac, got, sizeof mac) != 0);
}

static json_t *listed_takedown(const char *key, const char *upload_id)
{
    json_t *l = call_json("GET", "/v1/takedowns?status=all&limit=1000", key, NULL, 200);
    size_t i;
    json_t *t, *found = NULL;
    json_array_foreach(json_object_get(l, "takedowns"), i, t)
    {
        const char *u = json_string_value(json_object_get(json_object_get(t, "upload"), "id"));
        if (u && strcmp(u, upload_id) == 0)
            found = json_incref(t);
    }
    json_decref(l);
    if (!found)
        fail_msg("upload %s has no listed takedown", upload_id);
    return found;
}

/* The webhook's takedown equals the listed one on every field it has. */
static void assert_same_takedown(json_t *hook, json_t *listed)
{
    const char *keys[] = {"id",      "status", "signal",     "distance",
                          "quality", "case",   "created_at", "upload"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *a = json_object_get(hook, keys[i]), *b = json_object_get(listed, keys[i]);
        if (!a || !json_equal(a, b))
            fail_msg("webhook field %s differs from GET /v1/takedowns", keys[i]);
    }
}

/* ---- fixture --------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0 || receiver_start() < 0)
        return -1;
    setenv("SITR_DIGEST_KEY", TEST_DIGEST_KEY, 1);
    W.db_url = sitr_e2e_migrated_db("webhook_e2e");
    if (!W.db_url)
        return -1;
    add_platform("hooked", "/ok", W.key_hooked, W.sec_hooked);
    add_platform("flaky", "/flaky", W.key_flaky, W.sec_flaky);
    add_platform("down", "/down", W.key_down, W.sec_down);
    add_platform("plain", NULL, W.key_plain, NULL);
    add_platform("hang", "/hang", W.key_hang, W.sec_hang);
    static char url_var[1200];
    snprintf(url_var, sizeof url_var, "SITR_DATABASE_URL=%s", W.db_url);
    const char *env[] = {url_var,
                         "SITR_CASE_RATE=0",
                         "SITR_DIGEST_KEY=" TEST_DIGEST_KEY,
                         "SITR_WEBHOOK_POLL_MS=50",
                         "SITR_WEBHOOK_RETRY_MIN_MS=200",
                         "SITR_WEBHOOK_RETRY_MAX_MS=400",
                         "SITR_WEBHOOK_MAX_ATTEMPTS=3",
                         "SITR_WEBHOOK_TIMEOUT_MS=60000",
                         NULL};
    if (sitr_e2e_start(&W.srv, env) < 0)
        return -1;
    return sitr_e2e_wait_ready(&W.srv, DEADLINE_MS);
}

static int teardown(void **state)
{
    (void)state;
    /* No secret, key or webhook URL in the log. */
    const char *const never[] = {W.sec_hooked, W.sec_flaky, W.sec_down, W.sec_hang, W.key_hooked,
                                 W.key_flaky,  "/flaky",    "/down",    NULL};
    int rc = sitr_e2e_stop_clean(&W.srv, never);
    receiver_stop();
    free(W.db_url);
    return rc;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_delivered_via_matcher(void **state)
{
    (void)state;
    img_t img = new_img();
    char ref[64];
    create_case(&img, ref);
    char near[65];
    sitr_e2e_flip_bits(img.pdq, 6, near);
    report(W.key_hooked, "h-1", near);
    wait_requests("/ok", 1);
    long long td = takedown_of(sitr_e2e_upload_id(W.db_url, "hooked", "h-1"));
    wait_delivery(td, "d.delivered_at IS NOT NULL");
    assert_int_equal(scalar("SELECT attempts FROM webhook_deliveries WHERE takedown_id = %lld", td),
                     1);
    assert_int_equal(
        scalar("SELECT last_status FROM webhook_deliveries WHERE takedown_id = %lld", td), 204);
    assert_int_equal(scalar("SELECT count(*) FROM webhook_deliveries WHERE takedown_id = %lld "
                            "AND last_error IS NULL",
                            td),
                     1);

    hook_req_t q = request_copy("/ok", 0);
    assert_string_equal(q.method, "POST");
    assert_string_equal(q.ctype, "application/json");
    assert_string_equal(q.event, "takedown.created");
    long long did = scalar("SELECT id FROM webhook_deliveries WHERE takedown_id = %lld", td);
    assert_int_equal(strtoll(q.delivery, NULL, 10), did);
    assert_signed(&q, W.sec_hooked);
    sitr_e2e_assert_no_hash(q.body, &img, "a webhook");
    assert_null(strstr(q.body, ref));

    json_error_t e;
    json_t *body = json_loads(q.body, 0, &e);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "event")), "takedown.created");
    json_t *hook_td = json_object_get(body, "takedown");
    assert_non_null(hook_td);
    json_t *listed = listed_takedown(W.key_hooked, "h-1");
    assert_same_takedown(hook_td, listed);
    /* The band of 6, as GET /v1/takedowns shows it. */
    assert_int_equal(json_integer_value(json_object_get(hook_td, "distance")), 15);
    assert_string_equal(json_string_value(json_object_get(hook_td, "status")), "pending");
    char tid[32];
    snprintf(tid, sizeof tid, "%lld", td);
    assert_string_equal(json_string_value(json_object_get(hook_td, "id")), tid);
    json_decref(listed);
    json_decref(body);
    free(q.body);
}

static void test_retry_after_500(void **state)
{
    (void)state;
    img_t img = new_img();
    char ref[64];
    create_case(&img, ref);
    img_t other = new_img(); /* far from every case: only our commit makes a takedown */
    report(W.key_flaky, "f-1", other.pdq);
    long long upload = sitr_e2e_upload_id(W.db_url, "flaky", "f-1");
    sitr_e2e_commit_match(W.db_url, sitr_e2e_image_id(W.db_url, img.md5), upload, 4);
    long long td = takedown_of(upload);
    /* Written with the takedown, in its transaction. */
    assert_int_equal(scalar("SELECT count(*) FROM webhook_deliveries WHERE takedown_id = %lld", td),
                     1);
    wait_requests("/flaky", 2);
    wait_delivery(td, "d.delivered_at IS NOT NULL");
    assert_int_equal(scalar("SELECT attempts FROM webhook_deliveries WHERE takedown_id = %lld", td),
                     2);
    assert_int_equal(
        scalar("SELECT last_status FROM webhook_deliveries WHERE takedown_id = %lld", td), 200);
    hook_req_t a = request_copy("/flaky", 0), b = request_copy("/flaky", 1);
    assert_string_equal(a.delivery, b.delivery);
    assert_string_equal(a.body, b.body);
    assert_signed(&a, W.sec_flaky);
    assert_signed(&b, W.sec_flaky);
    /* Each platform's own secret: hooked's does not verify flaky's POST. */
    assert_string_not_equal(W.sec_hooked, W.sec_flaky);
    sitr_e2e_assert_no_hash(a.body, &img, "a webhook");
    free(a.body);
    free(b.body);
}

static void test_abandoned_after_max_attempts(void **state)
{
    (void)state;
    img_t img = new_img();
    char ref[64];
    create_case(&img, ref);
    img_t other = new_img();
    report(W.key_down, "d-1", other.pdq);
    long long upload = sitr_e2e_upload_id(W.db_url, "down", "d-1");
    sitr_e2e_commit_match(W.db_url, sitr_e2e_image_id(W.db_url, img.md5), upload, 4);
    long long td = takedown_of(upload);
    wait_delivery(td, "d.abandoned_at IS NOT NULL");
    assert_int_equal(scalar("SELECT attempts FROM webhook_deliveries WHERE takedown_id = %lld", td),
                     MAX_ATTEMPTS);
    assert_int_equal(
        scalar("SELECT last_status FROM webhook_deliveries WHERE takedown_id = %lld", td), 500);
    assert_int_equal(count_path("/down"), MAX_ATTEMPTS);
    /* The takedown itself is untouched: still pending for GET /v1/takedowns. */
    json_t *t = listed_takedown(W.key_down, "d-1");
    assert_string_equal(json_string_value(json_object_get(t, "status")), "pending");
    json_decref(t);
}

static void test_no_webhook_no_delivery(void **state)
{
    (void)state;
    img_t img = new_img();
    char ref[64];
    create_case(&img, ref);
    img_t other = new_img();
    report(W.key_plain, "p-1", other.pdq);
    long long upload = sitr_e2e_upload_id(W.db_url, "plain", "p-1");
    sitr_e2e_commit_match(W.db_url, sitr_e2e_image_id(W.db_url, img.md5), upload, 4);
    long long td = takedown_of(upload);
    assert_true(td > 0);
    assert_int_equal(scalar("SELECT count(*) FROM webhook_deliveries WHERE takedown_id = %lld", td),
                     0);
    assert_int_equal(scalar("SELECT count(*) FROM webhook_deliveries d JOIN platforms p "
                            "ON p.id = d.platform_id WHERE p.name = 'plain'"),
                     0);
}

/* sitr-admin refuses what sitrd would never POST to, and stores nothing. */
static void test_admin_rejects_bad_urls(void **state)
{
    (void)state;
    const char *bad[] = {"ftp://127.0.0.1/x", "file:///etc/passwd",      "https://",
                         "http:///x",         "'https://exa mple.org/'", "gopher://127.0.0.1:70/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = pgt_run("'%s' --database-url '%s' platform add bad%zu --webhook %s "
                         ">/dev/null 2>&1",
                         pgt_admin(), W.db_url, i, bad[i]);
        if (rc != 2)
            fail_msg("sitr-admin accepted --webhook %s (exit %d)", bad[i], rc);
    }
    assert_int_equal(scalar("SELECT count(*) FROM platforms WHERE name LIKE 'bad%%'"), 0);
}

/* Runs last: by now the sender has polled many times since each delivery
 * settled, so a duplicate would have arrived. */
static void test_exactly_once_and_metrics(void **state)
{
    (void)state;
    assert_int_equal(count_path("/ok"), 1);
    assert_int_equal(count_path("/flaky"), 2);
    assert_int_equal(count_path("/down"), MAX_ATTEMPTS);
    /* The counters move when sitrd has processed each outcome, and the
     * pending gauge at its next claim: poll until they have settled. */
    char want_failed[96];
    snprintf(want_failed, sizeof want_failed,
             "sitr_webhook_deliveries_total{result=\"failed\"} %d\n", 1 + MAX_ATTEMPTS);
    const char *want[] = {"sitr_webhook_sender_active 1\n",
                          "sitr_webhook_deliveries_total{result=\"ok\"} 2\n",
                          want_failed,
                          "sitr_webhook_deliveries_total{result=\"abandoned\"} 1\n",
                          "sitr_webhook_pending 0\n",
                          "sitr_webhook_in_flight 0\n"};
    long long end = sitr_e2e_now_ms() + DEADLINE_MS;
    for (;;) {
        sitr_e2e_resp_t r;
        call("GET", "/metrics", NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        const char *missing = NULL;
        for (size_t i = 0; i < sizeof want / sizeof want[0] && !missing; i++)
            if (!strstr(r.body, want[i]))
                missing = want[i];
        sitr_e2e_resp_free(&r);
        if (!missing)
            break;
        if (sitr_e2e_now_ms() > end)
            fail_msg("/metrics never showed %s", missing);
        sitr_e2e_sleep_ms(50);
    }
}

/* Runs last: a POST still waiting for its answer when sitrd stops is cut
 * (teardown checks the clean exit); its row stays due for a later sender. */
static void test_shutdown_with_post_in_flight(void **state)
{
    (void)state;
    img_t img = new_img();
    char ref[64];
    create_case(&img, ref);
    img_t other = new_img();
    report(W.key_hang, "x-1", other.pdq);
    long long upload = sitr_e2e_upload_id(W.db_url, "hang", "x-1");
    sitr_e2e_commit_match(W.db_url, sitr_e2e_image_id(W.db_url, img.md5), upload, 4);
    wait_requests("/hang", 1);
    long long td = takedown_of(upload);
    assert_int_equal(scalar("SELECT count(*) FROM webhook_deliveries WHERE takedown_id = %lld "
                            "AND attempts = 1 AND delivered_at IS NULL AND abandoned_at IS NULL",
                            td),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivered_via_matcher),
        cmocka_unit_test(test_retry_after_500),
        cmocka_unit_test(test_abandoned_after_max_attempts),
        cmocka_unit_test(test_no_webhook_no_delivery),
        cmocka_unit_test(test_admin_rejects_bad_urls),
        cmocka_unit_test(test_exactly_once_and_metrics),
        cmocka_unit_test(test_shutdown_with_post_in_flight),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
