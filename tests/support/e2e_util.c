/* Implementation of the sitrd end-to-end harness (see e2e_util.h).
 * Blocking sockets with poll() timeouts; the server runs as a child process
 * whose stderr goes to a log file under the build tree. */
#include "e2e_util.h"

#include "e2e_contract.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_MS 15000
#define TEST_KEY      "SITR_DIGEST_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

void sitr_e2e_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

long long sitr_e2e_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int has_var(const char *const *env, const char *prefix)
{
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], prefix, strlen(prefix)) == 0)
            return 1;
    return 0;
}

static int spawn(sitr_e2e_server_t *s, const char *const *env)
{
    static unsigned seq;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/e2e-logs", SITR_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(s->log_path, sizeof s->log_path, "%s/sitrd-%d-%u.log", dir, (int)getpid(), ++seq);
    s->port = free_port();
    if (s->port < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        char listen[64];
        snprintf(listen, sizeof listen, "SITR_LISTEN=127.0.0.1:%d", s->port);
        putenv(listen);
        if (!has_var(env, "SITR_DIGEST_KEY"))
            putenv((char *)TEST_KEY);
        if (!has_var(env, "SITR_DATABASE_URL="))
            putenv((char *)"SITR_DATABASE_URL=host=127.0.0.1 port=1 connect_timeout=2");
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execl(SITR_BINARY_DIR "/service/sitrd", "sitrd", (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    return 0;
}

int sitr_e2e_wait_exit(sitr_e2e_server_t *s, int timeout_ms)
{
    long long end = sitr_e2e_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        if (r < 0 || sitr_e2e_now_ms() > end)
            break;
        sitr_e2e_sleep_ms(20);
    }
    return -2;
}

int sitr_e2e_start(sitr_e2e_server_t *s, const char *const *env)
{
    memset(s, 0, sizeof *s);
    for (int attempt = 0; attempt < 3; attempt++) {
        if (spawn(s, env) < 0) {
            fprintf(stderr, "e2e: cannot start sitrd\n");
            return -1;
        }
        long long end = sitr_e2e_now_ms() + 20000;
        while (sitr_e2e_now_ms() < end) {
            int st;
            if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
                s->pid = 0;
                fprintf(stderr, "e2e: sitrd exited during start-up (status %d), log %s\n",
                        WIFEXITED(st) ? WEXITSTATUS(st) : -1, s->log_path);
                break; /* maybe the port was taken meanwhile: try another */
            }
            sitr_e2e_resp_t r;
            if (sitr_e2e_request(s, "GET", "/healthz", NULL, NULL, &r) == 0) {
                int ok = r.status == 200;
                sitr_e2e_resp_free(&r);
                if (ok)
                    return 0;
            }
            sitr_e2e_sleep_ms(50);
        }
        if (s->pid) {
            kill(s->pid, SIGKILL);
            sitr_e2e_wait_exit(s, 5000);
            fprintf(stderr, "e2e: sitrd did not answer /healthz, log %s\n", s->log_path);
            return -1;
        }
    }
    return -1;
}

void sitr_e2e_signal(const sitr_e2e_server_t *s, int sig)
{
    if (s->pid > 0)
        kill(s->pid, sig);
}

int sitr_e2e_stop(sitr_e2e_server_t *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int rc = sitr_e2e_wait_exit(s, 30000);
    if (rc == -2) {
        fprintf(stderr, "e2e: sitrd ignored SIGTERM, killing it (log %s)\n", s->log_path);
        kill(s->pid, SIGKILL);
        sitr_e2e_wait_exit(s, 5000);
        return -1;
    }
    return rc;
}

int sitr_e2e_log_count(const sitr_e2e_server_t *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f))
        found += strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

int sitr_e2e_log_contains(const sitr_e2e_server_t *s, const char *needle)
{
    return sitr_e2e_log_count(s, needle) > 0;
}

int sitr_e2e_wait_log(const sitr_e2e_server_t *s, const char *needle, int timeout_ms)
{
    long long end = sitr_e2e_now_ms() + timeout_ms;
    do {
        if (sitr_e2e_log_contains(s, needle))
            return 1;
        sitr_e2e_sleep_ms(20);
    } while (sitr_e2e_now_ms() < end);
    return 0;
}

int sitr_e2e_connect(const sitr_e2e_server_t *s, sitr_e2e_client_t *c)
{
    return sitr_e2e_connect_from(s, c, NULL);
}

int sitr_e2e_connect_from(const sitr_e2e_server_t *s, sitr_e2e_client_t *c, const char *src)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    if (src) {
        struct sockaddr_in from = {.sin_family = AF_INET};
        if (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
            bind(c->fd, (struct sockaddr *)&from, sizeof from) < 0) {
            close(c->fd);
            c->fd = -1;
            return -1;
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

void sitr_e2e_close(sitr_e2e_client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

int sitr_e2e_send(sitr_e2e_client_t *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sitr_e2e_send_str(sitr_e2e_client_t *c, const char *s)
{
    return sitr_e2e_send(c, s, strlen(s));
}

/* Reads more bytes into the client buffer: >0 bytes, 0 EOF, -1 error or
 * timeout. */
static ssize_t fill(sitr_e2e_client_t *c, int timeout_ms)
{
    if (c->cap - c->len < 4096) {
        size_t cap = c->cap ? c->cap * 2 : 16384;
        char *p = realloc(c->buf, cap + 1);
        if (!p)
            return -1;
        c->buf = p;
        c->cap = cap;
    }
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&pfd, 1, timeout_ms);
    if (pr <= 0)
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n < 0)
        return errno == ECONNRESET ? 0 : -1;
    c->len += (size_t)n;
    return n;
}

const char *sitr_e2e_header(const sitr_e2e_resp_t *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

void sitr_e2e_resp_free(sitr_e2e_resp_t *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int parse_head(sitr_e2e_resp_t *r, const char *data, size_t len)
{
    r->head = malloc(len + 1);
    if (!r->head)
        return -1;
    memcpy(r->head, data, len);
    r->head[len] = '\0';
    char *save = NULL;
    char *line = strtok_r(r->head, "\r\n", &save);
    if (!line || sscanf(line, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        char *colon = strchr(line, ':');
        if (!colon || r->nheaders == SITR_E2E_MAX_HEADERS)
            return -1;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        r->names[r->nheaders] = line;
        r->values[r->nheaders] = v;
        r->nheaders++;
    }
    return 0;
}

int sitr_e2e_read(sitr_e2e_client_t *c, sitr_e2e_resp_t *r, int head_request)
{
    memset(r, 0, sizeof *r);
    long long end = sitr_e2e_now_ms() + IO_TIMEOUT_MS;
    char *eoh;
    for (;;) {
        if (c->buf) {
            c->buf[c->len] = '\0';
            eoh = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (eoh)
                break;
        }
        int left = (int)(end - sitr_e2e_now_ms());
        if (left <= 0 || fill(c, left) <= 0)
            return -1;
    }
    size_t head_len = (size_t)(eoh - c->buf);
    if (parse_head(r, c->buf, head_len) < 0) {
        sitr_e2e_resp_free(r);
        return -1;
    }
    size_t start = head_len + 4;
    const char *cl = sitr_e2e_header(r, "Content-Length");
    int until_close = 0;
    size_t want = 0;
    if (r->status == 100 || r->status == 204 || r->status == 304 || head_request)
        want = 0;
    else if (cl)
        want = strtoull(cl, NULL, 10);
    else
        until_close = 1;
    while (until_close || c->len - start < want) {
        int left = (int)(end - sitr_e2e_now_ms());
        ssize_t n = left > 0 ? fill(c, left) : -1;
        if (n == 0 && until_close)
            break;
        if (n <= 0) {
            sitr_e2e_resp_free(r);
            return -1;
        }
    }
    if (until_close)
        want = c->len - start;
    r->body = malloc(want + 1);
    if (!r->body) {
        sitr_e2e_resp_free(r);
        return -1;
    }
    memcpy(r->body, c->buf + start, want);
    r->body[want] = '\0';
    r->body_len = want;
    memmove(c->buf, c->buf + start + want, c->len - start - want);
    c->len -= start + want;
    return 0;
}

int sitr_e2e_wait_closed(sitr_e2e_client_t *c, int timeout_ms)
{
    if (c->len)
        return 0;
    size_t before = c->len;
    ssize_t n = fill(c, timeout_ms);
    if (n == 0)
        return 1;
    if (n < 0) {
        /* poll timed out, or a reset surfaced as an error */
        return errno == ECONNRESET || errno == EPIPE ? 1 : 0;
    }
    (void)before;
    return 0;
}

int sitr_e2e_request(const sitr_e2e_server_t *s, const char *method, const char *path,
                     const char *extra_headers, const char *body, sitr_e2e_resp_t *r)
{
    sitr_e2e_client_t c;
    memset(r, 0, sizeof *r);
    if (sitr_e2e_connect(s, &c) < 0)
        return -1;
    size_t blen = body ? strlen(body) : 0;
    size_t cap =
        strlen(method) + strlen(path) + (extra_headers ? strlen(extra_headers) : 0) + blen + 200;
    char *req = malloc(cap);
    if (!req) {
        sitr_e2e_close(&c);
        return -1;
    }
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, extra_headers ? extra_headers : "", blen);
    if (body)
        memcpy(req + n, body, blen);
    int rc = sitr_e2e_send(&c, req, (size_t)n + blen);
    free(req);
    if (rc == 0)
        rc = sitr_e2e_read(&c, r, strcmp(method, "HEAD") == 0);
    sitr_e2e_close(&c);
    if (rc == 0)
        sitr_e2e_contract_record(method, path, r);
    return rc;
}

char *sitr_e2e_pg_conninfo(void)
{
    FILE *f = fopen(SITR_BINARY_DIR "/pg/conninfo", "r");
    if (!f)
        return NULL;
    char line[1024];
    char *out = NULL;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        out = strdup(line);
    }
    fclose(f);
    return out;
}
