/* The world an end-to-end test builds before it talks to sitrd: a fresh
 * database migrated by the real sitr-admin, platforms added by sitr-admin
 * (their API key and webhook secret captured from its stdout), and a
 * started sitrd polled until /readyz says it is ready; at the end, sitrd
 * stopped and its log checked for what it must never hold.  Built on
 * test_db_support (the pg fixture) and e2e_util (the sitrd child).
 * Single-threaded tests only. */
#ifndef SITR_E2E_WORLD_H
#define SITR_E2E_WORLD_H

#include <stddef.h>

#include "e2e_util.h"

/* A fresh database <prefix>_<pid>_<n>, migrated with `sitr-admin migrate`.
 * Returns its URL (caller frees), or NULL (after printing why). */
char *sitr_e2e_migrated_db(const char *prefix);

/* Runs `sitr-admin --database-url db_url <args>` and keeps its first stdout
 * line (the API key) in key and, when secret is not NULL, its second (the
 * webhook signing secret) in secret.  0, or -1 (after printing why) when
 * no key came out or an expected secret is not 64 characters long. */
int sitr_e2e_admin_key(const char *db_url, const char *args, char *key, size_t key_cap,
                       char *secret, size_t secret_cap);

/* Polls GET /readyz until it answers 200 (schema current, match index
 * loaded), at most timeout_ms.  0, or -1 (after printing the log path). */
int sitr_e2e_wait_ready(const sitr_e2e_server_t *s, int timeout_ms);

/* The value of an unlabelled metric in s's GET /metrics ("name value"), or
 * -1 when absent or unanswered. */
long long sitr_e2e_metric(const sitr_e2e_server_t *s, const char *name);

/* Polls GET /metrics until sitrd holds no block waiting for the database
 * (sitr_blocks_pending 0: every "upload blocked" record a /v1/match answer
 * queued is committed) and has dropped none, at most timeout_ms.  0, or -1
 * (after printing the figures and the log path). */
int sitr_e2e_wait_blocks_written(const sitr_e2e_server_t *s, int timeout_ms);

/* Stops s (SIGTERM) and then reads its log: 0 if sitrd exited with status 0
 * and no line holds any of never_logged (NULL-terminated: keys, secrets,
 * URLs a test sent); else -1, after printing which entry was found (its
 * position, never the value). */
int sitr_e2e_stop_clean(sitr_e2e_server_t *s, const char *const *never_logged);

#endif
