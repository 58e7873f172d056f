/* One-line logs to stderr for sitrd.
 *
 *   2026-01-02T03:04:05Z WARN [c17/a1b2c3-342] db timeout after 500 ms
 *
 * The bracket holds the connection id and the request id (the value sent in
 * X-Request-Id), "[c17]" for connection events, "[-]" for process events.
 * Never pass bodies, hashes, secrets or keys to these functions.  Called on
 * the loop thread; a single write(2) per line keeps lines whole even if a
 * worker thread logs too. */
#ifndef SITR_LOG_H
#define SITR_LOG_H

#include <stddef.h>

typedef enum sitr_log_level {
    SITR_LOG_ERROR = 0,
    SITR_LOG_WARN,
    SITR_LOG_INFO,
    SITR_LOG_DEBUG
} sitr_log_level_t;

void sitr_log_set_level(sitr_log_level_t level);
int sitr_log_enabled(sitr_log_level_t level);
/* "error", "warn", "info", "debug" (case-insensitive); 0 or SITR_EINVAL. */
int sitr_log_parse_level(const char *s, sitr_log_level_t *out);
const char *sitr_log_level_name(sitr_log_level_t level);

/* Who a line is about: a connection and the request id sent back in
 * X-Request-Id.  A request hands out its own (sitr_req_log_ids in
 * net/req.h); the log never looks inside a request. */
typedef struct sitr_log_ids {
    unsigned long conn_id;
    const char *req_id;
} sitr_log_ids_t;

/* ids may be NULL (a process event: "[-]"). */
void sitr_log(sitr_log_level_t level, const sitr_log_ids_t *ids, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* For connection events that belong to no request. */
void sitr_log_conn(sitr_log_level_t level, unsigned long conn_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
