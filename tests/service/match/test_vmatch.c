/* vmatch: the video matching decisions, on hand-made hit lists (order,
 * offsets, gaps, speed changes, mirrored copies, static frames, many hits)
 * and against brute-force references on random inputs: python-
 * threatexchange's copy rule computed from the hashes themselves, and the
 * longest excerpt chain by exhaustive search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "match/vmatch.h"

/* Deterministic generator (xorshift64*). */
static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static sitr_vmatch_params_t params(void)
{
    sitr_vmatch_params_t p;
    sitr_vmatch_params_default(&p);
    p.families = 0xffu;
    return p;
}

/* A query of n frames at 1 fps with distinct, usable hashes. */
static void make_frames(sitr_vmatch_frame_t *f, size_t n, double period)
{
    for (size_t i = 0; i < n; i++) {
        memset(&f[i], 0, sizeof f[i]);
        f[i].t = (double)i * period;
        for (int b = 0; b < SITR_PDQ_BYTES; b++)
            f[i].pdq.b[b] = (uint8_t)rnd();
        f[i].quality = 100;
    }
}

static sitr_vmatch_hit_t hit(uint32_t qf, uint32_t cf, double c, int variant)
{
    sitr_vmatch_hit_t h;
    memset(&h, 0, sizeof h);
    h.qframe = qf;
    h.cframe = cf;
    h.c0 = h.c1 = c;
    h.variant = (uint8_t)variant;
    h.distance = 10;
    return h;
}

typedef struct world {
    sitr_vmatch_frame_t frames[256];
    uint32_t work[512];
    sitr_vmatch_query_t q;
    sitr_vmatch_case_t cv;
    sitr_vmatch_params_t p;
    unsigned char scratch[1 << 16];
} world_t;

static world_t *world_new(size_t nq, double period, uint32_t case_frames, double case_duration)
{
    world_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    assert_true(nq <= 256);
    w->p = params();
    make_frames(w->frames, nq, period);
    assert_int_equal(sitr_vmatch_query_prepare(&w->q, w->frames, nq, w->work, &w->p), 0);
    w->cv.frames = case_frames;
    w->cv.duration = case_duration;
    w->cv.period = 1.0;
    return w;
}

static sitr_vmatch_result_t decide(world_t *w, sitr_vmatch_hit_t *h, size_t n)
{
    sitr_vmatch_result_t r;
    size_t need = sitr_vmatch_scratch_size(w->q.n, w->cv.frames, n);
    assert_true(need <= sizeof w->scratch);
    assert_int_equal(sitr_vmatch_decide(&w->q, &w->cv, h, n, &w->p, w->scratch, need, &r), 0);
    return r;
}

/* ---- excerpt, hand-made ---------------------------------------------------- */

/* Query frames 0..9 are case frames 100..109 (offset 100 s): a 10 s run. */
static void excerpt_in_order(void **state)
{
    (void)state;
    world_t *w = world_new(10, 1.0, 600, 600);
    sitr_vmatch_hit_t h[10];
    for (uint32_t i = 0; i < 10; i++)
        h[i] = hit(9 - i, 100 + 9 - i, 100.0 + 9 - i, SITR_PDQ_ORIG); /* any order */
    sitr_vmatch_result_t r = decide(w, h, 10);
    assert_true(r.excerpt);
    assert_true(r.run_seconds == 10.0);
    assert_int_equal(r.run_hits, 10);
    assert_true(r.run_q0 == 0.0 && r.run_q1 == 9.0);
    assert_true(r.run_c0 == 100.0 && r.run_c1 == 109.0);
    assert_true(r.run_case_share > 10.0 / 600 - 1e-9 && r.run_case_share < 10.0 / 600 + 1e-9);
    assert_true(r.copy_pytx); /* all the query's frames match: pytx says copy too */
    free(w);
}

/* The same frames in reverse case order never chain. */
static void excerpt_reversed(void **state)
{
    (void)state;
    world_t *w = world_new(10, 1.0, 600, 600);
    sitr_vmatch_hit_t h[10];
    for (uint32_t i = 0; i < 10; i++)
        h[i] = hit(i, 100 + 9 - i, 100.0 + 9 - i, SITR_PDQ_ORIG);
    sitr_vmatch_result_t r = decide(w, h, 10);
    assert_false(r.excerpt);
    assert_int_equal(r.run_hits, 1);
    assert_true(r.run_seconds == 1.0);
    assert_true(r.still);
    free(w);
}

/* Missing frames (gaps up to max_gap) and an extra, unrelated hit keep the
 * run; a gap longer than max_gap splits it. */
static void excerpt_gaps(void **state)
{
    (void)state;
    world_t *w = world_new(20, 1.0, 600, 600);
    sitr_vmatch_hit_t h[32];
    size_t n = 0;
    for (uint32_t i = 0; i < 8; i++) {
        if (i == 3 || i == 5 || i == 6)
            continue; /* missed frames: gaps of 2 and 3 s */
        h[n++] = hit(i, 50 + i, 50.0 + i, SITR_PDQ_ORIG);
    }
    h[n++] = hit(4, 400, 400.0, SITR_PDQ_ORIG); /* an extra hit far away */
    sitr_vmatch_result_t r = decide(w, h, n);
    assert_true(r.run_seconds == 8.0);
    assert_true(r.excerpt);
    /* Now a 4-s hole: 0..7 and 12..19 are two runs of 8 s. */
    n = 0;
    for (uint32_t i = 0; i < 20; i++) {
        if (i >= 8 && i < 12)
            continue;
        h[n++] = hit(i, 50 + i, 50.0 + i, SITR_PDQ_ORIG);
    }
    r = decide(w, h, n);
    assert_true(r.run_seconds == 8.0);
    w->p.max_gap = 5.0;
    assert_int_equal(sitr_vmatch_query_prepare(&w->q, w->frames, 20, w->work, &w->p), 0);
    r = decide(w, h, n);
    assert_true(r.run_seconds == 20.0);
    free(w);
}

/* A sped-up copy (1.25x: 1.25 case seconds per query second) and a
 * frame-rate change (query every 0.5 s) are runs; 2x is not once the
 * per-step slack is small (a step's window is slope * dq +- jitter). */
static void excerpt_speed(void **state)
{
    (void)state;
    world_t *w = world_new(12, 1.0, 600, 600);
    sitr_vmatch_hit_t h[12];
    for (uint32_t i = 0; i < 12; i++)
        h[i] = hit(i, 20 + i, 20.0 + 1.25 * i, SITR_PDQ_ORIG);
    sitr_vmatch_result_t r = decide(w, h, 12);
    assert_true(r.run_seconds == 12.0);
    for (uint32_t i = 0; i < 12; i++)
        h[i] = hit(i, 20 + 2 * i, 20.0 + 2.0 * i, SITR_PDQ_ORIG);
    w->p.jitter = 1.0;
    r = decide(w, h, 12);
    assert_true(r.run_seconds == 12.0); /* 2 <= 1.33 + 1: inside one step's slack */
    w->p.jitter = 0.5;
    r = decide(w, h, 12);
    assert_false(r.excerpt);
    assert_true(r.run_seconds == 1.0);
    for (uint32_t i = 0; i < 12; i++)
        h[i] = hit(i, 20 + i, 20.0 + 1.25 * i, SITR_PDQ_ORIG);
    r = decide(w, h, 12);
    assert_true(r.run_seconds == 12.0);
    free(w);

    w = world_new(20, 0.5, 600, 600);
    sitr_vmatch_hit_t g[20];
    for (uint32_t i = 0; i < 20; i++)
        g[i] = hit(i, 300 + i / 2, 300.0 + (double)(i / 2),
                   SITR_PDQ_ORIG); /* 2 query frames per case frame */
    r = decide(w, g, 20);
    assert_true(r.excerpt);
    assert_true(r.run_seconds == 10.0); /* 9.5 s between first and last, plus 0.5 */
    free(w);
}

/* A mirrored copy matches through a flipped variant (FLIPY for a left-right
 * mirror; any one family here) consistently; mixing
 * orientations along the run does not make one run. */
static void excerpt_mirrored(void **state)
{
    (void)state;
    world_t *w = world_new(10, 1.0, 600, 600);
    sitr_vmatch_hit_t h[10];
    for (uint32_t i = 0; i < 10; i++)
        h[i] = hit(i, 7 + i, 7.0 + i, SITR_PDQ_FLIPY);
    sitr_vmatch_result_t r = decide(w, h, 10);
    assert_true(r.excerpt);
    assert_int_equal(r.run_family, SITR_PDQ_FLIPY);
    assert_true(r.copy);
    assert_false(r.copy_pytx);
    assert_int_equal(r.copy_family, SITR_PDQ_FLIPY);
    for (uint32_t i = 0; i < 10; i++)
        h[i] = hit(i, 7 + i, 7.0 + i, i % 2 ? SITR_PDQ_FLIPY : SITR_PDQ_ORIG);
    r = decide(w, h, 10);
    assert_true(r.run_seconds == 9.0); /* one orientation every 2 s: 0,2,4,6,8 */
    w->p.max_gap = 1.5;
    r = decide(w, h, 10);
    assert_false(r.excerpt);
    assert_true(r.run_seconds == 1.0);
    w->p.max_gap = 3.0;
    /* The trimmed variant is orientation ORIG: it chains with ORIG. */
    for (uint32_t i = 0; i < 10; i++)
        h[i] = hit(i, 7 + i, 7.0 + i, i % 2 ? SITR_VMATCH_TRIMMED : SITR_PDQ_ORIG);
    r = decide(w, h, 10);
    assert_true(r.run_seconds == 10.0);
    /* Disallowed families are ignored. */
    w->p.families = 1u;
    for (uint32_t i = 0; i < 10; i++)
        h[i] = hit(i, 7 + i, 7.0 + i, SITR_PDQ_FLIPY);
    r = decide(w, h, 10);
    assert_false(r.excerpt);
    assert_false(r.still);
    assert_false(r.copy);
    free(w);
}

/* One case frame matched by a whole stretch of query frames is a still, not
 * a run; a stored span of identical case frames is a run over its span. */
static void excerpt_static(void **state)
{
    (void)state;
    world_t *w = world_new(10, 1.0, 600, 600);
    sitr_vmatch_hit_t h[10];
    for (uint32_t i = 0; i < 10; i++)
        h[i] = hit(i, 42, 42.0, SITR_PDQ_ORIG);
    sitr_vmatch_result_t r = decide(w, h, 10);
    assert_false(r.excerpt);
    assert_true(r.still);
    for (uint32_t i = 0; i < 10; i++) {
        h[i] = hit(i, 42, 42.0, SITR_PDQ_ORIG);
        h[i].c1 = 52.0; /* the case shows this picture from 42 to 52 s */
    }
    r = decide(w, h, 10);
    assert_true(r.excerpt);
    assert_true(r.run_seconds == 10.0);
    free(w);
}

/* Every query frame hits every case frame (a featureless clip): the answer
 * comes out and is the full diagonal. */
static void excerpt_many_hits(void **state)
{
    (void)state;
    world_t *w = world_new(120, 1.0, 400, 400);
    size_t n = 120 * 400;
    sitr_vmatch_hit_t *h = malloc(n * sizeof *h);
    assert_non_null(h);
    for (uint32_t i = 0; i < 120; i++)
        for (uint32_t c = 0; c < 400; c++)
            h[i * 400 + c] = hit(i, c, (double)c, SITR_PDQ_ORIG);
    size_t need = sitr_vmatch_scratch_size(w->q.n, w->cv.frames, n);
    void *scratch = malloc(need);
    assert_non_null(scratch);
    sitr_vmatch_result_t r;
    assert_int_equal(sitr_vmatch_decide(&w->q, &w->cv, h, n, &w->p, scratch, need, &r), 0);
    assert_true(r.excerpt);
    assert_true(r.run_seconds == 120.0);
    assert_true(r.copy_pytx);
    assert_true(r.pytx_query == 100.0 && r.pytx_compared == 100.0);
    assert_int_equal(sitr_vmatch_decide(&w->q, &w->cv, h, n, &w->p, scratch, need - 1, &r), -1);
    free(scratch);
    free(h);
    free(w);
}

/* ---- copy ------------------------------------------------------------------ */

/* Duplicated static frames count once; low-quality frames not at all; the
 * decision is pytx's matched * 100 / usable >= 80. */
static void copy_dedupe_and_quality(void **state)
{
    (void)state;
    world_t *w = world_new(10, 1.0, 5, 10);
    /* Frames 5..9 repeat frame 0's hash: the query has 5 distinct hashes. */
    for (int i = 5; i < 10; i++)
        w->frames[i].pdq = w->frames[0].pdq;
    w->frames[4].quality = 49; /* 4 usable distinct hashes: 0,1,2,3 */
    assert_int_equal(sitr_vmatch_query_prepare(&w->q, w->frames, 10, w->work, &w->p), 0);
    assert_int_equal(w->q.usable, 4);
    sitr_vmatch_hit_t h[12];
    size_t n = 0;
    for (uint32_t i = 5; i < 10; i++)
        h[n++] = hit(i, 0, 0.0, SITR_PDQ_ORIG); /* the repeats: distinct hash 0 once */
    h[n++] = hit(1, 1, 1.0, SITR_PDQ_ORIG);
    h[n++] = hit(2, 2, 2.0, SITR_PDQ_ORIG);
    h[n++] = hit(4, 4, 4.0, SITR_PDQ_ORIG); /* unusable query frame */
    sitr_vmatch_result_t r = decide(w, h, n);
    assert_true(r.pytx_query == 75.0);
    assert_true(r.pytx_compared == 60.0);
    assert_false(r.copy_pytx);
    assert_false(r.copy);
    h[n++] = hit(3, 3, 3.0, SITR_PDQ_ORIG);
    r = decide(w, h, n);
    assert_true(r.pytx_query == 100.0);
    assert_true(r.copy_pytx && r.copy);
    /* Only trimmed or query-trimmed hits: not pytx, but the ORIG family. */
    n = 0;
    for (uint32_t i = 0; i < 4; i++) {
        h[n] = hit(i, i, i, i % 2 ? SITR_VMATCH_TRIMMED : SITR_PDQ_ORIG);
        h[n++].qtrim = (uint8_t)(i % 2 == 0);
    }
    r = decide(w, h, n);
    assert_true(r.pytx_query == 0.0);
    assert_false(r.copy_pytx);
    assert_true(r.copy);
    assert_true(r.copy_query == 100.0);
    /* Over the distance threshold: nothing. */
    for (size_t i = 0; i < n; i++)
        h[i].distance = 32;
    r = decide(w, h, n);
    assert_false(r.copy || r.still);
    assert_int_equal(r.still_distance, -1);
    free(w);
}

/* pytx dedupes first, then filters: a hash first seen with quality 40 is
 * dropped even where it reappears with quality 90. */
static void copy_dedupe_before_filter(void **state)
{
    (void)state;
    world_t *w = world_new(3, 1.0, 3, 3);
    w->frames[2].pdq = w->frames[0].pdq;
    w->frames[0].quality = 40;
    w->frames[2].quality = 90;
    assert_int_equal(sitr_vmatch_query_prepare(&w->q, w->frames, 3, w->work, &w->p), 0);
    assert_int_equal(w->q.usable, 1);
    assert_true(w->q.rep[2] == UINT32_MAX);
    assert_true(w->q.rep[1] == 1);
    free(w);
}

static int popcount256(const sitr_pdq_t *a, const sitr_pdq_t *b)
{
    int d = 0;
    for (int i = 0; i < SITR_PDQ_BYTES; i++)
        d += __builtin_popcount((unsigned)(a->b[i] ^ b->b[i]));
    return d;
}

/* A hash near h: flips k random bits. */
static sitr_pdq_t near(const sitr_pdq_t *h, int k)
{
    sitr_pdq_t o = *h;
    for (int i = 0; i < k; i++) {
        unsigned bit = rnd_below(256);
        o.b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    return o;
}

/* The pytx rule straight from its definition: dedupe, filter, then for
 * each kept hash "any within 31 on the other side". */
static void pytx_reference(const sitr_vmatch_frame_t *qf, size_t nq, const sitr_vmatch_frame_t *cf,
                           size_t nc, double *qpct, double *cpct)
{
    size_t kq = 0, kc = 0, mq = 0, mc = 0;
    const sitr_vmatch_frame_t *fq[256], *fc[256];
    for (size_t i = 0; i < nq; i++) {
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= memcmp(&qf[i].pdq, &qf[j].pdq, sizeof qf[i].pdq) == 0;
        if (!dup && qf[i].quality >= 50)
            fq[kq++] = &qf[i];
    }
    for (size_t i = 0; i < nc; i++) {
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= memcmp(&cf[i].pdq, &cf[j].pdq, sizeof cf[i].pdq) == 0;
        if (!dup && cf[i].quality >= 50)
            fc[kc++] = &cf[i];
    }
    for (size_t i = 0; i < kq; i++) {
        int any = 0;
        for (size_t j = 0; j < kc; j++)
            any |= popcount256(&fq[i]->pdq, &fc[j]->pdq) <= 31;
        mq += (size_t)any;
    }
    for (size_t j = 0; j < kc; j++) {
        int any = 0;
        for (size_t i = 0; i < kq; i++)
            any |= popcount256(&fq[i]->pdq, &fc[j]->pdq) <= 31;
        mc += (size_t)any;
    }
    *qpct = kq ? (double)mq * 100.0 / (double)kq : 0;
    *cpct = kc ? (double)mc * 100.0 / (double)kc : 0;
}

/* Random query and case videos sharing some frames (near copies,
 * duplicates, low quality): the index's hits (every case frame within 31)
 * give exactly pytx's percentages. */
static void copy_vs_pytx_random(void **state)
{
    (void)state;
    static sitr_vmatch_frame_t qf[64], cf[64];
    static uint32_t work[128], cid[64];
    static sitr_vmatch_hit_t h[64 * 64];
    static unsigned char scratch[1 << 17];
    sitr_vmatch_params_t p = params();
    for (int round = 0; round < 300; round++) {
        size_t nc = 1 + rnd_below(40), nq = 1 + rnd_below(40);
        make_frames(cf, nc, 1.0);
        make_frames(qf, nq, 1.0);
        for (size_t i = 0; i < nc; i++) {
            if (rnd_below(5) == 0)
                cf[i].quality = 30;
            if (i && rnd_below(6) == 0)
                cf[i].pdq = cf[rnd_below((unsigned)i)].pdq;
        }
        for (size_t i = 0; i < nq; i++) {
            unsigned k = rnd_below(8);
            if (k < 4)
                qf[i].pdq = near(&cf[rnd_below((unsigned)nc)].pdq, (int)rnd_below(40));
            else if (k == 4 && i)
                qf[i].pdq = qf[rnd_below((unsigned)i)].pdq;
            if (rnd_below(6) == 0)
                qf[i].quality = 10 + (int)rnd_below(50);
        }
        /* The case as stored: dedupe then filter; cframe = distinct number. */
        uint32_t ncase = 0;
        for (size_t i = 0; i < nc; i++) {
            cid[i] = UINT32_MAX;
            int dup = 0;
            for (size_t j = 0; j < i; j++)
                dup |= memcmp(&cf[i].pdq, &cf[j].pdq, sizeof cf[i].pdq) == 0;
            if (!dup && cf[i].quality >= 50)
                cid[i] = ncase++;
        }
        sitr_vmatch_query_t q;
        assert_int_equal(sitr_vmatch_query_prepare(&q, qf, nq, work, &p), 0);
        size_t n = 0;
        for (size_t i = 0; i < nq; i++) {
            if (qf[i].quality < 50)
                continue; /* the index is searched with usable frames only */
            for (size_t j = 0; j < nc; j++) {
                int d = popcount256(&qf[i].pdq, &cf[j].pdq);
                if (cid[j] != UINT32_MAX && d <= 31) {
                    h[n] = hit((uint32_t)i, cid[j], (double)j, SITR_PDQ_ORIG);
                    h[n++].distance = (uint16_t)d;
                }
            }
        }
        sitr_vmatch_case_t cv = {ncase, (double)nc, 1.0};
        sitr_vmatch_result_t r;
        size_t need = sitr_vmatch_scratch_size(nq, ncase, n);
        assert_true(need <= sizeof scratch);
        assert_int_equal(sitr_vmatch_decide(&q, &cv, h, n, &p, scratch, need, &r), 0);
        double wq, wc;
        pytx_reference(qf, nq, cf, nc, &wq, &wc);
        assert_true(r.pytx_query == wq);
        assert_true(r.pytx_compared == wc);
        assert_int_equal(r.copy_pytx, ncase > 0 && wq >= 80.0);
    }
}

/* ---- excerpt against exhaustive search --------------------------------------- */

typedef struct bf {
    const sitr_vmatch_hit_t *h;
    size_t n;
    const sitr_vmatch_frame_t *f;
    const sitr_vmatch_params_t *p;
    double best;
} bf_t;

static int fam(const sitr_vmatch_hit_t *h)
{
    return h->variant == SITR_VMATCH_TRIMMED ? 0 : h->variant;
}

/* The step rule written out independently: some dc within both spans'
 * difference, within the speed window, and > 0. */
static int bf_step(const bf_t *b, const sitr_vmatch_hit_t *x, const sitr_vmatch_hit_t *y)
{
    if (fam(x) != fam(y))
        return 0;
    double dq = b->f[y->qframe].t - b->f[x->qframe].t;
    if (!(dq > 0) || dq > b->p->max_gap)
        return 0;
    double lo = b->p->slope_min * dq - b->p->jitter, hi = b->p->slope_max * dq + b->p->jitter;
    if (y->c0 - x->c1 > lo)
        lo = y->c0 - x->c1;
    if (y->c1 - x->c0 < hi)
        hi = y->c1 - x->c0;
    return lo <= hi && hi > 0;
}

static void bf_walk(bf_t *b, size_t at, double start)
{
    double len = b->f[b->h[at].qframe].t - start;
    if (len > b->best)
        b->best = len;
    for (size_t j = 0; j < b->n; j++) {
        if (bf_step(b, &b->h[at], &b->h[j]))
            bf_walk(b, j, start);
    }
}

static void excerpt_vs_brute_random(void **state)
{
    (void)state;
    static sitr_vmatch_frame_t qf[40];
    static uint32_t work[80];
    static sitr_vmatch_hit_t h[16], copy[16];
    static unsigned char scratch[1 << 14];
    for (int round = 0; round < 3000; round++) {
        sitr_vmatch_params_t p = params();
        p.jitter = 0.25 * rnd_below(6);
        p.max_gap = 1.0 + 0.5 * rnd_below(6);
        size_t nq = 4 + rnd_below(30);
        make_frames(qf, nq, 1.0);
        for (size_t i = 1; i < nq; i++) /* uneven frame times, some equal */
            qf[i].t = qf[i - 1].t + 0.25 * rnd_below(7);
        sitr_vmatch_query_t q;
        assert_int_equal(sitr_vmatch_query_prepare(&q, qf, nq, work, &p), 0);
        size_t n = 1 + rnd_below(14);
        double off = 0.5 * rnd_below(20);
        for (size_t i = 0; i < n; i++) {
            uint32_t qi = rnd_below((unsigned)nq);
            double c = rnd_below(3)
                           ? qf[qi].t * (0.7 + 0.1 * rnd_below(8)) + off + 0.25 * rnd_below(5)
                           : 0.25 * rnd_below(120);
            h[i] = hit(qi, rnd_below(50), c, rnd_below(4) ? SITR_PDQ_ORIG : (int)rnd_below(9));
            if (rnd_below(5) == 0)
                h[i].c1 = c + 0.5 * rnd_below(8);
        }
        bf_t b = {h, n, qf, &p, -1};
        for (size_t i = 0; i < n; i++)
            bf_walk(&b, i, qf[h[i].qframe].t);
        memcpy(copy, h, n * sizeof *h);
        sitr_vmatch_case_t cv = {50, 100, 1};
        sitr_vmatch_result_t r;
        size_t need = sitr_vmatch_scratch_size(nq, 50, n);
        assert_true(need <= sizeof scratch);
        assert_int_equal(sitr_vmatch_decide(&q, &cv, copy, n, &p, scratch, need, &r), 0);
        assert_true(r.run_seconds == b.best + q.period);
        assert_true(r.run_q1 - r.run_q0 == b.best);
        assert_int_equal(r.excerpt, r.run_seconds >= p.excerpt_seconds);
    }
}

/* ---- still and image-in-video ------------------------------------------------- */

static void still_rules(void **state)
{
    (void)state;
    sitr_vmatch_params_t p = params();
    sitr_vmatch_hit_t h[3] = {hit(0, 1, 1.0, SITR_PDQ_ORIG), hit(0, 2, 2.0, SITR_PDQ_FLIPY),
                              hit(0, 3, 3.0, SITR_PDQ_ROT90)};
    h[0].distance = 31;
    h[1].distance = 20;
    h[2].distance = 5;
    assert_int_equal(sitr_vmatch_still(h, 3, &p), 5);
    p.families = 1u << SITR_PDQ_ORIG | 1u << SITR_PDQ_FLIPY;
    assert_int_equal(sitr_vmatch_still(h, 3, &p), 20);
    p.families = 1u;
    assert_int_equal(sitr_vmatch_still(h, 3, &p), 31);
    h[0].distance = 32;
    assert_int_equal(sitr_vmatch_still(h, 3, &p), -1);

    world_t *w = world_new(5, 1.0, 1, 0);
    w->frames[3].quality = 20;
    assert_int_equal(sitr_vmatch_query_prepare(&w->q, w->frames, 5, w->work, &w->p), 0);
    sitr_vmatch_hit_t g[3] = {hit(3, 0, 0, SITR_PDQ_ORIG), hit(4, 0, 0, SITR_PDQ_ORIG),
                              hit(2, 0, 0, SITR_PDQ_ORIG)};
    g[0].distance = 1; /* unusable query frame */
    g[1].distance = 12;
    g[2].distance = 12; /* same distance, earlier frame */
    uint32_t at = 0;
    assert_int_equal(sitr_vmatch_image_in_video(&w->q, g, 3, &w->p, &at), 12);
    assert_int_equal(at, 2);
    assert_int_equal(sitr_vmatch_image_in_video(&w->q, g, 1, &w->p, &at), -1);
    assert_true(at == UINT32_MAX);
    free(w);
}

static void prepare_rejects(void **state)
{
    (void)state;
    sitr_vmatch_params_t p = params();
    sitr_vmatch_frame_t f[3];
    uint32_t work[6];
    sitr_vmatch_query_t q;
    make_frames(f, 3, 1.0);
    f[2].t = 0.5;
    assert_int_equal(sitr_vmatch_query_prepare(&q, f, 3, work, &p), -1);
    assert_int_equal(sitr_vmatch_query_prepare(&q, f, 0, work, &p), 0);
    assert_int_equal(q.usable, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(excerpt_in_order),
        cmocka_unit_test(excerpt_reversed),
        cmocka_unit_test(excerpt_gaps),
        cmocka_unit_test(excerpt_speed),
        cmocka_unit_test(excerpt_mirrored),
        cmocka_unit_test(excerpt_static),
        cmocka_unit_test(excerpt_many_hits),
        cmocka_unit_test(copy_dedupe_and_quality),
        cmocka_unit_test(copy_dedupe_before_filter),
        cmocka_unit_test(copy_vs_pytx_random),
        cmocka_unit_test(excerpt_vs_brute_random),
        cmocka_unit_test(still_rules),
        cmocka_unit_test(prepare_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
