/* reliability-slowloris: slow clients against a running sitrd, with a normal
 * client beside them (not a test; figures go to docs/RELIABILITY.md).
 *
 *   reliability-slowloris --port N [--host IP] [--conns 2000] [--addrs 10]
 *                         [--mode head|body|idle] [--seconds 30]
 *                         [--interval-ms 1000] [--no-reopen] [--pid PID]
 *
 * Opens --conns connections, spread over the source addresses 127.0.0.2 ..
 * 127.0.0.(1 + --addrs) when --addrs > 0 (all of 127/8 is loopback on
 * Linux; so the per-address cap sees that many clients), and keeps them
 * slow for --seconds:
 *   head  a request line and headers, one byte every --interval-ms;
 *   body  a complete head announcing a 1 MB body, then one body byte every
 *         --interval-ms;
 *   idle  nothing at all (a connection flood).
 * A connection the server answers or closes is counted by the answer's
 * status (408, 429, 503, or closed without an answer) and, unless
 * --no-reopen, replaced at once, as an attacker would.  Meanwhile a normal
 * client (a thread, from 127.0.0.1) sends GET /healthz on a fresh
 * connection every 10 ms and times each answer (5 s at most).  At the end
 * one line gives the figures, and the RSS of --pid if given.  The machine's
 * other load moves the latencies: compare runs taken back to back. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct {
    const char *host;
    int port, conns, addrs, seconds, interval_ms, reopen, pid;
    const char *mode;
} O = {"127.0.0.1", 0, 2000, 10, 30, 1000, 1, 0, "head"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A blocking TCP connection to the server from src (NULL: any). */
static int open_conn(const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)O.port)};
    inet_pton(AF_INET, O.host, &dst.sin_addr);
    if (src) {
        struct sockaddr_in from = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &from.sin_addr);
        if (bind(fd, (struct sockaddr *)&from, sizeof from) < 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the normal client ---- */

typedef struct normal {
    volatile int stop;
    size_t sent, ok, failed;
    double *ms;
    size_t nms, cap;
} normal_t;

/* One GET /healthz on a fresh connection: 1 if answered 200 within 5 s. */
static int one_request(void)
{
    int fd = open_conn(NULL);
    if (fd < 0)
        return 0;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int ok = send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1);
    char buf[1024];
    size_t got = 0;
    double end = now_s() + 5;
    while (ok && got < sizeof buf - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    return ok && strncmp(buf, "HTTP/1.1 200 ", 13) == 0 && strstr(buf, "{\"status\":\"ok\"}");
}

static void *normal_main(void *arg)
{
    normal_t *n = arg;
    while (!n->stop) {
        double t0 = now_s();
        int ok = one_request();
        double ms = (now_s() - t0) * 1e3;
        n->sent++;
        if (ok) {
            n->ok++;
            if (n->nms == n->cap) {
                n->cap = n->cap ? 2 * n->cap : 4096;
                double *p = realloc(n->ms, n->cap * sizeof *p);
                if (!p)
                    break;
                n->ms = p;
            }
            n->ms[n->nms++] = ms;
        } else {
            n->failed++;
        }
        sleep_ms(10);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the slow clients ---- */

typedef struct slow {
    int fd;
    size_t sent; /* bytes of the script sent */
} slow_t;

static struct {
    size_t opened, failed_open, s408, s429, s503, other, closed;
} V;

static const char *head_script = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
static const char *body_head = "POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: "
                               "application/json\r\nContent-Length: 1000000\r\n\r\n{";

static void slow_open(slow_t *s, int i)
{
    char src[32];
    if (O.addrs > 0)
        snprintf(src, sizeof src, "127.0.0.%d", 2 + i % O.addrs);
    s->fd = open_conn(O.addrs > 0 ? src : NULL);
    s->sent = 0;
    if (s->fd < 0) {
        V.failed_open++;
        return;
    }
    V.opened++;
    if (strcmp(O.mode, "body") == 0) {
        if (send(s->fd, body_head, strlen(body_head), MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
            s->sent = strlen(body_head);
    }
}

/* Reads what the server said, if anything: 1 when it let go. */
static int server_let_go(slow_t *s)
{
    char buf[64];
    ssize_t n = recv(s->fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n > 12) {
        buf[n] = '\0';
        int status = atoi(buf + 9);
        if (status == 408)
            V.s408++;
        else if (status == 429)
            V.s429++;
        else if (status == 503)
            V.s503++;
        else
            V.other++;
    } else {
        V.closed++;
    }
    return 1;
}

static void slow_step(slow_t *s)
{
    if (strcmp(O.mode, "idle") == 0)
        return;
    char b = 'a';
    if (strcmp(O.mode, "head") == 0 && s->sent < strlen(head_script))
        b = head_script[s->sent];
    if (send(s->fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
        s->sent++;
}

static long rss_mb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

static int usage(void)
{
    fprintf(stderr, "usage: reliability-slowloris --port N [--host IP] [--conns N] [--addrs N] "
                    "[--mode head|body|idle] [--seconds N] [--interval-ms N] [--no-reopen] "
                    "[--pid PID]\n");
    return 2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-reopen") == 0) {
            O.reopen = 0;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--port") == 0)
            O.port = atoi(v);
        else if (strcmp(a, "--host") == 0)
            O.host = v;
        else if (strcmp(a, "--conns") == 0)
            O.conns = atoi(v);
        else if (strcmp(a, "--addrs") == 0)
            O.addrs = atoi(v);
        else if (strcmp(a, "--mode") == 0)
            O.mode = v;
        else if (strcmp(a, "--seconds") == 0)
            O.seconds = atoi(v);
        else if (strcmp(a, "--interval-ms") == 0)
            O.interval_ms = atoi(v);
        else if (strcmp(a, "--pid") == 0)
            O.pid = atoi(v);
        else
            return usage();
    }
    if (O.port <= 0 || O.conns <= 0 || O.addrs < 0 || O.addrs > 250 || O.seconds <= 0 ||
        O.interval_ms <= 0 ||
        (strcmp(O.mode, "head") && strcmp(O.mode, "body") && strcmp(O.mode, "idle")))
        return usage();
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long rss0 = O.pid ? rss_mb(O.pid) : -1;
    slow_t *s = calloc((size_t)O.conns, sizeof *s);
    if (!s)
        return 1;
    double t0 = now_s();
    for (int i = 0; i < O.conns; i++)
        slow_open(&s[i], i);
    double open_s = now_s() - t0;
    normal_t n = {0};
    pthread_t th;
    if (pthread_create(&th, NULL, normal_main, &n) != 0)
        return 1;
    size_t held_min = (size_t)O.conns;
    double end = now_s() + O.seconds;
    while (now_s() < end) {
        sleep_ms(O.interval_ms);
        size_t held = 0;
        for (int i = 0; i < O.conns; i++) {
            if (s[i].fd >= 0 && server_let_go(&s[i])) {
                close(s[i].fd);
                s[i].fd = -1;
                if (O.reopen)
                    slow_open(&s[i], i);
            }
            if (s[i].fd >= 0) {
                slow_step(&s[i]);
                held++;
            }
        }
        if (held < held_min)
            held_min = held;
    }
    n.stop = 1;
    pthread_join(th, NULL);
    long rss1 = O.pid ? rss_mb(O.pid) : -1;
    for (int i = 0; i < O.conns; i++)
        if (s[i].fd >= 0)
            close(s[i].fd);
    free(s);
    qsort(n.ms, n.nms, sizeof *n.ms, cmp_double);
    double p50 = n.nms ? n.ms[n.nms / 2] : 0, p99 = n.nms ? n.ms[n.nms * 99 / 100] : 0,
           max = n.nms ? n.ms[n.nms - 1] : 0;
    printf("slowloris %s: %d connections from %d addresses for %d s (%.2f s to open, one byte "
           "every %d ms%s): %zu opened, %zu failed to open; the server answered 408 x %zu, "
           "429 x %zu, 503 x %zu, other x %zu, closed %zu without an answer; fewest held at "
           "once %zu; normal client: %zu of %zu answered 200 (p50 %.1f ms, p99 %.1f ms, max "
           "%.1f ms)",
           O.mode, O.conns, O.addrs, O.seconds, open_s, O.interval_ms,
           O.reopen ? ", reopened when cut" : "", V.opened, V.failed_open, V.s408, V.s429, V.s503,
           V.other, V.closed, held_min, n.ok, n.sent, p50, p99, max);
    if (O.pid)
        printf("; sitrd RSS %ld MB before, %ld MB after", rss0, rss1);
    printf("\n");
    free(n.ms);
    return n.failed ? 1 : 0;
}
