/* Video matching decisions (vmatch.h): copy, excerpt and still from the
 * index hits of one (query, case video) pair.
 *
 * Copy is a count: one bit per (orientation family, distinct usable query
 * hash) and per (family, distinct case hash) that some hit reaches; the
 * python-threatexchange figures use a ninth pair of bitmaps fed only by
 * plain-hash hits on the ORIG variant, which is exactly the comparison HMA
 * makes (the index answers every case frame within the radius, so "some
 * case frame within 31" is "some hit").
 *
 * Excerpt is a longest-chain dynamic programme over the hits sorted by
 * (family, query frame, case time).  For each hit it keeps the earliest
 * query time at which a valid chain ending at that hit can start; a chain's
 * validity is a condition on consecutive hits only, so that value is exact
 * (optimal substructure) and the longest run is the best hit's
 * time minus it.  The predecessors of a hit are looked up per earlier query
 * frame (at most max_gap back) by binary search on case time, so unrelated
 * hits of a frame are never visited: the cost per hit is the number of
 * hits whose case time falls in the step's window.
 *
 * No allocation: the query's dedupe uses the caller's work array, a
 * decision uses the caller's scratch buffer.  No shared state. */
#include "vmatch.h"

#include <math.h>
#include <string.h>

#define NONE UINT32_MAX

void sitr_vmatch_params_default(sitr_vmatch_params_t *p)
{
    p->max_distance = 31;
    p->min_quality = SITR_PDQ_MIN_QUALITY;
    p->copy_percent = 80.0;
    p->excerpt_seconds = 5.0;
    p->slope_min = 0.75;
    p->slope_max = 1.33;
    p->jitter = 1.0;
    p->max_gap = 3.0;
    p->families = 1u << SITR_PDQ_ORIG | 1u << SITR_PDQ_FLIPY; /* FLIPY: a left-right mirror */
}

/* ---- query preparation -------------------------------------------------- */

static int hash_cmp(const sitr_vmatch_frame_t *f, uint32_t a, uint32_t b)
{
    int c = memcmp(f[a].pdq.b, f[b].pdq.b, SITR_PDQ_BYTES);
    if (c)
        return c;
    return a < b ? -1 : a > b;
}

/* Bottom-up merge sort of the indices v[0..n) by (hash, index), using tmp. */
static void sort_by_hash(const sitr_vmatch_frame_t *f, uint32_t *v, uint32_t *tmp, size_t n)
{
    uint32_t *src = v, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = hash_cmp(f, src[i], src[j]) <= 0 ? src[i++] : src[j++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
}

int sitr_vmatch_query_prepare(sitr_vmatch_query_t *q, const sitr_vmatch_frame_t *frames, size_t n,
                              uint32_t *work, const sitr_vmatch_params_t *p)
{
    memset(q, 0, sizeof *q);
    if (n >= UINT32_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(frames[i].t) || (i && frames[i].t < frames[i - 1].t))
            return -1;
    }
    uint32_t *rep = work, *order = work + n;
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    sort_by_hash(frames, order, rep, n);
    /* In each run of equal hashes the first index is the earliest frame:
     * the one pytx's dedupe keeps, with its quality. */
    size_t usable = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && memcmp(frames[order[i]].pdq.b, frames[order[j]].pdq.b, SITR_PDQ_BYTES) == 0)
            j++;
        uint32_t first = order[i];
        int ok = frames[first].quality >= p->min_quality;
        usable += (size_t)ok;
        for (size_t k = i; k < j; k++)
            rep[order[k]] = ok ? first : NONE;
        i = j;
    }
    q->frames = frames;
    q->n = n;
    q->rep = rep;
    q->usable = usable;
    if (n > 1) {
        double per = (frames[n - 1].t - frames[0].t) / (double)(n - 1);
        q->period = per < p->max_gap ? per : p->max_gap;
    }
    return 0;
}

/* ---- decision ----------------------------------------------------------- */

static int family_of(const sitr_vmatch_hit_t *h)
{
    return h->variant == SITR_VMATCH_TRIMMED ? SITR_PDQ_ORIG : h->variant;
}

static size_t words64(size_t bits)
{
    return (bits + 63) / 64;
}

size_t sitr_vmatch_scratch_size(size_t query_frames, uint32_t case_frames, size_t nhits)
{
    /* Nine query bitmaps and nine case bitmaps (eight families and pytx),
     * then per hit the earliest start, the chain length and predecessor,
     * and the start of its query-frame group; 8 bytes for alignment. */
    size_t bits = (SITR_VMATCH_FAMILIES + 1) * (words64(query_frames) + words64(case_frames));
    return 8 + bits * 8 + nhits * (sizeof(double) + 3 * sizeof(uint32_t));
}

static int hit_cmp(const sitr_vmatch_hit_t *a, const sitr_vmatch_hit_t *b)
{
    int fa = family_of(a), fb = family_of(b);
    if (fa != fb)
        return fa < fb ? -1 : 1;
    if (a->qframe != b->qframe)
        return a->qframe < b->qframe ? -1 : 1;
    if (a->c0 != b->c0)
        return a->c0 < b->c0 ? -1 : 1;
    if (a->c1 != b->c1)
        return a->c1 < b->c1 ? -1 : 1;
    if (a->cframe != b->cframe)
        return a->cframe < b->cframe ? -1 : 1;
    if (a->distance != b->distance)
        return a->distance < b->distance ? -1 : 1;
    if (a->variant != b->variant)
        return a->variant < b->variant ? -1 : 1;
    return (int)a->qtrim - (int)b->qtrim;
}

/* In-place heap sort (no allocation, O(n log n) worst case). */
static void sift(sitr_vmatch_hit_t *h, size_t root, size_t n)
{
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            return;
        if (c + 1 < n && hit_cmp(&h[c], &h[c + 1]) < 0)
            c++;
        if (hit_cmp(&h[root], &h[c]) >= 0)
            return;
        sitr_vmatch_hit_t t = h[root];
        h[root] = h[c];
        h[c] = t;
        root = c;
    }
}

static void sort_hits(sitr_vmatch_hit_t *h, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(h, i, n);
    for (size_t end = n; end > 1; end--) {
        sitr_vmatch_hit_t t = h[0];
        h[0] = h[end - 1];
        h[end - 1] = t;
        sift(h, 0, end - 1);
    }
}

static void bit_set(uint64_t *m, size_t i)
{
    m[i / 64] |= (uint64_t)1 << (i % 64);
}

static size_t bit_count(const uint64_t *m, size_t words)
{
    size_t c = 0;
    for (size_t i = 0; i < words; i++)
        c += (size_t)__builtin_popcountll(m[i]);
    return c;
}

/* Whether b may follow a in a chain, dq = query time b - a > 0: some case
 * advance dc that both spans allow is > 0 and within the speed window. */
static int step_ok(const sitr_vmatch_hit_t *a, const sitr_vmatch_hit_t *b, double dq,
                   const sitr_vmatch_params_t *p)
{
    double lo = b->c0 - a->c1, hi = b->c1 - a->c0;
    double wlo = p->slope_min * dq - p->jitter, whi = p->slope_max * dq + p->jitter;
    double l = lo > wlo ? lo : wlo, h = hi < whi ? hi : whi;
    return l <= h && h > 0;
}

static int hit_valid(const sitr_vmatch_query_t *q, const sitr_vmatch_case_t *cv,
                     const sitr_vmatch_hit_t *h, const sitr_vmatch_params_t *p)
{
    if (h->qframe >= q->n || q->rep[h->qframe] == NONE || h->cframe >= cv->frames)
        return 0;
    if (h->distance > p->max_distance || h->variant >= SITR_VMATCH_VARIANTS)
        return 0;
    if (!(p->families & (1u << family_of(h))))
        return 0;
    return isfinite(h->c0) && isfinite(h->c1) && h->c0 <= h->c1;
}

static double pct(size_t num, size_t den)
{
    return den ? (double)num * 100.0 / (double)den : 0.0;
}

int sitr_vmatch_decide(const sitr_vmatch_query_t *q, const sitr_vmatch_case_t *cv,
                       sitr_vmatch_hit_t *hits, size_t n, const sitr_vmatch_params_t *p,
                       void *scratch, size_t scratch_len, sitr_vmatch_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->still_distance = -1;
    out->copy_family = SITR_PDQ_ORIG;
    out->run_family = SITR_PDQ_ORIG;
    if (scratch_len < sitr_vmatch_scratch_size(q->n, cv->frames, n))
        return -1;

    /* Keep the usable hits. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (hit_valid(q, cv, &hits[i], p))
            hits[m++] = hits[i];
    }

    uintptr_t base = ((uintptr_t)scratch + 7) & ~(uintptr_t)7;
    size_t qw = words64(q->n), cw = words64(cv->frames);
    uint64_t *qbits = (uint64_t *)base;
    uint64_t *cbits = qbits + (SITR_VMATCH_FAMILIES + 1) * qw;
    memset(qbits, 0, (SITR_VMATCH_FAMILIES + 1) * (qw + cw) * sizeof *qbits);
    double *first = (double *)(cbits + (SITR_VMATCH_FAMILIES + 1) * cw);
    uint32_t *cnt = (uint32_t *)(first + m);
    uint32_t *pred = cnt + m;
    uint32_t *gstart = pred + m;

    /* Copy and still. */
    for (size_t i = 0; i < m; i++) {
        const sitr_vmatch_hit_t *h = &hits[i];
        int f = family_of(h);
        uint32_t r = q->rep[h->qframe];
        bit_set(qbits + (size_t)f * qw, r);
        bit_set(cbits + (size_t)f * cw, h->cframe);
        if (h->variant == SITR_PDQ_ORIG && !h->qtrim) {
            bit_set(qbits + (size_t)SITR_VMATCH_FAMILIES * qw, r);
            bit_set(cbits + (size_t)SITR_VMATCH_FAMILIES * cw, h->cframe);
        }
        if (out->still_distance < 0 || h->distance < out->still_distance)
            out->still_distance = h->distance;
    }
    out->still = out->still_distance >= 0;
    size_t pq = bit_count(qbits + (size_t)SITR_VMATCH_FAMILIES * qw, qw);
    size_t pc = bit_count(cbits + (size_t)SITR_VMATCH_FAMILIES * cw, cw);
    out->pytx_query = pct(pq, q->usable);
    out->pytx_compared = pct(pc, cv->frames);
    out->copy_pytx = q->usable > 0 && cv->frames > 0 && (p->families & 1u) &&
                     (double)pq * 100.0 / (double)q->usable >= p->copy_percent;
    size_t best_q = 0;
    for (int f = 0; f < SITR_VMATCH_FAMILIES; f++) {
        size_t fq = bit_count(qbits + (size_t)f * qw, qw);
        if (fq > best_q) {
            best_q = fq;
            out->copy_family = f;
            out->copy_compared = pct(bit_count(cbits + (size_t)f * cw, cw), cv->frames);
        }
    }
    out->copy_query = pct(best_q, q->usable);
    out->copy = out->copy_pytx ||
                (q->usable > 0 && (double)best_q * 100.0 / (double)q->usable >= p->copy_percent);

    /* Sorted, one hit per (family, query frame, stored case frame): the
     * same frame reached through several variants of one orientation (plain
     * and trimmed) is one chain candidate. */
    sort_hits(hits, m);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (k > 0 && family_of(&hits[k - 1]) == family_of(&hits[i]) &&
            hits[k - 1].qframe == hits[i].qframe && hits[k - 1].c0 == hits[i].c0 &&
            hits[k - 1].c1 == hits[i].c1 && hits[k - 1].cframe == hits[i].cframe)
            continue;
        hits[k++] = hits[i];
    }
    m = k;

    /* Excerpt.  The widest case span among the hits bounds how far below
     * the window a predecessor's start may lie. */
    double span = 0;
    for (size_t i = 0; i < m; i++) {
        if (hits[i].c1 - hits[i].c0 > span)
            span = hits[i].c1 - hits[i].c0;
    }
    const sitr_vmatch_frame_t *fr = q->frames;
    size_t best = NONE;
    double best_len = -1;
    for (size_t i = 0; i < m; i++) {
        const sitr_vmatch_hit_t *b = &hits[i];
        int fam = family_of(b);
        if (i > 0 && family_of(&hits[i - 1]) == fam && hits[i - 1].qframe == b->qframe)
            gstart[i] = gstart[i - 1];
        else
            gstart[i] = (uint32_t)i;
        double tb = fr[b->qframe].t;
        first[i] = tb;
        cnt[i] = 1;
        pred[i] = NONE;
        /* Earlier query frames of the same family, latest first. */
        for (size_t ge = gstart[i]; ge > 0;) {
            size_t gs = gstart[ge - 1];
            if (family_of(&hits[gs]) != fam)
                break;
            double dq = tb - fr[hits[gs].qframe].t;
            if (dq > p->max_gap)
                break;
            if (dq > 0) {
                double whi = p->slope_max * dq + p->jitter;
                double wlo = p->slope_min * dq - p->jitter;
                double cmin = b->c0 - whi - span; /* a->c1 >= b->c0 - whi */
                double cmax = b->c1 - (wlo > 0 ? wlo : 0);
                /* First hit of the group with c0 >= cmin. */
                size_t lo = gs, hi = ge;
                while (lo < hi) {
                    size_t mid = lo + (hi - lo) / 2;
                    if (hits[mid].c0 < cmin)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                for (size_t a = lo; a < ge && hits[a].c0 <= cmax; a++) {
                    if (!step_ok(&hits[a], b, dq, p))
                        continue;
                    if (first[a] < first[i] || (first[a] == first[i] && cnt[a] + 1 > cnt[i])) {
                        first[i] = first[a];
                        cnt[i] = cnt[a] + 1;
                        pred[i] = (uint32_t)a;
                    }
                }
            }
            ge = gs;
        }
        double len = tb - first[i];
        if (len > best_len || (len == best_len && cnt[i] > cnt[best])) {
            best_len = len;
            best = i;
        }
    }
    if (best != NONE) {
        size_t a = best;
        while (pred[a] != NONE)
            a = pred[a];
        out->run_hits = cnt[best];
        out->run_family = family_of(&hits[best]);
        out->run_q0 = fr[hits[a].qframe].t;
        out->run_q1 = fr[hits[best].qframe].t;
        out->run_c0 = hits[a].c0;
        out->run_c1 = hits[best].c1;
        out->run_seconds = best_len + q->period;
        if (cv->duration > 0) {
            double s = (out->run_c1 - out->run_c0 + cv->period) / cv->duration;
            out->run_case_share = s < 1 ? s : 1;
        }
        out->excerpt = out->run_seconds >= p->excerpt_seconds;
    }
    return 0;
}

int sitr_vmatch_still(const sitr_vmatch_hit_t *hits, size_t n, const sitr_vmatch_params_t *p)
{
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        const sitr_vmatch_hit_t *h = &hits[i];
        if (h->variant >= SITR_VMATCH_VARIANTS || !(p->families & (1u << family_of(h))))
            continue;
        if (h->distance <= p->max_distance && (best < 0 || h->distance < best))
            best = h->distance;
    }
    return best;
}

int sitr_vmatch_image_in_video(const sitr_vmatch_query_t *q, const sitr_vmatch_hit_t *hits,
                               size_t n, const sitr_vmatch_params_t *p, uint32_t *frame)
{
    int best = -1;
    uint32_t at = NONE;
    for (size_t i = 0; i < n; i++) {
        const sitr_vmatch_hit_t *h = &hits[i];
        if (h->qframe >= q->n || q->rep[h->qframe] == NONE)
            continue;
        if (h->variant >= SITR_VMATCH_VARIANTS || !(p->families & (1u << family_of(h))))
            continue;
        if (h->distance <= p->max_distance &&
            (best < 0 || h->distance < best || (h->distance == best && h->qframe < at))) {
            best = h->distance;
            at = h->qframe;
        }
    }
    if (frame)
        *frame = at;
    return best;
}
