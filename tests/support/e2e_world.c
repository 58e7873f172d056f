/* Setting up an end-to-end test's world (see e2e_world.h): sitr-admin runs
 * as a child through the shell, its stderr discarded so that a failure
 * shows as a missing key rather than as noise; readiness is polled with a
 * deadline, never asserted on time. */
#include "e2e_world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_support.h"

char *sitr_e2e_migrated_db(const char *prefix)
{
    char *url = pgt_create_db(prefix);
    if (pgt_run("'%s' --database-url '%s' migrate >/dev/null", pgt_admin(), url) != 0) {
        fprintf(stderr, "e2e: sitr-admin migrate failed for %s\n", prefix);
        free(url);
        return NULL;
    }
    return url;
}

/* One line of p's output without its line end ("" at EOF). */
static void read_line(FILE *p, char *out, size_t cap)
{
    out[0] = '\0';
    if (!fgets(out, (int)cap, p))
        out[0] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
}

int sitr_e2e_admin_key(const char *db_url, const char *args, char *key, size_t key_cap,
                       char *secret, size_t secret_cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' --database-url '%s' %s 2>/dev/null", pgt_admin(), db_url, args);
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, "e2e: cannot run sitr-admin %s\n", args);
        return -1;
    }
    read_line(p, key, key_cap);
    if (secret)
        read_line(p, secret, secret_cap);
    pclose(p);
    if (strncmp(key, "sitr_", 5) != 0) {
        fprintf(stderr, "e2e: sitr-admin %s printed no key\n", args);
        return -1;
    }
    if (secret && strlen(secret) != 64) {
        fprintf(stderr, "e2e: sitr-admin %s printed no webhook secret\n", args);
        return -1;
    }
    return 0;
}

int sitr_e2e_wait_ready(const sitr_e2e_server_t *s, int timeout_ms)
{
    long long end = sitr_e2e_now_ms() + timeout_ms;
    while (sitr_e2e_now_ms() < end) {
        sitr_e2e_resp_t r;
        if (sitr_e2e_request(s, "GET", "/readyz", NULL, NULL, &r) == 0) {
            int ok = r.status == 200;
            sitr_e2e_resp_free(&r);
            if (ok)
                return 0;
        }
        sitr_e2e_sleep_ms(50);
    }
    fprintf(stderr, "sitrd never became ready (log: %s)\n", s->log_path);
    return -1;
}

/* The value of a metric line "<name> <value>" in a /metrics text, or -1. */
static long long metric_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
    }
    return -1;
}

long long sitr_e2e_metric(const sitr_e2e_server_t *s, const char *name)
{
    sitr_e2e_resp_t r;
    if (sitr_e2e_request(s, "GET", "/metrics", NULL, NULL, &r) < 0)
        return -1;
    long long v = r.status == 200 ? metric_value(r.body, name) : -1;
    sitr_e2e_resp_free(&r);
    return v;
}

int sitr_e2e_wait_blocks_written(const sitr_e2e_server_t *s, int timeout_ms)
{
    long long end = sitr_e2e_now_ms() + timeout_ms;
    long long pending = -1, dropped = -1;
    while (sitr_e2e_now_ms() < end) {
        sitr_e2e_resp_t r;
        if (sitr_e2e_request(s, "GET", "/metrics", NULL, NULL, &r) == 0) {
            pending = r.status == 200 ? metric_value(r.body, "sitr_blocks_pending") : -1;
            dropped = r.status == 200 ? metric_value(r.body, "sitr_blocks_dropped_total") : -1;
            sitr_e2e_resp_free(&r);
            if (pending == 0 && dropped == 0)
                return 0;
            if (dropped > 0)
                break;
        }
        sitr_e2e_sleep_ms(50);
    }
    fprintf(stderr, "blocks not written: %lld pending, %lld dropped (log: %s)\n", pending, dropped,
            s->log_path);
    return -1;
}

int sitr_e2e_stop_clean(sitr_e2e_server_t *s, const char *const *never_logged)
{
    int rc = sitr_e2e_stop(s);
    for (size_t i = 0; never_logged[i]; i++) {
        if (sitr_e2e_log_contains(s, never_logged[i])) {
            fprintf(stderr, "e2e: entry %zu of what must never be logged is in %s\n", i,
                    s->log_path);
            return -1;
        }
    }
    return rc == 0 ? 0 : -1;
}
