/* bench-pdq: throughput of the PDQ core on 512x512 float luma, one thread.
 *
 * Measures hashes per second for each available implementation (portable
 * and the run-time dispatched one), with and without the eight dihedral
 * hashes, plus the share of the time spent in each stage.  The input is
 * the bridge photo's luma from the conformance corpus when available (so the
 * numbers are for a real image), otherwise deterministic noise.  Output is
 * one "key=value" line per measurement, easy to grep or paste into
 * docs/BENCHMARKS.md.  Times are the thread's CPU time.
 *
 * Usage: bench-pdq [seconds-per-measurement (default 1.0)] [luma.f32 512x512]
 * Not a test: nothing here asserts a speed. */
#include "pdq_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SITR_BENCH_LUMA
#define SITR_BENCH_LUMA "/testdata/pdq/luma/bridge-1-original.luma.f32"
#endif

/* Thread CPU time, not wall time: the benchmark measures one core, and on a
 * shared machine wall time also counts the time other processes ran. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int load(const char *path, float *luma, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    size_t got = fread(luma, sizeof(float), n, f);
    int extra = fgetc(f);
    fclose(f);
    return got == n && extra == EOF ? 0 : -1;
}

/* Runs fn repeatedly for about `secs` seconds; returns calls per second. */
static double rate(int impl, unsigned flags, const float *luma, double secs, sitr_pdq_result_t *r)
{
    /* Warm up: first call allocates the per-thread scratch. */
    if (sitr_pdq_hash_impl(luma, 512, 512, flags, impl, r) != 0)
        return -1.0;
    long n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 16; i++)
            if (sitr_pdq_hash_impl(luma, 512, 512, flags, impl, r) != 0)
                return -1.0;
        n += 16;
        t = now();
    } while (t - t0 < secs);
    return (double)n / (t - t0);
}

/* Microseconds per call of each stage, to see where time goes. */
static void stages(int impl, const float *luma, double secs)
{
    float a[64 * 64], b[256];
    sitr_pdq_t h[8];
    long n = 0;
    double t_down = 0, t_q = 0, t_dct = 0, t_bits = 0, t0 = now();
    volatile int sink = 0;
    while (now() - t0 < secs) {
        double s0 = now();
        if (sitr_pdq_downsample(luma, 512, 512, impl, a) != 0)
            return;
        double s1 = now();
        sink += sitr_pdq_quality(a, impl);
        double s2 = now();
        sitr_pdq_dct(a, impl, b);
        double s3 = now();
        sitr_pdq_threshold(b, sitr_pdq_median(b), &h[0]);
        sitr_pdq_dihedral(b, h);
        double s4 = now();
        t_down += s1 - s0;
        t_q += s2 - s1;
        t_dct += s3 - s2;
        t_bits += s4 - s3;
        n++;
    }
    (void)sink;
    printf("pdq_stage impl=%s filter_us=%.1f quality_us=%.1f dct_us=%.1f "
           "median_bits_dihedral_us=%.1f\n",
           sitr_pdq_impl_name(impl), 1e6 * t_down / (double)n, 1e6 * t_q / (double)n,
           1e6 * t_dct / (double)n, 1e6 * t_bits / (double)n);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    if (!(secs > 0.0))
        secs = 1.0;
    const size_t n = 512 * 512;
    float *luma = malloc(n * sizeof(float));
    if (luma == NULL)
        return 1;
    const char *src = argc > 2 ? argv[2] : SITR_SHARED_DIR SITR_BENCH_LUMA;
    if (load(src, luma, n) != 0) {
        fprintf(stderr,
                "bench-pdq: cannot read %s (the extended corpus, ../shared/testdata/pdq, is not "
                "present?): timing a synthetic 512x512 input instead\n",
                src);
        /* Deterministic noise with some structure. */
        uint32_t s = 12345;
        for (size_t i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            luma[i] = (float)((s >> 16) % 64 + (i % 512) / 4 + (i / 512) / 8);
        }
        src = "synthetic";
    }
    printf("pdq_bench input=%s size=512x512 seconds=%.2f dispatch=%s\n", src, secs,
           sitr_pdq_impl_name(sitr_pdq_impl_resolve(SITR_PDQ_IMPL_AUTO)));

    sitr_pdq_result_t ref, r;
    int have_ref = 0, rc = 0;
    for (int impl = SITR_PDQ_IMPL_SCALAR; impl < SITR_PDQ_IMPL_COUNT_; impl++) {
        if (!sitr_pdq_impl_supported(impl))
            continue;
        for (int dih = 0; dih < 2; dih++) {
            unsigned flags = dih ? SITR_PDQ_WANT_DIHEDRAL : 0;
            double hps = rate(impl, flags, luma, secs, &r);
            if (hps < 0) {
                fprintf(stderr, "bench-pdq: hashing failed\n");
                return 1;
            }
            printf("pdq_core impl=%s dihedral=%d hashes_per_s=%.0f us_per_hash=%.1f\n",
                   sitr_pdq_impl_name(impl), dih, hps, 1e6 / hps);
            if (dih) {
                /* All implementations must agree; say so if they do not. */
                if (!have_ref) {
                    ref = r;
                    have_ref = 1;
                } else if (memcmp(&ref, &r, sizeof r) != 0) {
                    fprintf(stderr, "bench-pdq: %s disagrees with scalar\n",
                            sitr_pdq_impl_name(impl));
                    rc = 1;
                }
            }
        }
        stages(impl, luma, secs / 2);
    }
    free(luma);
    return rc;
}
