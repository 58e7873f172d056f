/* Logging for sitrd: one line per event on stderr, UTC timestamp, level,
 * connection/request ids, message.  The level is process-wide and set once
 * at start-up; debug is off by default.  Lines are formatted into a stack
 * buffer and written with one write(2) so concurrent writers never interleave
 * inside a line.  Control characters in messages are replaced so that a
 * value that slipped in from the network cannot forge log lines. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sitr/err.h>

static sitr_log_level_t g_level = SITR_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void sitr_log_set_level(sitr_log_level_t level)
{
    g_level = level;
}

int sitr_log_enabled(sitr_log_level_t level)
{
    return level <= g_level;
}

const char *sitr_log_level_name(sitr_log_level_t level)
{
    if ((unsigned)level > SITR_LOG_DEBUG)
        return "?";
    return level_names[level];
}

int sitr_log_parse_level(const char *s, sitr_log_level_t *out)
{
    for (int i = 0; i <= SITR_LOG_DEBUG; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (sitr_log_level_t)i;
            return 0;
        }
    }
    return SITR_EINVAL;
}

__attribute__((format(printf, 3, 0))) static void emit(sitr_log_level_t level, const char *ids,
                                                       const char *fmt, va_list ap)
{
    char line[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    int k = snprintf(line + n, sizeof line - n, "%s [%s] ", level_names[level], ids);
    if (k > 0)
        n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
    size_t msg_start = n;
    k = vsnprintf(line + n, sizeof line - n, fmt, ap);
    if (k > 0)
        n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
    for (size_t i = msg_start; i < n; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 0x20 || ch == 0x7f)
            line[i] = '?';
    }
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere to report a failing stderr */
}

void sitr_log(sitr_log_level_t level, const sitr_log_ids_t *who, const char *fmt, ...)
{
    if (!sitr_log_enabled(level))
        return;
    char ids[96];
    if (who)
        snprintf(ids, sizeof ids, "c%lu/%s", who->conn_id, who->req_id ? who->req_id : "-");
    else
        snprintf(ids, sizeof ids, "-");
    va_list ap;
    va_start(ap, fmt);
    emit(level, ids, fmt, ap);
    va_end(ap);
}

void sitr_log_conn(sitr_log_level_t level, unsigned long conn_id, const char *fmt, ...)
{
    if (!sitr_log_enabled(level))
        return;
    char ids[32];
    snprintf(ids, sizeof ids, "c%lu", conn_id);
    va_list ap;
    va_start(ap, fmt);
    emit(level, ids, fmt, ap);
    va_end(ap);
}
