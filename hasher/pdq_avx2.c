/* AVX2 kernels of the PDQ core, selected at run time by pdq.c when the CPU
 * has AVX2 (never FMA: products and sums stay separately rounded).
 *
 * Invariant: lanes always hold *independent* sums - different rows of a
 * horizontal pass, different columns of a vertical pass, different outputs
 * of the DCT - and each sum sees its terms in the reference's order, so the
 * results are the bits of the portable code in pdq.c.  The one liberty
 * taken is multiplying by 1/w instead of dividing by w when w is a power of
 * two: both are the correctly rounded value of the same exact quotient.
 *
 * Threads: pure functions over caller-provided memory. */
#include "pdq_int.h"

#ifdef SITR_PDQ_HAVE_AVX2

#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2")))
#define AVX2_INLINE __attribute__((target("avx2"), always_inline)) static inline

#define DIM SITR_PDQ_DIM
#define NDCT SITR_PDQ_DCT_N
#define HB 32 /* rows per horizontal block: four 8-lane chains hide add latency */

/* Transposes the 8x8 block whose rows start at p0..p7 into 8 rows of dst
 * (dst + q*ds for q = 0..7).  Written out without arrays so that the block
 * stays in registers at -O2. */
AVX2_INLINE void tr8(const float *p0, const float *p1, const float *p2, const float *p3,
                     const float *p4, const float *p5, const float *p6, const float *p7,
                     float *dst, size_t ds)
{
    __m256 r0 = _mm256_loadu_ps(p0), r1 = _mm256_loadu_ps(p1);
    __m256 r2 = _mm256_loadu_ps(p2), r3 = _mm256_loadu_ps(p3);
    __m256 r4 = _mm256_loadu_ps(p4), r5 = _mm256_loadu_ps(p5);
    __m256 r6 = _mm256_loadu_ps(p6), r7 = _mm256_loadu_ps(p7);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * ds, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + 1 * ds, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ds, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ds, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ds, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ds, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ds, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ds, _mm256_permute2f128_ps(s3, s7, 0x31));
}

static int is_pow2(int w)
{
    return w > 0 && (w & (w - 1)) == 0;
}

/* Running sums along n positions for HB interleaved vectors: t[k*HB + r] is
 * input k of vector r, u[o*HB + r] its output o.  Phases as in box1d. */
AVX2 static void run_block(const float *t, float *u, int n, int w)
{
    const int h = (w + 2) / 2, lead = h - 1, lag = w - h;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
#define LD(p) _mm256_loadu_ps(p)
#define ADD4(p)                                                                                    \
    do {                                                                                           \
        s0 = _mm256_add_ps(s0, LD((p) + 0));                                                       \
        s1 = _mm256_add_ps(s1, LD((p) + 8));                                                       \
        s2 = _mm256_add_ps(s2, LD((p) + 16));                                                      \
        s3 = _mm256_add_ps(s3, LD((p) + 24));                                                      \
    } while (0)
#define SUB4(p)                                                                                    \
    do {                                                                                           \
        s0 = _mm256_sub_ps(s0, LD((p) + 0));                                                       \
        s1 = _mm256_sub_ps(s1, LD((p) + 8));                                                       \
        s2 = _mm256_sub_ps(s2, LD((p) + 16));                                                      \
        s3 = _mm256_sub_ps(s3, LD((p) + 24));                                                      \
    } while (0)
#define OUT4(p, OP, d)                                                                             \
    do {                                                                                           \
        _mm256_storeu_ps((p) + 0, OP(s0, d));                                                      \
        _mm256_storeu_ps((p) + 8, OP(s1, d));                                                      \
        _mm256_storeu_ps((p) + 16, OP(s2, d));                                                     \
        _mm256_storeu_ps((p) + 24, OP(s3, d));                                                     \
    } while (0)

    for (int k = 0; k < lead; k++)
        ADD4(t + (size_t)k * HB);
    int o = 0;
    for (; o <= lag; o++) {
        ADD4(t + (size_t)(o + lead) * HB);
        const __m256 c = _mm256_set1_ps((float)(o + h));
        OUT4(u + (size_t)o * HB, _mm256_div_ps, c);
    }
    if (is_pow2(w)) {
        const __m256 inv = _mm256_set1_ps(1.0f / (float)w);
        for (; o < n - lead; o++) {
            ADD4(t + (size_t)(o + lead) * HB);
            SUB4(t + (size_t)(o - lag - 1) * HB);
            OUT4(u + (size_t)o * HB, _mm256_mul_ps, inv);
        }
    } else {
        const __m256 c = _mm256_set1_ps((float)w);
        for (; o < n - lead; o++) {
            ADD4(t + (size_t)(o + lead) * HB);
            SUB4(t + (size_t)(o - lag - 1) * HB);
            OUT4(u + (size_t)o * HB, _mm256_div_ps, c);
        }
    }
    for (; o < n; o++) {
        SUB4(t + (size_t)(o - lag - 1) * HB);
        const __m256 c = _mm256_set1_ps((float)(n - o + lag));
        OUT4(u + (size_t)o * HB, _mm256_div_ps, c);
    }
#undef ADD4
#undef SUB4
#undef OUT4
}

AVX2 void sitr_pdq_hpass_avx2(const float *src, float *dst, int rows, int n, int w,
                              const int *colmap, int nmap, float *tmp)
{
    float *t = tmp, *u = tmp + (size_t)HB * ((size_t)n + 8);
    const int n8 = n & ~7;
    const size_t dn = colmap ? (size_t)nmap : (size_t)n;
    const int nout = colmap ? nmap : n;
    const int nout8 = nout & ~7;

    for (int i0 = 0; i0 < rows; i0 += HB) {
        const int nr = rows - i0 < HB ? rows - i0 : HB;
        const float *s = src + (size_t)i0 * n;
        float *d = dst + (size_t)i0 * dn;

        /* Transpose the block in: t[k][r] = row r, column k. */
        if (nr == HB) {
            for (int b = 0; b < HB; b += 8) {
                const float *p = s + (size_t)b * n;
                for (int k0 = 0; k0 < n8; k0 += 8)
                    tr8(p + k0, p + n + k0, p + 2 * n + k0, p + 3 * n + k0, p + 4 * n + k0,
                        p + 5 * n + k0, p + 6 * n + k0, p + 7 * n + k0, t + (size_t)k0 * HB + b, HB);
                for (int k = n8; k < n; k++)
                    for (int q = 0; q < 8; q++)
                        t[(size_t)k * HB + b + q] = s[(size_t)(b + q) * n + k];
            }
        } else {
            /* Unused lanes are zero: 0/c stays finite and is never stored. */
            for (int k = 0; k < n; k++)
                for (int r = 0; r < HB; r++)
                    t[(size_t)k * HB + r] = r < nr ? s[(size_t)r * n + k] : 0.0f;
        }

        run_block(t, u, n, w);

        /* Transpose out, keeping only the wanted columns. */
        if (nr == HB) {
            for (int b = 0; b < HB; b += 8) {
                for (int m0 = 0; m0 < nout8; m0 += 8) {
                    const float *p = u + b;
#define UO(q) (p + (size_t)(colmap ? colmap[m0 + (q)] : m0 + (q)) * HB)
                    tr8(UO(0), UO(1), UO(2), UO(3), UO(4), UO(5), UO(6), UO(7),
                        d + (size_t)b * dn + m0, dn);
#undef UO
                }
                for (int m = nout8; m < nout; m++) {
                    int o = colmap ? colmap[m] : m;
                    for (int q = 0; q < 8; q++)
                        d[(size_t)(b + q) * dn + m] = u[(size_t)o * HB + b + q];
                }
            }
        } else {
            for (int r = 0; r < nr; r++)
                for (int m = 0; m < nout; m++) {
                    int o = colmap ? colmap[m] : m;
                    d[(size_t)r * dn + m] = u[(size_t)o * HB + r];
                }
        }
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
                acc[v] = _mm256_add_ps(acc[v],
                                       _mm256_mul_ps(d, _mm256_loadu_ps(a + k * DIM + 8 * v)));
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
