/* Takedown webhooks: the sender that empties the durable outbox
 * (migrations/0002_webhooks.sql, table webhook_deliveries).
 *
 * Only one replica sends at a time: the sender asks is_leader() before
 * every claim (sitrd passes "this process holds the matcher role"), and the
 * claim itself locks rows with FOR UPDATE SKIP LOCKED and leases them, so
 * even two senders during a role change never POST the same attempt twice
 * at once.  Delivery is at least once; X-Sitr-Delivery lets the platform
 * drop a repeat.  The wire format and the signature are in docs/webhooks.md.
 *
 * Threads: everything on the loop thread.  Database work goes through the
 * async pool (sitr_db_submit); HTTP through the libcurl multi interface
 * driven by uv_poll and uv_timer, so the loop never blocks (libcurl's
 * threaded resolver does the DNS). */
#ifndef SITR_WEBHOOK_H
#define SITR_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <sitr/err.h>

#include "db/db.h"
#include "core/metrics.h"

/* The HMAC-SHA256 key of a platform (crypto_auth_hmacsha256_KEYBYTES). */
#define SITR_WEBHOOK_SECRET_BYTES 32
/* "t=<up to 20 digits>,v1=<64 hex>" and the NUL. */
#define SITR_WEBHOOK_SIGNATURE_MAX (2 + 20 + 4 + 64 + 1)
/* Longest connect phase of a POST, whatever the total timeout. */
#define SITR_WEBHOOK_CONNECT_TIMEOUT_MS 5000
/* Response bytes read (and thrown away) before the transfer is cut. */
#define SITR_WEBHOOK_MAX_RESPONSE_BYTES 65536

typedef struct sitr_webhook sitr_webhook_t;

/* 1 when this process may send (called on the loop thread before each
 * claim). */
typedef int (*sitr_webhook_leader_fn)(void *arg);

typedef struct sitr_webhook_options {
    sitr_db_t *db;             /* borrowed: must outlive the sender's queries */
    const uint8_t *digest_key; /* borrowed (32 bytes): derives the per-platform case token */
    int match_threshold;       /* the distance shown is its band (match/msearch.h) */
    sitr_metrics_t *metrics;   /* optional */
    sitr_webhook_leader_fn is_leader;
    void *leader_arg;
    unsigned poll_ms;                    /* how often due deliveries are claimed */
    unsigned timeout_ms;                 /* total per POST */
    unsigned concurrency;                /* POSTs in flight */
    unsigned retry_min_ms, retry_max_ms; /* backoff bounds */
    unsigned max_attempts;
} sitr_webhook_options_t;

/* Starts polling (nothing is sent while is_leader() says 0).  0, or < 0
 * with err filled. */
SITR_MUST_CHECK int sitr_webhook_start(uv_loop_t *loop, const sitr_webhook_options_t *opt,
                                       sitr_webhook_t **out, sitr_err_t *err);

/* Stops: transfers in flight are cut (their rows become due again when the
 * lease ends), no new query is submitted.  The struct is freed once every
 * handle is closed and every query has come back; then done(arg) runs on
 * the loop thread.  NULL w: done runs at once. */
void sitr_webhook_close(sitr_webhook_t *w, void (*done)(void *arg), void *arg);

/* ---- pure parts (unit-tested) -------------------------------------------- */

/* Writes "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" into out.
 * Returns 0, or SITR_EINVAL for a negative t. */
SITR_MUST_CHECK int sitr_webhook_sign(const uint8_t secret[SITR_WEBHOOK_SECRET_BYTES], int64_t t,
                                      const char *body, size_t body_len,
                                      char out[SITR_WEBHOOK_SIGNATURE_MAX]);

/* The delay before the next attempt after attempt number `attempt` (1 =
 * the first) failed: min_ms * 2^(attempt-1), capped at max_ms, without
 * jitter. */
uint64_t sitr_webhook_backoff_ms(unsigned attempt, unsigned min_ms, unsigned max_ms);

#endif
