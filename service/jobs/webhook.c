/* The takedown webhook sender (webhook.h; wire format in docs/webhooks.md).
 *
 * A repeating timer claims due rows of the outbox through the async
 * database pool (sitr_webhook_claim: FOR UPDATE SKIP LOCKED, attempt
 * counted, row leased), but only while is_leader() says this replica holds
 * the role, and never more than the concurrency cap minus the POSTs in
 * flight.  Each claimed row becomes one libcurl easy handle on a multi
 * handle that libuv drives: libcurl tells us which sockets to watch
 * (uv_poll) and when to wake it (uv_timer); we hand readiness back with
 * curl_multi_socket_action.  DNS runs in libcurl's resolver thread, so
 * nothing here blocks the loop.  When a transfer ends, its outcome goes back
 * with sitr_webhook_result (2xx = delivered, else retried with exponential
 * backoff, abandoned after max_attempts).
 *
 * Invariants: the platform's secret lives only long enough to sign (wiped
 * from our buffer and from the query result); logs carry delivery and
 * platform ids, never a URL, body, secret or signature.  The struct is
 * freed only when both timers and every socket watcher are closed and no
 * query is outstanding.  Loop thread only. */
#include "jobs/webhook.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sitr/hex.h>
#include <sitr/opaque.h>
#include <sitr/webhook_url.h>

#include "core/log.h"
#include "match/msearch.h"

/* A claimed row stays invisible to other claims this long beyond the POST
 * timeout: time to record the outcome.  A sender that dies leaves the row
 * due again after it. */
#define LEASE_EXTRA_MS 60000
#define ERROR_MAX      120

#ifndef SITR_VERSION
#define SITR_VERSION "dev"
#endif

typedef struct delivery delivery_t;
typedef struct sock_ctx sock_ctx_t;

struct sitr_webhook {
    uv_loop_t *loop;
    sitr_webhook_options_t opt;
    uint8_t digest_key[SITR_KEYS_KEY_BYTES];
    int threshold; /* the match threshold, for the distance bands */
    CURLM *multi;
    uv_timer_t poll_timer;  /* claims */
    uv_timer_t curl_timer;  /* libcurl's own timeout */
    delivery_t *deliveries; /* in flight */
    sock_ctx_t *socks;      /* watched sockets */
    unsigned in_flight, db_pending, open_handles;
    int claiming, closing, leader, db_failing;
    void (*done)(void *arg);
    void *done_arg;
    unsigned long long ok, failed, abandoned;
    long long pending; /* as of the last claim; -1 unknown */
};

struct delivery {
    delivery_t *prev, *next;
    sitr_webhook_t *w;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    int64_t id, platform;
    unsigned attempt;
    size_t received;
    int capped;
};

struct sock_ctx {
    uv_poll_t poll;
    sock_ctx_t *prev, *next;
    curl_socket_t fd;
    sitr_webhook_t *w;
};

/* ---- pure parts ------------------------------------------------------------ */

int sitr_webhook_sign(const uint8_t secret[SITR_WEBHOOK_SECRET_BYTES], int64_t t, const char *body,
                      size_t body_len, char out[SITR_WEBHOOK_SIGNATURE_MAX])
{
    if (t < 0)
        return SITR_EINVAL;
    char ts[21]; /* t >= 0: at most 19 digits */
    int n = snprintf(ts, sizeof ts, "%" PRId64, t);
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, secret, SITR_WEBHOOK_SECRET_BYTES);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (size_t)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    char hex[2 * sizeof mac + 1];
    sitr_hex_encode(mac, sizeof mac, hex);
    hex[2 * sizeof mac] = '\0';
    snprintf(out, SITR_WEBHOOK_SIGNATURE_MAX, "t=%s,v1=%s", ts, hex);
    return 0;
}

uint64_t sitr_webhook_backoff_ms(unsigned attempt, unsigned min_ms, unsigned max_ms)
{
    uint64_t d = min_ms;
    for (unsigned i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

/* ---- lifetime -------------------------------------------------------------- */

static void maybe_free(sitr_webhook_t *w)
{
    if (!w->closing || w->open_handles || w->db_pending)
        return;
    void (*done)(void *) = w->done;
    void *arg = w->done_arg;
    sodium_memzero(w->digest_key, sizeof w->digest_key);
    free(w);
    if (done)
        done(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
    sitr_webhook_t *w = h->data;
    w->open_handles--;
    maybe_free(w);
}

static void on_sock_closed(uv_handle_t *h)
{
    sock_ctx_t *s = h->data;
    sitr_webhook_t *w = s->w;
    free(s);
    w->open_handles--;
    maybe_free(w);
}

static void sock_close(sock_ctx_t *s)
{
    sitr_webhook_t *w = s->w;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (w->multi)
        curl_multi_assign(w->multi, s->fd, NULL);
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void delivery_free(delivery_t *d)
{
    sitr_webhook_t *w = d->w;
    if (d->prev)
        d->prev->next = d->next;
    else
        w->deliveries = d->next;
    if (d->next)
        d->next->prev = d->prev;
    if (d->easy) {
        curl_multi_remove_handle(w->multi, d->easy);
        curl_easy_cleanup(d->easy);
    }
    curl_slist_free_all(d->headers);
    free(d->body);
    free(d);
    w->in_flight--;
}

/* ---- libcurl <-> libuv --------------------------------------------------------- */

static void check_done(sitr_webhook_t *w);

static void on_sock_ready(uv_poll_t *h, int status, int events)
{
    sock_ctx_t *s = h->data;
    sitr_webhook_t *w = s->w;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(w->multi, s->fd, flags, &running);
    check_done(w);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    sitr_webhook_t *w = userp;
    sock_ctx_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s)
            sock_close(s);
        return 0;
    }
    if (!s) {
        if (w->closing)
            return 0;
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        if (uv_poll_init_socket(w->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->w = w;
        s->poll.data = s;
        s->next = w->socks;
        if (w->socks)
            w->socks->prev = s;
        w->socks = s;
        w->open_handles++;
        curl_multi_assign(w->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&s->poll, events, on_sock_ready) == 0 ? 0 : -1;
}

static void on_curl_timeout(uv_timer_t *t)
{
    sitr_webhook_t *w = t->data;
    if (!w->multi)
        return;
    int running;
    curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(w);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    sitr_webhook_t *w = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&w->curl_timer);
    else if (!uv_is_closing((uv_handle_t *)&w->curl_timer))
        /* 0 means "now", but libcurl must not be re-entered from here. */
        uv_timer_start(&w->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t discard_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    (void)ptr;
    delivery_t *d = userp;
    size_t n = size * nmemb;
    d->received += n;
    if (d->received > SITR_WEBHOOK_MAX_RESPONSE_BYTES) {
        d->capped = 1;
        return 0; /* enough: the status line has been read */
    }
    return n;
}

/* ---- outcomes ---------------------------------------------------------------- */

typedef struct result_op {
    sitr_webhook_t *w;
    int64_t id, platform;
    unsigned attempt;
    int delivered;
} result_op_t;

static void on_result(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    (void)sqlstate;
    result_op_t *op = arg;
    sitr_webhook_t *w = op->w;
    w->db_pending--;
    if (rc < 0) {
        /* The lease runs out and the row is tried again: at least once. */
        sitr_log(SITR_LOG_WARN, NULL,
                 "webhook delivery %" PRId64 ": outcome not recorded (%s); it will be retried "
                 "after its lease",
                 op->id, sitr_strerror(rc));
    } else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
               strcmp(PQgetvalue(res, 0, 0), "abandoned") == 0) {
        w->abandoned++;
        sitr_log(SITR_LOG_WARN, NULL,
                 "webhook delivery %" PRId64 " to platform %" PRId64 " abandoned after %u attempts",
                 op->id, op->platform, op->attempt);
    }
    free(op);
    maybe_free(w);
}

static void on_tick(uv_timer_t *t);

static void record(sitr_webhook_t *w, const delivery_t *d, int delivered, long status,
                   const char *error)
{
    if (w->closing)
        return;
    result_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return;
    *op = (result_op_t){w, d->id, d->platform, d->attempt, delivered};
    uint64_t retry = sitr_webhook_backoff_ms(d->attempt, w->opt.retry_min_ms, w->opt.retry_max_ms);
    /* Up to 10% jitter so that a platform coming back is not hit by every
     * retry in the same second. */
    retry += randombytes_uniform((uint32_t)(retry / 10 + 1));
    if (retry > w->opt.retry_max_ms)
        retry = w->opt.retry_max_ms;
    char p_id[24], p_status[16], p_retry[24], p_max[16];
    snprintf(p_id, sizeof p_id, "%" PRId64, d->id);
    snprintf(p_status, sizeof p_status, "%ld", status);
    snprintf(p_retry, sizeof p_retry, "%" PRIu64, retry);
    snprintf(p_max, sizeof p_max, "%u", w->opt.max_attempts);
    const char *v[] = {p_id,
                       delivered ? "true" : "false",
                       status >= 100 && status <= 999 ? p_status : NULL,
                       error,
                       p_retry,
                       p_max};
    int rc = sitr_db_submit(w->opt.db,
                            "SELECT sitr_webhook_result($1::bigint, $2::boolean, $3::int, $4, "
                            "$5::bigint, $6::int)",
                            6, v, on_result, op);
    if (rc < 0) {
        sitr_log(SITR_LOG_WARN, NULL,
                 "webhook delivery %" PRId64 ": outcome not recorded (%s); it will be retried "
                 "after its lease",
                 d->id, sitr_strerror(rc));
        free(op);
        return;
    }
    w->db_pending++;
    if (!delivered)
        sitr_log(SITR_LOG_WARN, NULL,
                 "webhook delivery %" PRId64 " to platform %" PRId64 " attempt %u failed: %s",
                 d->id, d->platform, d->attempt, error);
}

static void finish(delivery_t *d, CURLcode result)
{
    sitr_webhook_t *w = d->w;
    long status = 0;
    curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
    /* A response cut by our size cap still has its status line. */
    int answered = result == CURLE_OK || (result == CURLE_WRITE_ERROR && d->capped);
    int delivered = answered && status >= 200 && status <= 299;
    char error[ERROR_MAX];
    if (delivered) {
        w->ok++;
        sitr_log(SITR_LOG_INFO, NULL,
                 "webhook delivery %" PRId64 " to platform %" PRId64 " delivered (attempt %u, "
                 "HTTP %ld)",
                 d->id, d->platform, d->attempt, status);
        record(w, d, 1, status, NULL);
    } else {
        w->failed++;
        if (answered)
            snprintf(error, sizeof error, "HTTP %ld%s", status,
                     status >= 300 && status <= 399 ? " (redirects are not followed)" : "");
        else
            /* libcurl's generic text: no URL, no response bytes. */
            snprintf(error, sizeof error, "%s", curl_easy_strerror(result));
        record(w, d, 0, answered ? status : 0, error);
    }
    delivery_free(d);
    /* A slot is free: claim again now if the outbox had more. */
    if (!w->closing && w->pending > (long long)w->in_flight)
        uv_timer_start(&w->poll_timer, on_tick, 0, w->opt.poll_ms);
}

static void check_done(sitr_webhook_t *w)
{
    CURLMsg *msg;
    int left;
    while (w->multi && (msg = curl_multi_info_read(w->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        delivery_t *d = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
        if (d)
            finish(d, msg->data.result);
    }
}

/* ---- sending ------------------------------------------------------------------ */

static json_t *nullable_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* The body: the takedown as GET /v1/takedowns lists it (never a hash, never
 * the case reference: the case appears as the platform's opaque token). */
static char *build_body(sitr_webhook_t *w, PGresult *res, int i, int64_t platform)
{
    /* Columns after the pending count: see CLAIM_SQL. */
    char token[SITR_OPAQUE_TOKEN_LEN + 1];
    sitr_opaque_case_token(w->digest_key, platform, strtoll(PQgetvalue(res, i, 7), NULL, 10),
                           token);
    json_t *quality = PQgetisnull(res, i, 13)
                          ? json_null()
                          : json_integer(strtol(PQgetvalue(res, i, 13), NULL, 10));
    json_t *j = json_pack(
        "{s:s,s:{s:s,s:s,s:{s:s,s:o},s:s,s:i,s:o,s:s,s:s}}", "event", "takedown.created",
        "takedown", "id", PQgetvalue(res, i, 6), "status", PQgetvalue(res, i, 8), "upload", "id",
        PQgetvalue(res, i, 9), "url", nullable_text(res, i, 10), "signal", PQgetvalue(res, i, 11),
        "distance", sitr_msearch_band((int)strtol(PQgetvalue(res, i, 12), NULL, 10), w->threshold),
        "quality", quality, "case", token, "created_at", PQgetvalue(res, i, 14));
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static int start_one(sitr_webhook_t *w, PGresult *res, int i)
{
    delivery_t *d = calloc(1, sizeof *d);
    if (!d)
        return SITR_ENOMEM;
    d->w = w;
    d->id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    d->attempt = (unsigned)strtoul(PQgetvalue(res, i, 2), NULL, 10);
    d->platform = strtoll(PQgetvalue(res, i, 3), NULL, 10);
    d->next = w->deliveries;
    if (w->deliveries)
        w->deliveries->prev = d;
    w->deliveries = d;
    w->in_flight++;

    const char *url = PQgetvalue(res, i, 4);
    char *secret_hex = PQgetvalue(res, i, 5);
    uint8_t secret[SITR_WEBHOOK_SECRET_BYTES];
    char sig[SITR_WEBHOOK_SIGNATURE_MAX];
    int rc = sitr_hex_decode(secret_hex, strlen(secret_hex), secret, sizeof secret);
    d->body = rc == 0 ? build_body(w, res, i, d->platform) : NULL;
    if (rc == 0 && d->body)
        rc = sitr_webhook_sign(secret, (int64_t)time(NULL), d->body, strlen(d->body), sig);
    sodium_memzero(secret, sizeof secret);
    if (rc < 0 || !d->body || !sitr_webhook_url_ok(url)) {
        record(w, d, 0, 0,
               rc < 0    ? "cannot sign (bad secret)"
               : d->body ? "bad URL"
                         : "out of memory");
        sodium_memzero(sig, sizeof sig);
        delivery_free(d);
        return 0;
    }
    char h_sig[32 + SITR_WEBHOOK_SIGNATURE_MAX], h_id[48];
    snprintf(h_sig, sizeof h_sig, "X-Sitr-Signature: %s", sig);
    snprintf(h_id, sizeof h_id, "X-Sitr-Delivery: %" PRId64, d->id);
    const char *hs[] = {"Content-Type: application/json", "X-Sitr-Event: takedown.created", h_sig,
                        h_id, "Expect:"};
    for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++) {
        struct curl_slist *n = curl_slist_append(d->headers, hs[k]);
        if (!n) {
            rc = SITR_ENOMEM; /* what was built is freed with d */
            break;
        }
        d->headers = n;
    }
    unsigned timeout = w->opt.timeout_ms;
    unsigned connect =
        timeout < SITR_WEBHOOK_CONNECT_TIMEOUT_MS ? timeout : SITR_WEBHOOK_CONNECT_TIMEOUT_MS;
    CURL *e = rc == 0 ? curl_easy_init() : NULL;
    if (e) {
        d->easy = e;
        int bad = 0;
        bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body)) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "sitr-webhook/" SITR_VERSION) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, d) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)d) != CURLE_OK;
        if (bad || curl_multi_add_handle(w->multi, e) != CURLM_OK)
            rc = SITR_EINTERNAL;
    } else if (rc == 0) {
        rc = SITR_ENOMEM;
    }
    sodium_memzero(sig, sizeof sig);
    sodium_memzero(h_sig, sizeof h_sig);
    if (rc < 0) {
        record(w, d, 0, 0, "cannot start the request");
        delivery_free(d);
        return rc;
    }
    return 0;
}

/* Row 0 always exists: the pending count, then a claimed delivery or NULLs
 * (LEFT JOIN on the claim, so an empty claim still reports the count). */
static const char CLAIM_SQL[] =
    "SELECT (SELECT count(*) FROM webhook_deliveries "
    "WHERE delivered_at IS NULL AND abandoned_at IS NULL), "
    "c.delivery_id, c.attempt, c.platform_id, c.url, c.secret, c.takedown_id, c.case_id, "
    "c.status, c.upload_id, c.upload_url, c.signal, c.distance, c.quality, c.created_at "
    "FROM (SELECT 1) AS one LEFT JOIN LATERAL "
    "sitr_webhook_claim($1::int, $2::int, $3::int) AS c ON true";

static void on_claimed(int rc, PGresult *res, const char *sqlstate, void *arg)
{
    (void)sqlstate;
    sitr_webhook_t *w = arg;
    w->db_pending--;
    w->claiming = 0;
    if (rc < 0) {
        if (!w->db_failing && !w->closing)
            sitr_log(SITR_LOG_WARN, NULL, "webhook claim failed: %s (retrying every %u ms)",
                     sitr_strerror(rc), w->opt.poll_ms);
        w->db_failing = 1;
        maybe_free(w);
        return;
    }
    w->db_failing = 0;
    int rows = PQntuples(res);
    if (rows > 0)
        w->pending = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 1))
            continue;
        if (!w->closing && start_one(w, res, i) < 0)
            sitr_log(SITR_LOG_WARN, NULL, "webhook delivery %s not started", PQgetvalue(res, i, 1));
        /* The result buffer is freed by the pool: wipe the secret first. */
        char *s = PQgetvalue(res, i, 5);
        sodium_memzero(s, strlen(s));
    }
    maybe_free(w);
}

static void on_tick(uv_timer_t *t)
{
    sitr_webhook_t *w = t->data;
    if (w->closing || w->claiming)
        return;
    int leader = w->opt.is_leader ? w->opt.is_leader(w->opt.leader_arg) != 0 : 1;
    if (leader != w->leader) {
        sitr_log(SITR_LOG_INFO, NULL, "webhook sender %s",
                 leader ? "active (this replica holds the role)" : "on standby");
        w->leader = leader;
    }
    if (!leader || w->in_flight >= w->opt.concurrency)
        return;
    char p_limit[16], p_lease[16], p_max[16];
    snprintf(p_limit, sizeof p_limit, "%u", w->opt.concurrency - w->in_flight);
    snprintf(p_lease, sizeof p_lease, "%u", w->opt.timeout_ms + LEASE_EXTRA_MS);
    snprintf(p_max, sizeof p_max, "%u", w->opt.max_attempts);
    const char *v[] = {p_limit, p_lease, p_max};
    if (sitr_db_submit(w->opt.db, CLAIM_SQL, 3, v, on_claimed, w) == 0) {
        w->claiming = 1;
        w->db_pending++;
    }
}

/* ---- metrics ------------------------------------------------------------------- */

static void metrics_source(FILE *out, void *arg)
{
    const sitr_webhook_t *w = arg;
    fprintf(out,
            "# HELP sitr_webhook_sender_active 1 while this replica sends the webhooks.\n"
            "# TYPE sitr_webhook_sender_active gauge\n"
            "sitr_webhook_sender_active %d\n"
            "# HELP sitr_webhook_deliveries_total Webhook attempts by outcome (abandoned: "
            "given up after the last failed attempt).\n"
            "# TYPE sitr_webhook_deliveries_total counter\n"
            "sitr_webhook_deliveries_total{result=\"ok\"} %llu\n"
            "sitr_webhook_deliveries_total{result=\"failed\"} %llu\n"
            "sitr_webhook_deliveries_total{result=\"abandoned\"} %llu\n"
            "# HELP sitr_webhook_in_flight Webhook POSTs in progress.\n"
            "# TYPE sitr_webhook_in_flight gauge\n"
            "sitr_webhook_in_flight %u\n",
            w->leader, w->ok, w->failed, w->abandoned, w->in_flight);
    if (w->pending >= 0)
        fprintf(out,
                "# HELP sitr_webhook_pending Deliveries not yet delivered nor abandoned, as of "
                "this sender's last claim.\n"
                "# TYPE sitr_webhook_pending gauge\n"
                "sitr_webhook_pending %lld\n",
                w->pending);
}

/* ---- start / close --------------------------------------------------------------- */

int sitr_webhook_start(uv_loop_t *loop, const sitr_webhook_options_t *opt, sitr_webhook_t **out,
                       sitr_err_t *err)
{
    *out = NULL;
    if (!opt || !opt->db || !opt->digest_key || !opt->poll_ms || !opt->timeout_ms ||
        !opt->concurrency || !opt->retry_min_ms || opt->retry_min_ms > opt->retry_max_ms ||
        !opt->max_attempts)
        return sitr_err_set(err, SITR_EINVAL, "webhook sender: bad options");
    /* Thread-safe in this libcurl ("threadsafe" feature); done once. */
    static int curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return sitr_err_set(err, SITR_EINTERNAL, "webhook sender: libcurl failed to start");
        curl_ready = 1;
        const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
        if (!(vi->features & CURL_VERSION_ASYNCHDNS))
            sitr_log(SITR_LOG_WARN, NULL,
                     "libcurl resolves names synchronously: a slow DNS answer for a webhook "
                     "host stalls the event loop; use IP addresses or a libcurl with the "
                     "threaded resolver");
    }
    sitr_webhook_t *w = calloc(1, sizeof *w);
    if (!w)
        return sitr_err_set(err, SITR_ENOMEM, "out of memory");
    w->loop = loop;
    w->opt = *opt;
    memcpy(w->digest_key, opt->digest_key, sizeof w->digest_key);
    w->threshold = opt->match_threshold;
    w->opt.digest_key = NULL;
    w->pending = -1;
    w->multi = curl_multi_init();
    if (!w->multi) {
        free(w);
        return sitr_err_set(err, SITR_ENOMEM, "webhook sender: cannot create a libcurl handle");
    }
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)opt->concurrency);
    uv_timer_init(loop, &w->poll_timer);
    uv_timer_init(loop, &w->curl_timer);
    w->poll_timer.data = w;
    w->curl_timer.data = w;
    w->open_handles = 2;
    uv_timer_start(&w->poll_timer, on_tick, opt->poll_ms, opt->poll_ms);
    if (opt->metrics && sitr_metrics_add_source(opt->metrics, metrics_source, w) < 0)
        sitr_log(SITR_LOG_WARN, NULL, "webhook metrics not exported: too many metric sources");
    *out = w;
    return 0;
}

void sitr_webhook_close(sitr_webhook_t *w, void (*done)(void *arg), void *arg)
{
    if (!w) {
        if (done)
            done(arg);
        return;
    }
    if (w->closing)
        return;
    w->closing = 1;
    w->done = done;
    w->done_arg = arg;
    uv_timer_stop(&w->poll_timer);
    uv_close((uv_handle_t *)&w->poll_timer, on_handle_closed);
    /* Cut the transfers: their rows are due again when the lease ends. */
    while (w->deliveries)
        delivery_free(w->deliveries);
    /* Stop watching before libcurl closes the sockets. */
    while (w->socks)
        sock_close(w->socks);
    curl_multi_cleanup(w->multi);
    w->multi = NULL;
    uv_timer_stop(&w->curl_timer);
    uv_close((uv_handle_t *)&w->curl_timer, on_handle_closed);
}
