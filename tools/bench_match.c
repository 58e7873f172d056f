/* bench-match: speed of the exact PDQ index (not a test).
 *
 * Builds an index of N synthetic entries (uniform random, or clustered: near
 * copies of a few thousand centres), then runs queries, half planted at
 * distance 0..31 from a stored entry and half random, at one radius:
 * queries/s on 1 and 2 threads, each with one search call per query and with
 * batched calls (sitr_index_search_batch), build time, bytes per entry,
 * transparent huge pages in use, probes and
 * candidates per query, recall and false positives against brute force on a
 * sample, and brute-force queries/s for comparison.  Single process, data
 * generated in memory; prints one table row per data set.
 *
 * With -S it measures attached segments instead (uniform data): queries/s
 * over N entries in the main segment alone, over 2N in the main segment,
 * over N main + one attached segment of N, and over N main + four attached
 * segments of N/4; then the time of sitr_index_segment_build for N entries
 * on 1 and 2 threads (best of 3), of attach, of detach, and of an attach
 * over the limit (which merges everything into the main segment).
 *
 * usage: bench-match [-n entries] [-q queries] [-r radius] [-s recall sample]
 *                    [-b brute queries] [-t max threads] [-d uniform|clustered|both]
 *                    [-B batch size] [-i generic|popcnt|avx512] [-S] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "match/index.h"
#include "pdq_synth.h"

#define MAX_HITS (1u << 20)

static uint64_t rng = 0x2545f4914f6cdd1dull;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct run {
    sitr_index_t *idx;
    const sitr_pdq_t *q;
    size_t nq;
    int radius;
    size_t batch; /* 0: one sitr_index_search per query */
    sitr_index_hit_t *hits;
    uint64_t probes, cands, found;
} run_t;

static void *run_queries(void *p)
{
    run_t *r = p;
    if (r->batch) {
        size_t *found = malloc(r->batch * sizeof *found);
        sitr_index_qstats_t *qs = malloc(r->batch * sizeof *qs);
        size_t per = MAX_HITS / r->batch;
        if (!found || !qs) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        for (size_t i = 0; i < r->nq; i += r->batch) {
            size_t m = r->nq - i < r->batch ? r->nq - i : r->batch;
            if (sitr_index_search_batch(r->idx, &r->q[i], m, r->radius, r->hits, per, found, qs) !=
                0) {
                fprintf(stderr, "search failed\n");
                exit(1);
            }
            for (size_t k = 0; k < m; k++) {
                r->probes += qs[k].probes;
                r->cands += qs[k].candidates;
                r->found += found[k];
            }
        }
        free(found);
        free(qs);
        return NULL;
    }
    for (size_t i = 0; i < r->nq; i++) {
        size_t found = 0;
        sitr_index_qstats_t qs;
        if (sitr_index_search(r->idx, &r->q[i], r->radius, r->hits, MAX_HITS, &found, &qs) != 0) {
            fprintf(stderr, "search failed\n");
            exit(1);
        }
        r->probes += qs.probes;
        r->cands += qs.candidates;
        r->found += found;
    }
    return NULL;
}

/* Runs all queries split over t threads (each thread its own slice, all
 * started before any is joined); returns queries/s. */
static double timed_runs(sitr_index_t *idx, const sitr_pdq_t *q, size_t nq, int radius, int t,
                         size_t batch, run_t *total)
{
    run_t r[8];
    pthread_t th[8];
    for (int i = 0; i < t; i++) {
        size_t lo = nq * (size_t)i / (size_t)t, hi = nq * (size_t)(i + 1) / (size_t)t;
        r[i] = (run_t){.idx = idx, .q = q + lo, .nq = hi - lo, .radius = radius, .batch = batch};
        r[i].hits = malloc(MAX_HITS * sizeof *r[i].hits);
        if (!r[i].hits) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    double t0 = now();
    for (int i = 0; i < t; i++) {
        if (pthread_create(&th[i], NULL, run_queries, &r[i]) != 0) {
            fprintf(stderr, "out of threads\n");
            exit(1);
        }
    }
    memset(total, 0, sizeof *total);
    for (int i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        total->probes += r[i].probes;
        total->cands += r[i].cands;
        total->found += r[i].found;
        free(r[i].hits);
    }
    double qps = (double)nq / (now() - t0);
    return qps;
}

/* Transparent huge pages backing this process, in MiB (-1 if unknown). */
static long thp_mib(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

__attribute__((target("popcnt"))) static size_t brute(const sitr_index_entry_t *e, size_t n,
                                                      const sitr_pdq_t *q, int radius,
                                                      uint64_t *ids, size_t max)
{
    uint64_t qw[4];
    memcpy(qw, q->b, 32);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t w[4];
        memcpy(w, e[i].hash.b, 32);
        int d = __builtin_popcountll(w[0] ^ qw[0]) + __builtin_popcountll(w[1] ^ qw[1]) +
                __builtin_popcountll(w[2] ^ qw[2]) + __builtin_popcountll(w[3] ^ qw[3]);
        if (d <= radius) {
            if (found < max)
                ids[found] = e[i].id;
            found++;
        }
    }
    return found;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void bench(const char *kind, size_t n, size_t nq, int radius, size_t sample, size_t nbrute,
                  int maxt, size_t batch)
{
    sitr_index_entry_t *e = malloc(n * sizeof *e);
    sitr_pdq_t *q = malloc(nq * sizeof *q);
    if (!e || !q) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    int clustered = strcmp(kind, "clustered") == 0;
    size_t centres = n / 2500 > 1000 ? n / 2500 : 1000;
    sitr_pdq_t *c = NULL;
    if (clustered) {
        c = malloc(centres * sizeof *c);
        for (size_t i = 0; i < centres; i++)
            sitr_synth_hash(&rng, &c[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (clustered) {
            /* near copies: 0..32 bits away from their centre */
            e[i].hash = c[sitr_synth_next(&rng) % centres];
            sitr_synth_flip_bits(&rng, &e[i].hash, (int)(sitr_synth_next(&rng) % 33));
        } else {
            sitr_synth_hash(&rng, &e[i].hash);
        }
        e[i].id = (uint64_t)i;
    }
    for (size_t i = 0; i < nq; i++) {
        if (i % 2 == 0) {
            q[i] = e[sitr_synth_next(&rng) % n].hash;
            sitr_synth_flip_bits(&rng, &q[i], (int)(sitr_synth_next(&rng) % 32));
        } else {
            sitr_synth_hash(&rng, &q[i]);
        }
    }
    free(c);

    sitr_index_t *idx = sitr_index_new();
    double t0 = now();
    if (!idx || sitr_index_bulk_build(idx, e, n, maxt) != 0) {
        fprintf(stderr, "build failed\n");
        exit(1);
    }
    double build_s = now() - t0;
    sitr_index_stats_t st;
    sitr_index_stats(idx, &st);
    long thp = thp_mib();

    run_t tot1, tot2, tb1, tb2;
    memset(&tot2, 0, sizeof tot2);
    memset(&tb2, 0, sizeof tb2);
    double qps1 = timed_runs(idx, q, nq, radius, 1, 0, &tot1);
    double qps2 = maxt >= 2 ? timed_runs(idx, q, nq, radius, maxt, 0, &tot2) : 0;
    double bqps1 = timed_runs(idx, q, nq, radius, 1, batch, &tb1);
    double bqps2 = maxt >= 2 ? timed_runs(idx, q, nq, radius, maxt, batch, &tb2) : 0;
    if (tb1.found != tot1.found || tb1.cands != tot1.cands ||
        (maxt >= 2 && (tot2.found != tot1.found || tb2.found != tot1.found))) {
        fprintf(stderr, "single and batched searches disagree\n");
        exit(1);
    }

    /* Recall and false positives on a sample (planted and random alike). */
    sitr_index_hit_t *hits = malloc(MAX_HITS * sizeof *hits);
    uint64_t *a = malloc(MAX_HITS * sizeof *a), *b = malloc(MAX_HITS * sizeof *b);
    size_t want_total = 0, missed = 0, extra = 0;
    if (sample > nq)
        sample = nq;
    for (size_t i = 0; i < sample; i++) {
        size_t found = 0;
        if (sitr_index_search(idx, &q[i], radius, hits, MAX_HITS, &found, NULL) != 0)
            exit(1);
        size_t nw = brute(e, n, &q[i], radius, b, MAX_HITS);
        if (found > MAX_HITS || nw > MAX_HITS) {
            fprintf(stderr, "too many hits to compare\n");
            exit(1);
        }
        for (size_t k = 0; k < found; k++)
            a[k] = hits[k].id;
        qsort(a, found, sizeof *a, cmp_u64);
        qsort(b, nw, sizeof *b, cmp_u64);
        size_t x = 0, y = 0;
        while (x < found || y < nw) {
            if (y == nw || (x < found && a[x] < b[y])) {
                extra++;
                x++;
            } else if (x == found || b[y] < a[x]) {
                missed++;
                y++;
            } else {
                x++;
                y++;
            }
        }
        want_total += nw;
    }
    t0 = now();
    for (size_t i = 0; i < nbrute; i++)
        (void)brute(e, n, &q[i], radius, b, MAX_HITS);
    double brute_qps = nbrute ? (double)nbrute / (now() - t0) : 0;

    printf("| %-9s | %5.2fM | %5.2f s | %5.1f | %5ld | %7.0f | %7.0f | %7.0f | %7.0f | %6.0f | "
           "%6.0f | %5.1f | %zu/%zu (%.2f%%), %zu false | %6.1f |\n",
           kind, (double)n / 1e6, build_s, (double)st.bytes / (double)n, thp, qps1, qps2, bqps1,
           bqps2, (double)tot1.probes / (double)nq, (double)tot1.cands / (double)nq,
           (double)tot1.found / (double)nq, want_total - missed, want_total,
           want_total ? 100.0 * (double)(want_total - missed) / (double)want_total : 100.0, extra,
           brute_qps);
    fflush(stdout);
    free(hits);
    free(a);
    free(b);
    sitr_index_free(idx);
    free(e);
    free(q);
}

static sitr_index_segment_t *segment(const sitr_index_entry_t *e, size_t n, int threads)
{
    sitr_index_segment_t *seg;
    if (sitr_index_segment_build(e, n, threads, &seg) != 0) {
        fprintf(stderr, "segment build failed\n");
        exit(1);
    }
    return seg;
}

static void attach(sitr_index_t *idx, sitr_index_segment_t *seg, uint64_t tag)
{
    if (sitr_index_attach(idx, seg, tag) != 0) {
        fprintf(stderr, "attach failed\n");
        exit(1);
    }
}

/* One row of -S: the layout's queries/s (single calls on 1 thread,
 * batched on 1 and maxt threads); returns the hits found. */
static uint64_t seg_row(const char *layout, sitr_index_t *idx, const sitr_pdq_t *q, size_t nq,
                        int radius, int maxt, size_t batch)
{
    run_t t1, b1, b2;
    double qps1 = timed_runs(idx, q, nq, radius, 1, 0, &t1);
    double bqps1 = timed_runs(idx, q, nq, radius, 1, batch, &b1);
    double bqps2 = timed_runs(idx, q, nq, radius, maxt, batch, &b2);
    if (b1.found != t1.found || b2.found != t1.found) {
        fprintf(stderr, "single and batched searches disagree\n");
        exit(1);
    }
    sitr_index_stats_t st;
    sitr_index_stats(idx, &st);
    printf("| %-28s | %5.2fM | %zu | %7.0f | %7.0f | %7.0f | %6.0f | %6.0f | %5.2f |\n", layout,
           (double)st.entries / 1e6, st.attached_segments, qps1, bqps1, bqps2,
           (double)t1.probes / (double)nq, (double)t1.cands / (double)nq,
           (double)t1.found / (double)nq);
    fflush(stdout);
    return t1.found;
}

static void bench_segments(size_t n, size_t nq, int radius, int maxt, size_t batch)
{
    size_t total = 2 * n;
    sitr_index_entry_t *e = malloc(total * sizeof *e);
    sitr_pdq_t *q1 = malloc(nq * sizeof *q1), *q2 = malloc(nq * sizeof *q2);
    if (!e || !q1 || !q2) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < total; i++) {
        sitr_synth_hash(&rng, &e[i].hash);
        e[i].id = (uint64_t)i;
    }
    /* Half planted at 0..31 bits from a stored entry (q1: of the first N,
     * q2: of all 2N), half random. */
    for (size_t i = 0; i < nq; i++) {
        if (i % 2 == 0) {
            size_t k = sitr_synth_next(&rng) % total;
            q1[i] = e[k % n].hash;
            q2[i] = e[k].hash;
            int flips = (int)(sitr_synth_next(&rng) % 32);
            sitr_synth_flip_bits(&rng, &q1[i], flips);
            sitr_synth_flip_bits(&rng, &q2[i], flips);
        } else {
            sitr_synth_hash(&rng, &q1[i]);
            q2[i] = q1[i];
        }
    }
    printf("| layout | entries | attached | q/s 1thr | batch q/s 1thr | batch q/s %dthr | probes/q "
           "| cands/q | hits/q |\n|---|---|---|---|---|---|---|---|---|\n",
           maxt);
    char name[64];
    sitr_index_t *idx = sitr_index_new();
    if (!idx || sitr_index_bulk_build(idx, e, n, maxt) != 0) {
        fprintf(stderr, "build failed\n");
        exit(1);
    }
    snprintf(name, sizeof name, "main %.2fM", (double)n / 1e6);
    seg_row(name, idx, q1, nq, radius, maxt, batch);
    if (sitr_index_bulk_build(idx, e, total, maxt) != 0) {
        fprintf(stderr, "build failed\n");
        exit(1);
    }
    snprintf(name, sizeof name, "main %.2fM", (double)total / 1e6);
    uint64_t want = seg_row(name, idx, q2, nq, radius, maxt, batch);
    if (sitr_index_bulk_build(idx, e, n, maxt) != 0) {
        fprintf(stderr, "build failed\n");
        exit(1);
    }
    attach(idx, segment(e + n, n, maxt), 1);
    snprintf(name, sizeof name, "main + 1 x %.2fM attached", (double)n / 1e6);
    uint64_t got1 = seg_row(name, idx, q2, nq, radius, maxt, batch);
    (void)sitr_index_detach(idx, 1);
    for (size_t k = 0; k < 4; k++) {
        size_t lo = n + n * k / 4, hi = n + n * (k + 1) / 4;
        attach(idx, segment(e + lo, hi - lo, maxt), 10 + k);
    }
    snprintf(name, sizeof name, "main + 4 x %.3fM attached", (double)n / 4e6);
    uint64_t got4 = seg_row(name, idx, q2, nq, radius, maxt, batch);
    if (got1 != want || got4 != want) {
        fprintf(stderr, "layouts of the same entries disagree\n");
        exit(1);
    }

    /* Build, attach, detach, and an attach over the limit. */
    double best[3] = {0, 1e9, 1e9};
    for (int threads = 1; threads <= 2; threads++)
        for (int rep = 0; rep < 3; rep++) {
            double t0 = now();
            sitr_index_segment_t *seg = segment(e + n, n, threads);
            double dt = now() - t0;
            sitr_index_segment_free(seg);
            if (dt < best[threads])
                best[threads] = dt;
        }
    sitr_index_t *one = sitr_index_new();
    if (!one || sitr_index_bulk_build(one, e, n, maxt) != 0) {
        fprintf(stderr, "build failed\n");
        exit(1);
    }
    sitr_index_segment_t *seg = segment(e + n, n, maxt);
    double t0 = now();
    attach(one, seg, 1);
    double attach_s = now() - t0;
    t0 = now();
    size_t left = sitr_index_detach(one, 1);
    double detach_s = now() - t0;
    if (left != n) {
        fprintf(stderr, "detach lost entries\n");
        exit(1);
    }
    sitr_index_free(one);
    seg = segment(e, 1000, 1);
    t0 = now();
    attach(idx, seg, 99); /* the fifth: main + 4 attached merged first */
    double merge_s = now() - t0;
    printf("\nsegment build of %.2fM entries: %.3f s on 1 thread, %.3f s on 2 (best of 3); "
           "attach %.1f us, detach (and free) %.1f ms; attach over the limit (merging "
           "%.2fM entries into the main segment) %.2f s\n",
           (double)n / 1e6, best[1], best[2], attach_s * 1e6, detach_s * 1e3, (double)total / 1e6,
           merge_s);
    sitr_index_free(idx);
    free(e);
    free(q1);
    free(q2);
}

int main(int argc, char **argv)
{
    size_t n = 1000000, nq = 20000, sample = 200, nbrute = 20;
    int radius = 31, maxt = 2;
    size_t batch = 32;
    const char *isa = NULL;
    const char *kind = "both";
    int opt, segments = 0;
    while ((opt = getopt(argc, argv, "n:q:r:s:b:t:d:B:i:S")) != -1) {
        switch (opt) {
        case 'n':
            n = strtoull(optarg, NULL, 10);
            break;
        case 'q':
            nq = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            radius = atoi(optarg);
            break;
        case 's':
            sample = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            nbrute = strtoull(optarg, NULL, 10);
            break;
        case 't':
            maxt = atoi(optarg);
            break;
        case 'd':
            kind = optarg;
            break;
        case 'B':
            batch = strtoull(optarg, NULL, 10);
            break;
        case 'i':
            isa = optarg;
            break;
        case 'S':
            segments = 1;
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-n entries] [-q queries] [-r radius] [-s sample] "
                    "[-b brute queries] [-t threads] [-d uniform|clustered|both] "
                    "[-B batch] [-i generic|popcnt|avx512] [-S]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n == 0 || nq == 0 || maxt < 1 || maxt > 8 || radius < 0 || radius > 256 || batch == 0 ||
        batch > 4096) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    if (isa && sitr_index_set_isa(isa) != 0) {
        fprintf(stderr, "search variant %s not available here\n", isa);
        return 2;
    }
    printf("radius %d, %zu queries (half planted at 0..31, half random), batches of %zu, search "
           "code %s, recall sample %zu\n\n",
           radius, nq, batch, sitr_index_isa(), sample);
    if (segments) {
        if (n < 4) {
            fprintf(stderr, "bad arguments\n");
            return 2;
        }
        bench_segments(n, nq, radius, maxt, batch);
        return 0;
    }
    printf("| data | N | build | B/ent | THP MiB | q/s 1thr | q/s %dthr | batch q/s 1thr | batch "
           "q/s %dthr | probes/q | cands/q | hits/q | recall vs brute force | brute q/s |\n",
           maxt, maxt);
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    if (strcmp(kind, "both") == 0 || strcmp(kind, "uniform") == 0)
        bench("uniform", n, nq, radius, sample, nbrute, maxt, batch);
    if (strcmp(kind, "both") == 0 || strcmp(kind, "clustered") == 0)
        bench("clustered", n, nq, radius, sample, nbrute, maxt, batch);
    return 0;
}
