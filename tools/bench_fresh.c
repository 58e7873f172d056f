/* bench-fresh: freshness across replicas (not a test; figures go to
 * docs/BENCHMARKS.md): the time from a committed POST /v1/cases on sitrd A
 * (its 201 received) to the first POST /v1/match on sitrd B that matches
 * the new case.  B is polled back to back, so the figure is an upper bound
 * within one round trip.
 *
 *   bench-fresh PORT_A PORT_B API_KEY [N]
 *
 * Both sitrd listen on 127.0.0.1, share one database, and have case rate
 * limiting off (SITR_CASE_RATE=0).  Prints the median and maximum over N
 * cases (default 50). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "e2e_util.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t rng;
static void rand_hex(char *out)
{
    for (int i = 0; i < 32; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        sprintf(out + 2 * i, "%02x", (unsigned)(rng >> 24) & 0xff);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench-fresh PORT_A PORT_B API_KEY [N]\n");
        return 2;
    }
    sitr_e2e_server_t a = {.pid = 0, .port = atoi(argv[1])};
    sitr_e2e_server_t b = {.pid = 0, .port = atoi(argv[2])};
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             argv[3]);
    int n = argc > 4 ? atoi(argv[4]) : 50;
    if (n < 1 || n > 100000)
        n = 50;
    rng = (uint64_t)time(NULL) * 2654435761u | 1;
    double *t = calloc((size_t)n, sizeof *t);
    if (!t)
        return 1;
    int polls_total = 0;
    for (int i = 0; i < n; i++) {
        char pdq[65], body[256];
        rand_hex(pdq);
        snprintf(body, sizeof body, "{\"images\":[{\"pdq\":\"%s\",\"quality\":90}]}", pdq);
        sitr_e2e_resp_t r;
        if (sitr_e2e_request(&a, "POST", "/v1/cases", "Content-Type: application/json\r\n", body,
                             &r) < 0 ||
            r.status != 201) {
            fprintf(stderr, "bench-fresh: POST /v1/cases failed (%d)\n", r.status);
            return 1;
        }
        sitr_e2e_resp_free(&r);
        double t0 = now_ms();
        snprintf(body, sizeof body, "{\"items\":[{\"pdq\":\"%s\",\"quality\":90}]}", pdq);
        for (;;) {
            if (sitr_e2e_request(&b, "POST", "/v1/match", auth, body, &r) < 0 || r.status != 200) {
                fprintf(stderr, "bench-fresh: POST /v1/match failed (%d)\n", r.status);
                return 1;
            }
            polls_total++;
            int hit = strstr(r.body, "\"matched\": true") || strstr(r.body, "\"matched\":true");
            sitr_e2e_resp_free(&r);
            if (hit)
                break;
            if (now_ms() - t0 > 60000) {
                fprintf(stderr, "bench-fresh: case %d never matched on B\n", i);
                return 1;
            }
        }
        t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    printf("freshness over %d cases: median %.1f ms, max %.1f ms (%.1f polls per case)\n", n,
           t[n / 2], t[n - 1], (double)polls_total / n);
    free(t);
    return 0;
}
