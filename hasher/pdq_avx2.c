/* AVX2 kernels of the PDQ core, selected at run time by pdq.c when the CPU
 * has AVX2 (never FMA: products and sums stay separately rounded).
 *
 * Invariant: lanes always hold *independent* sums - different rows of a
 * horizontal pass, different columns of a vertical pass, different outputs
 * of the DCT - and each sum sees its terms in the reference's order, so the
 * results are the bits of the portable code in pdq.c.  The one liberty
 * taken is multiplying by 1/c instead of dividing by a count c that is a
 * power of two: 1/c is exact, so both give the correctly rounded value of
 * the same exact quotient (the tests compare both paths bit for bit).
 *
 * Threads: pure functions over caller-provided memory. */
#include "pdq_int.h"

#ifdef SITR_PDQ_HAVE_AVX2

#include <immintrin.h>
#include <string.h>

#define AVX2        __attribute__((target("avx2")))
#define AVX2_INLINE __attribute__((target("avx2"), always_inline)) static inline

#define DIM  SITR_PDQ_DIM
#define NDCT SITR_PDQ_DCT_N
#define HB   32 /* rows per horizontal block: four 8-lane chains hide add latency */

/* Transposes the 8x8 block whose rows start at p0..p7 into 8 rows of dst
 * (dst + q*ds for q = 0..7).  The 128-bit halves are paired while loading
 * (vinsertf128 from memory does not use the shuffle port), leaving two 4x4
 * in-lane transposes: 16 shuffles instead of 24.  No arrays, so the block
 * stays in registers at -O2. */
AVX2_INLINE void tr8(const float *p0, const float *p1, const float *p2, const float *p3,
                     const float *p4, const float *p5, const float *p6, const float *p7, float *dst,
                     size_t ds)
{
#define PAIR(a, b, off)                                                                            \
    _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps((a) + (off))),                        \
                         _mm_loadu_ps((b) + (off)), 1)
    const __m256 r0 = PAIR(p0, p4, 0), r1 = PAIR(p1, p5, 0), r2 = PAIR(p2, p6, 0),
                 r3 = PAIR(p3, p7, 0);
    const __m256 r4 = PAIR(p0, p4, 4), r5 = PAIR(p1, p5, 4), r6 = PAIR(p2, p6, 4),
                 r7 = PAIR(p3, p7, 4);
#undef PAIR
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    _mm256_storeu_ps(dst + 0 * ds, _mm256_shuffle_ps(t0, t2, 0x44));
    _mm256_storeu_ps(dst + 1 * ds, _mm256_shuffle_ps(t0, t2, 0xEE));
    _mm256_storeu_ps(dst + 2 * ds, _mm256_shuffle_ps(t1, t3, 0x44));
    _mm256_storeu_ps(dst + 3 * ds, _mm256_shuffle_ps(t1, t3, 0xEE));
    t0 = _mm256_unpacklo_ps(r4, r5);
    t1 = _mm256_unpackhi_ps(r4, r5);
    t2 = _mm256_unpacklo_ps(r6, r7);
    t3 = _mm256_unpackhi_ps(r6, r7);
    _mm256_storeu_ps(dst + 4 * ds, _mm256_shuffle_ps(t0, t2, 0x44));
    _mm256_storeu_ps(dst + 5 * ds, _mm256_shuffle_ps(t0, t2, 0xEE));
    _mm256_storeu_ps(dst + 6 * ds, _mm256_shuffle_ps(t1, t3, 0x44));
    _mm256_storeu_ps(dst + 7 * ds, _mm256_shuffle_ps(t1, t3, 0xEE));
}

static int is_pow2(int w)
{
    return w > 0 && (w & (w - 1)) == 0;
}

/* Horizontal pass over blocks of HB rows.  Lanes are rows: 8x8 transposes
 * turn 8 columns of 32 rows into 8 column vectors (four per column), kept
 * in a small ring t[] indexed by column; the running sums walk the columns
 * in order, CH outputs at a time, into u[]; those are transposed back to
 * rows (or, with a colmap, the wanted columns are set aside in sel[] and
 * transposed at the end).  Everything stays in L1.  The ring holds columns
 * [o0 - lag - 1, o1 + lead + 7], fewer than CH + w + 8 <= ring_cols(w). */
#define CH 64

static size_t ring_cols(int w)
{
    size_t r = 16;
    while (r < (size_t)CH + (size_t)w + 16)
        r *= 2;
    return r;
}

struct hblock {
    const float *s; /* first of HB source rows */
    int n;
    float *t; /* ring, rt x HB */
    size_t rmask;
    int filled; /* columns [0, filled) have been transposed */
};

#define TCOL(hb, k) ((hb)->t + ((size_t)(k) & (hb)->rmask) * HB)

/* Transposes source columns up to (excluding) upto into the ring. */
AVX2 static void hfill(struct hblock *hb, int upto)
{
    const int n = hb->n;
    while (hb->filled < upto) {
        const int k0 = hb->filled;
        if (k0 + 8 <= n) {
            /* k0 is a multiple of 8 here, and so is the ring size: no wrap. */
            float *dst = TCOL(hb, k0);
            for (int b = 0; b < HB; b += 8) {
                const float *p = hb->s + (size_t)b * n + k0;
                tr8(p, p + n, p + 2 * n, p + 3 * n, p + 4 * n, p + 5 * n, p + 6 * n, p + 7 * n,
                    dst + b, HB);
            }
            hb->filled += 8;
        } else {
            float *dst = TCOL(hb, k0);
            for (int r = 0; r < HB; r++)
                dst[r] = hb->s[(size_t)r * n + k0];
            hb->filled++;
        }
    }
}

AVX2 void sitr_pdq_hpass_avx2(const float *src, float *dst, int rows, int n, int w,
                              const int *colmap, int nmap, float *tmp)
{
    const int h = (w + 2) / 2, lead = h - 1, lag = w - h;
    const size_t rt = ring_cols(w);
    const size_t dn = colmap ? (size_t)nmap : (size_t)n;
    float *t = tmp, *u = t + rt * HB, *sel = u + (size_t)CH * HB;
    const int pow2 = is_pow2(w);
    const __m256 inv = _mm256_set1_ps(1.0f / (float)w), wv = _mm256_set1_ps((float)w);

    for (int i0 = 0; i0 < rows; i0 += HB) {
        const float *s = src + (size_t)i0 * n;
        float *d = dst + (size_t)i0 * dn;
        if (rows - i0 < HB) {
            /* A last partial block: the portable pass, same bits. */
            for (int r = 0; r < rows - i0; r++)
                sitr_pdq_box1d(s + (size_t)r * n, 1, d + (size_t)r * dn, 1, n, w, colmap, nmap);
            break;
        }
        struct hblock hb = {s, n, t, rt - 1, 0};
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
#define ADD4(p)                                                                                    \
    do {                                                                                           \
        const float *p_ = (p);                                                                     \
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(p_ + 0));                                           \
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(p_ + 8));                                           \
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(p_ + 16));                                          \
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(p_ + 24));                                          \
    } while (0)
#define SUB4(p)                                                                                    \
    do {                                                                                           \
        const float *p_ = (p);                                                                     \
        s0 = _mm256_sub_ps(s0, _mm256_loadu_ps(p_ + 0));                                           \
        s1 = _mm256_sub_ps(s1, _mm256_loadu_ps(p_ + 8));                                           \
        s2 = _mm256_sub_ps(s2, _mm256_loadu_ps(p_ + 16));                                          \
        s3 = _mm256_sub_ps(s3, _mm256_loadu_ps(p_ + 24));                                          \
    } while (0)
#define OUT4(p, OP, dv)                                                                            \
    do {                                                                                           \
        float *p_ = (p);                                                                           \
        _mm256_storeu_ps(p_ + 0, OP(s0, dv));                                                      \
        _mm256_storeu_ps(p_ + 8, OP(s1, dv));                                                      \
        _mm256_storeu_ps(p_ + 16, OP(s2, dv));                                                     \
        _mm256_storeu_ps(p_ + 24, OP(s3, dv));                                                     \
    } while (0)

        hfill(&hb, lead);
        for (int k = 0; k < lead; k++)
            ADD4(TCOL(&hb, k));
        int next = 0;
        for (int o0 = 0; o0 < n; o0 += CH) {
            const int o1 = n - o0 < CH ? n : o0 + CH;
            hfill(&hb, o1 + lead < n ? o1 + lead : n);
            /* The three phases of box1d, clipped to this chunk. */
            const int ea = o1 < lag + 1 ? o1 : lag + 1;
            const int bb = o0 > lag + 1 ? o0 : lag + 1, eb = o1 < n - lead ? o1 : n - lead;
            const int bc = o0 > n - lead ? o0 : n - lead;
            int o = o0;
            for (; o < ea; o++) {
                ADD4(TCOL(&hb, o + lead));
                const __m256 c = _mm256_set1_ps((float)(o + h));
                OUT4(u + (size_t)(o - o0) * HB, _mm256_div_ps, c);
            }
            o = bb;
            if (pow2) {
                for (; o < eb; o++) {
                    ADD4(TCOL(&hb, o + lead));
                    SUB4(TCOL(&hb, o - lag - 1));
                    OUT4(u + (size_t)(o - o0) * HB, _mm256_mul_ps, inv);
                }
            } else {
                for (; o < eb; o++) {
                    ADD4(TCOL(&hb, o + lead));
                    SUB4(TCOL(&hb, o - lag - 1));
                    OUT4(u + (size_t)(o - o0) * HB, _mm256_div_ps, wv);
                }
            }
            for (o = bc; o < o1; o++) {
                SUB4(TCOL(&hb, o - lag - 1));
                const __m256 c = _mm256_set1_ps((float)(n - o + lag));
                OUT4(u + (size_t)(o - o0) * HB, _mm256_div_ps, c);
            }

            if (colmap == NULL) {
                /* Back to rows: columns o0..o1-1 of the 32 rows. */
                int m = o0;
                for (; m + 8 <= o1; m += 8)
                    for (int b = 0; b < HB; b += 8) {
                        const float *p = u + (size_t)(m - o0) * HB + b;
                        tr8(p, p + HB, p + 2 * HB, p + 3 * HB, p + 4 * HB, p + 5 * HB, p + 6 * HB,
                            p + 7 * HB, d + (size_t)b * dn + m, dn);
                    }
                for (; m < o1; m++)
                    for (int r = 0; r < HB; r++)
                        d[(size_t)r * dn + m] = u[(size_t)(m - o0) * HB + r];
            } else {
                for (; next < nmap && colmap[next] < o1; next++)
                    memcpy(sel + (size_t)next * HB, u + (size_t)(colmap[next] - o0) * HB,
                           HB * sizeof(float));
            }
        }
        if (colmap != NULL) {
            int m = 0;
            for (; m + 8 <= nmap; m += 8)
                for (int b = 0; b < HB; b += 8) {
                    const float *p = sel + (size_t)m * HB + b;
                    tr8(p, p + HB, p + 2 * HB, p + 3 * HB, p + 4 * HB, p + 5 * HB, p + 6 * HB,
                        p + 7 * HB, d + (size_t)b * dn + m, dn);
                }
            for (; m < nmap; m++)
                for (int r = 0; r < HB; r++)
                    d[(size_t)r * dn + m] = sel[(size_t)m * HB + r];
        }
#undef ADD4
#undef SUB4
#undef OUT4
    }
}

/* Vertical pass, row by row: S[j] is column j's running sum, updated with
 * the entering row pa and/or the leaving row pr (NULL when absent).  Rows
 * are read sequentially; each column still sees its own add, then
 * subtract, in order. */
AVX2 void sitr_pdq_vupdate_avx2(float *S, const float *pa, const float *pr, int n)
{
    const int n8 = n & ~7;
    int j = 0;
    if (pa != NULL && pr != NULL) {
        for (; j < n8; j += 8) {
            __m256 v = _mm256_add_ps(_mm256_loadu_ps(S + j), _mm256_loadu_ps(pa + j));
            _mm256_storeu_ps(S + j, _mm256_sub_ps(v, _mm256_loadu_ps(pr + j)));
        }
        for (; j < n; j++) {
            float v = S[j] + pa[j];
            S[j] = v - pr[j];
        }
    } else if (pa != NULL) {
        for (; j < n8; j += 8)
            _mm256_storeu_ps(S + j, _mm256_add_ps(_mm256_loadu_ps(S + j), _mm256_loadu_ps(pa + j)));
        for (; j < n; j++)
            S[j] = S[j] + pa[j];
    } else {
        for (; j < n8; j += 8)
            _mm256_storeu_ps(S + j, _mm256_sub_ps(_mm256_loadu_ps(S + j), _mm256_loadu_ps(pr + j)));
        for (; j < n; j++)
            S[j] = S[j] - pr[j];
    }
}

/* out[j] = S[j] / c, as a multiplication when c is a power of two. */
AVX2 void sitr_pdq_vemit_avx2(const float *S, float *out, int n, int c)
{
    const int n8 = n & ~7;
    int j = 0;
    if (is_pow2(c)) {
        const float invs = 1.0f / (float)c;
        const __m256 inv = _mm256_set1_ps(invs);
        for (; j < n8; j += 8)
            _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_loadu_ps(S + j), inv));
        for (; j < n; j++)
            out[j] = S[j] * invs;
    } else {
        const float cs = (float)c;
        const __m256 cv = _mm256_set1_ps(cs);
        for (; j < n8; j += 8)
            _mm256_storeu_ps(out + j, _mm256_div_ps(_mm256_loadu_ps(S + j), cv));
        for (; j < n; j++)
            out[j] = S[j] / cs;
    }
}

AVX2 void sitr_pdq_dct_avx2(const float a[DIM * DIM], float b[NDCT * NDCT])
{
    /* T = D A: lanes are 8 adjacent j of one row i; k runs in order. */
    float t[NDCT][DIM];
    for (int i = 0; i < NDCT; i++) {
        __m256 acc[8];
        for (int v = 0; v < 8; v++)
            acc[v] = _mm256_setzero_ps();
        for (int k = 0; k < DIM; k++) {
            const __m256 d = _mm256_set1_ps(sitr_pdq_dct_matrix.f[i][k]);
            for (int v = 0; v < 8; v++)
                acc[v] =
                    _mm256_add_ps(acc[v], _mm256_mul_ps(d, _mm256_loadu_ps(a + k * DIM + 8 * v)));
        }
        for (int v = 0; v < 8; v++)
            _mm256_storeu_ps(&t[i][8 * v], acc[v]);
    }

    /* B = T D^T: lanes are 8 adjacent j of one row i, reading D^T. */
    float dt[DIM][NDCT];
    for (int j = 0; j < NDCT; j++)
        for (int k = 0; k < DIM; k++)
            dt[k][j] = sitr_pdq_dct_matrix.f[j][k];
    for (int i = 0; i < NDCT; i += 4) {
        __m256 acc[4][2];
        for (int r = 0; r < 4; r++)
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        for (int k = 0; k < DIM; k++) {
            const __m256 d0 = _mm256_loadu_ps(&dt[k][0]), d1 = _mm256_loadu_ps(&dt[k][8]);
            for (int r = 0; r < 4; r++) {
                const __m256 x = _mm256_set1_ps(t[i + r][k]);
                acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_mul_ps(x, d0));
                acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_mul_ps(x, d1));
            }
        }
        for (int r = 0; r < 4; r++) {
            _mm256_storeu_ps(b + (i + r) * NDCT, acc[r][0]);
            _mm256_storeu_ps(b + (i + r) * NDCT + 8, acc[r][1]);
        }
    }
}

/* |trunc(((u - v) * 100) / 255)| per lane, clamped like quality_term. */
AVX2_INLINE __m256i qterm(__m256 u, __m256 v)
{
    const __m256 p = _mm256_mul_ps(_mm256_sub_ps(u, v), _mm256_set1_ps(100.0f));
    __m256 q = _mm256_div_ps(p, _mm256_set1_ps(255.0f));
    /* max_ps returns its second operand for NaN, giving the scalar code's
     * clamp of NaN to a magnitude of 1e6. */
    q = _mm256_max_ps(q, _mm256_set1_ps(-1e6f));
    q = _mm256_min_ps(q, _mm256_set1_ps(1e6f));
    return _mm256_abs_epi32(_mm256_cvttps_epi32(q));
}

AVX2 int sitr_pdq_quality_avx2(const float a[DIM * DIM])
{
    /* Lane totals stay below 1016 * 1e6 < 2^31 even when clamped. */
    __m256i acc = _mm256_setzero_si256();
    for (int i = 0; i < DIM - 1; i++)
        for (int j = 0; j < DIM; j += 8)
            acc = _mm256_add_epi32(acc, qterm(_mm256_loadu_ps(a + i * DIM + j),
                                              _mm256_loadu_ps(a + (i + 1) * DIM + j)));
    /* Pairs (j, j+1) for j = 0..62: seven full vectors, then j = 55..62
     * with the already counted lane j = 55 masked off. */
    const __m256i last = _mm256_setr_epi32(0, -1, -1, -1, -1, -1, -1, -1);
    for (int i = 0; i < DIM; i++) {
        const float *r = a + i * DIM;
        for (int j = 0; j < 56; j += 8)
            acc = _mm256_add_epi32(acc, qterm(_mm256_loadu_ps(r + j), _mm256_loadu_ps(r + j + 1)));
        acc = _mm256_add_epi32(
            acc, _mm256_and_si256(last, qterm(_mm256_loadu_ps(r + 55), _mm256_loadu_ps(r + 56))));
    }
    int lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, acc);
    long total = 0;
    for (int v = 0; v < 8; v++)
        total += lanes[v];
    long q = total / 90;
    return q > 100 ? 100 : (int)q;
}

#endif
