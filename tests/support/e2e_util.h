/* End-to-end test harness for sitrd: run the real binary, talk raw HTTP.
 *
 * sitr_e2e_start runs build/service/sitrd as a child on a free loopback
 * port with the given extra environment (a test digest key and an
 * unreachable database are provided unless overridden), its stderr going to
 * a log file, and waits until /healthz answers.  Clients connect with
 * sitr_e2e_connect, write bytes with sitr_e2e_send and read answers one by
 * one with sitr_e2e_read (pipelined answers stay buffered in the client).
 * sitr_e2e_stop sends SIGTERM and returns the exit status.  Blocking
 * sockets, with generous timeouts so a hung server fails the test instead of
 * hanging it.  Single-threaded tests only. */
#ifndef SITR_E2E_UTIL_H
#define SITR_E2E_UTIL_H

#include <stddef.h>
#include <sys/types.h>

typedef struct sitr_e2e_server {
    pid_t pid;
    int port;
    char log_path[512];
} sitr_e2e_server_t;

typedef struct sitr_e2e_client {
    int fd;
    char *buf; /* bytes received, not yet returned as an answer */
    size_t len, cap;
} sitr_e2e_client_t;

#define SITR_E2E_MAX_HEADERS 32

typedef struct sitr_e2e_resp {
    int status;
    char *head; /* status line and headers, NUL-separated copies live here */
    const char *names[SITR_E2E_MAX_HEADERS], *values[SITR_E2E_MAX_HEADERS];
    int nheaders;
    char *body; /* NUL-terminated for convenience */
    size_t body_len;
} sitr_e2e_resp_t;

/* env: NULL-terminated "NAME=value" strings, may be NULL.  Returns 0 or -1
 * (after printing why). */
int sitr_e2e_start(sitr_e2e_server_t *s, const char *const *env);
/* SIGTERM, then waits (up to 30 s, then SIGKILL).  Returns the exit status,
 * or -1 if the process died from a signal or had to be killed. */
int sitr_e2e_stop(sitr_e2e_server_t *s);
/* Sends a signal without waiting. */
void sitr_e2e_signal(const sitr_e2e_server_t *s, int sig);
/* Waits (up to timeout_ms) for the exit status as in sitr_e2e_stop. */
int sitr_e2e_wait_exit(sitr_e2e_server_t *s, int timeout_ms);
/* 1 if the server's log contains needle (e.g. to wait for an event). */
int sitr_e2e_log_contains(const sitr_e2e_server_t *s, const char *needle);
/* How many lines of the server's log contain needle. */
int sitr_e2e_log_count(const sitr_e2e_server_t *s, const char *needle);
/* Polls the log for needle up to timeout_ms; 1 when found. */
int sitr_e2e_wait_log(const sitr_e2e_server_t *s, const char *needle, int timeout_ms);

/* 0 or -1. */
int sitr_e2e_connect(const sitr_e2e_server_t *s, sitr_e2e_client_t *c);
/* The same from the local IPv4 address src (e.g. "127.0.0.7": all of
 * 127/8 is loopback), so that one test can be many clients. */
int sitr_e2e_connect_from(const sitr_e2e_server_t *s, sitr_e2e_client_t *c, const char *src);
void sitr_e2e_close(sitr_e2e_client_t *c);
int sitr_e2e_send(sitr_e2e_client_t *c, const void *data, size_t len);
int sitr_e2e_send_str(sitr_e2e_client_t *c, const char *s);
/* Reads one answer (Content-Length or close-delimited).  For a HEAD request
 * pass head_request = 1 (no body follows).  0, or -1 on timeout, EOF before
 * a full answer, or malformed input.  Free with sitr_e2e_resp_free. */
int sitr_e2e_read(sitr_e2e_client_t *c, sitr_e2e_resp_t *r, int head_request);
void sitr_e2e_resp_free(sitr_e2e_resp_t *r);
const char *sitr_e2e_header(const sitr_e2e_resp_t *r, const char *name); /* case-insensitive */
/* 1 if the server closes the connection (EOF or reset) within timeout_ms
 * without sending anything else, 0 if bytes arrive or it stays open. */
int sitr_e2e_wait_closed(sitr_e2e_client_t *c, int timeout_ms);

/* One request on a fresh connection.  extra_headers: "Name: v\r\n..." or
 * NULL; body may be NULL.  0 or -1. */
int sitr_e2e_request(const sitr_e2e_server_t *s, const char *method, const char *path,
                     const char *extra_headers, const char *body, sitr_e2e_resp_t *r);

/* Monotonic milliseconds, and a sleep, for the tests' polling deadlines. */
long long sitr_e2e_now_ms(void);
void sitr_e2e_sleep_ms(int ms);

/* The pg fixture's conninfo (malloc'd), or NULL if the file is missing. */
char *sitr_e2e_pg_conninfo(void);

#endif
