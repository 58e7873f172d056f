/* PDQ core: float luma -> 256-bit hash, quality and the eight dihedral hashes,
 * bit-exact with Meta's reference (shared/testdata/pdq/SPEC.md §3).
 *
 * Invariants: every float operation happens in the order and precision the
 * reference uses (running box-filter sums with add-then-subtract and a true
 * division, DCT sums accumulated in k order from 0.0f, lower median, strict
 * comparison); the build never contracts to FMA (-ffp-contract=off).  Vector
 * kernels (pdq_avx2.c) only work on several independent rows or columns at
 * once and so produce the same bits as the portable ones here.
 *
 * Threads: all functions are reentrant.  Scratch memory is cached per thread
 * (a pthread key whose destructor frees it), so the hot path does not
 * allocate once a thread has hashed its first image. */
#include "pdq_int.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DIM  SITR_PDQ_DIM
#define NDCT SITR_PDQ_DCT_N

/* ---------------------------------------------------------------------- */
/* Implementation choice                                                   */

int sitr_pdq_impl_supported(int impl)
{
    switch (impl) {
    case SITR_PDQ_IMPL_AUTO:
    case SITR_PDQ_IMPL_SCALAR:
        return 1;
    case SITR_PDQ_IMPL_AVX2:
#ifdef SITR_PDQ_HAVE_AVX2
        return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
        return 0;
#endif
    default:
        return 0;
    }
}

int sitr_pdq_impl_resolve(int impl)
{
    if (impl != SITR_PDQ_IMPL_AUTO)
        return impl;
    if (sitr_pdq_impl_supported(SITR_PDQ_IMPL_AVX2))
        return SITR_PDQ_IMPL_AVX2;
    return SITR_PDQ_IMPL_SCALAR;
}

const char *sitr_pdq_impl_name(int impl)
{
    switch (impl) {
    case SITR_PDQ_IMPL_AUTO:
        return "auto";
    case SITR_PDQ_IMPL_SCALAR:
        return "scalar";
    case SITR_PDQ_IMPL_AVX2:
        return "avx2";
    default:
        return "unknown";
    }
}

/* ---------------------------------------------------------------------- */
/* Box filter (§3.3), portable                                             */

size_t sitr_pdq_tmp_floats(int n)
{
    /* The AVX2 horizontal pass keeps, per block of 32 rows, a ring of
     * transposed columns (a power of two >= 64 + w + 16, w <= n/128 + 1), 64
     * columns of outputs and up to 64 kept columns; the portable code needs
     * nothing. */
    return 32 * (2 * (64 + (size_t)n / 128 + 1 + 16) + 64 + 64) + 64;
}

void sitr_pdq_box1d(const float *x, size_t xs, float *y, size_t ys, int n, int w, const int *map,
                    int nmap)
{
    /* Window of output o: inputs o-lag .. o+lead, clipped to 0..n-1.  The
     * reference walks it as three phases (only adding, adding then
     * subtracting, only subtracting); w <= n guarantees that they cover
     * 0..n-1 in this order without a fourth case. */
    const int h = (w + 2) / 2, lead = h - 1, lag = w - h;
    float s = 0.0f;
    int next = 0;

    for (int k = 0; k < lead; k++)
        s = s + x[(size_t)k * xs];
    for (int o = 0; o < n; o++) {
        int c;
        if (o <= lag) {
            s = s + x[(size_t)(o + lead) * xs];
            c = o + h;
        } else if (o < n - lead) {
            s = s + x[(size_t)(o + lead) * xs];
            s = s - x[(size_t)(o - lag - 1) * xs];
            c = w;
        } else {
            s = s - x[(size_t)(o - lag - 1) * xs];
            c = n - o + lag;
        }
        if (map == NULL) {
            y[(size_t)o * ys] = s / (float)c;
        } else {
            /* Maps repeat entries when the side is below 64. */
            while (next < nmap && map[next] == o)
                y[(size_t)next++ * ys] = s / (float)c;
            if (next == nmap)
                return;
        }
    }
}

void sitr_pdq_hpass_scalar(const float *src, float *dst, int rows, int n, int w, const int *colmap,
                           int nmap, float *tmp)
{
    (void)tmp;
    size_t dn = colmap ? (size_t)nmap : (size_t)n;
    for (int i = 0; i < rows; i++)
        sitr_pdq_box1d(src + (size_t)i * n, 1, dst + (size_t)i * dn, 1, n, w, colmap, nmap);
}

void sitr_pdq_vupdate_scalar(float *S, const float *pa, const float *pr, int n)
{
    if (pa != NULL && pr != NULL) {
        for (int j = 0; j < n; j++) {
            float v = S[j] + pa[j];
            S[j] = v - pr[j];
        }
    } else if (pa != NULL) {
        for (int j = 0; j < n; j++)
            S[j] = S[j] + pa[j];
    } else if (pr != NULL) {
        for (int j = 0; j < n; j++)
            S[j] = S[j] - pr[j];
    }
}

void sitr_pdq_vemit_scalar(const float *S, float *out, int n, int c)
{
    const float cf = (float)c;
    for (int j = 0; j < n; j++)
        out[j] = S[j] / cf;
}

/* ---------------------------------------------------------------------- */
/* Per-thread scratch                                                      */

struct scratch {
    size_t cap; /* floats */
    float *buf;
};

/* Larger requests are served by a one-off allocation so that a single odd
 * input does not pin memory in every worker thread.  512x512 needs ~0.6 M. */
#define SCRATCH_KEEP_MAX ((size_t)4 << 20)

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_destroy(void *p)
{
    struct scratch *s = p;
    free(s->buf);
    free(s);
}

static void scratch_init(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_destroy) == 0;
}

/* Returns n floats of scratch or NULL.  *owned is set when the caller must
 * free the result itself. */
static float *scratch_get(size_t n, float **owned)
{
    *owned = NULL;
    pthread_once(&scratch_once, scratch_init);
    if (n > SCRATCH_KEEP_MAX || !scratch_key_ok) {
        *owned = malloc(n * sizeof(float));
        return *owned;
    }
    struct scratch *s = pthread_getspecific(scratch_key);
    if (s != NULL && s->cap >= n)
        return s->buf;
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL)
            return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    free(s->buf);
    s->cap = 0;
    size_t cap = (n + 0xffff) & ~(size_t)0xffff;
    s->buf = malloc(cap * sizeof(float));
    if (s->buf == NULL)
        return NULL;
    s->cap = cap;
    return s->buf;
}

/* ---------------------------------------------------------------------- */
/* Stages                                                                  */

/* Decimation index (§3.4): floor((i + 0.5) * side / 64), in double. */
static void sample_map(int side, int map[DIM])
{
    for (int i = 0; i < DIM; i++)
        map[i] = (int)(((double)i + 0.5) * (double)side / (double)DIM);
}

struct kernels {
    void (*hpass)(const float *, float *, int, int, int, const int *, int, float *);
    void (*vupdate)(float *, const float *, const float *, int);
    void (*vemit)(const float *, float *, int, int);
};

static const struct kernels kernels_scalar = {sitr_pdq_hpass_scalar, sitr_pdq_vupdate_scalar,
                                              sitr_pdq_vemit_scalar};
#ifdef SITR_PDQ_HAVE_AVX2
static const struct kernels kernels_avx2 = {sitr_pdq_hpass_avx2, sitr_pdq_vupdate_avx2,
                                            sitr_pdq_vemit_avx2};
#endif

/* A vertical pass as a sequence of row steps.  The caller feeds rows in
 * order as they become available; vstep_ready says whether output row o
 * can be computed once rows [0, avail) exist. */
struct vpass {
    const struct kernels *k;
    int rows, n, w, h, lead, lag;
    int added; /* initial rows 0..lead-1 added so far */
    int o;     /* next output row */
    float *S;  /* n running sums */
};

static void vpass_init(struct vpass *v, const struct kernels *k, int rows, int n, int w, float *S)
{
    v->k = k;
    v->rows = rows;
    v->n = n;
    v->w = w;
    v->h = (w + 2) / 2;
    v->lead = v->h - 1;
    v->lag = w - v->h;
    v->added = 0;
    v->o = 0;
    v->S = S;
    for (int j = 0; j < n; j++)
        S[j] = 0.0f;
}

/* Advances the pass while rows [0, avail) suffice; row(i) gives input row
 * i; out(o) gives the destination of output row o or NULL to skip it.  The
 * same phases and counts as sitr_pdq_box1d. */
#define VPASS_RUN(v, avail, ROW, OUT, AFTER)                                                       \
    do {                                                                                           \
        while ((v)->added < (v)->lead && (v)->added < (avail)) {                                   \
            (v)->k->vupdate((v)->S, ROW((v)->added), NULL, (v)->n);                                \
            (v)->added++;                                                                          \
        }                                                                                          \
        while ((v)->o < (v)->rows && ((v)->o + (v)->lead < (avail) || (avail) == (v)->rows)) {     \
            const int o_ = (v)->o;                                                                 \
            const int in_ = o_ < (v)->rows - (v)->lead;                                            \
            const float *pa_ = in_ ? ROW(o_ + (v)->lead) : NULL;                                   \
            const float *pr_ = o_ > (v)->lag ? ROW(o_ - (v)->lag - 1) : NULL;                      \
            const int c_ =                                                                         \
                o_ <= (v)->lag ? o_ + (v)->h : (in_ ? (v)->w : (v)->rows - o_ + (v)->lag);         \
            (v)->k->vupdate((v)->S, pa_, pr_, (v)->n);                                             \
            float *dst_ = OUT(o_);                                                                 \
            if (dst_ != NULL)                                                                      \
                (v)->k->vemit((v)->S, dst_, (v)->n, c_);                                           \
            AFTER(o_);                                                                             \
            (v)->o++;                                                                              \
        }                                                                                          \
    } while (0)

/* Rows per block of the horizontal passes (the AVX2 kernel's block). */
#define HBLOCK 32

int sitr_pdq_downsample(const float *luma, int rows, int cols, int impl, float a[DIM * DIM])
{
    if (luma == NULL || a == NULL || rows < 1 || cols < 1)
        return SITR_EINVAL;
    impl = sitr_pdq_impl_resolve(impl);
    if (!sitr_pdq_impl_supported(impl))
        return SITR_EINVAL;
    const struct kernels *k = &kernels_scalar;
#ifdef SITR_PDQ_HAVE_AVX2
    if (impl == SITR_PDQ_IMPL_AVX2)
        k = &kernels_avx2;
#endif

    int rowmap[DIM], colmap[DIM];
    sample_map(rows, rowmap);
    sample_map(cols, colmap);
    const int wr = (cols + 127) / 128; /* window along a row */
    const int wc = (rows + 127) / 128; /* window along a column */

    /* H, V, H, V, streamed so that intermediates stay in cache: the first
     * horizontal pass fills a ring of rows in blocks of HBLOCK, the first
     * vertical pass consumes them as soon as its window is complete, its
     * rows are collected in one block for the second horizontal pass, which
     * keeps only the 64 decimated columns (z, rows x 64); the last vertical
     * pass only emits the 64 decimated rows.  Every running sum still walks
     * all of its inputs in order, so the kept values are the bits of four
     * full passes.  The ring holds rows [i0 - wc, i0 + HBLOCK) while block
     * i0 is consumed, and blocks never wrap because ringrows is a multiple
     * of HBLOCK. */
    const size_t ringrows = (size_t)HBLOCK * (1 + ((size_t)wc + HBLOCK - 1) / HBLOCK);
    const size_t c8 = (size_t)cols;
    const size_t tmpn = sitr_pdq_tmp_floats(cols > DIM ? cols : DIM);
    if ((size_t)rows > SIZE_MAX / sizeof(float) / 4 / DIM ||
        c8 > SIZE_MAX / sizeof(float) / 4 / (ringrows + HBLOCK + 2))
        return SITR_ENOMEM;
    const size_t need = (ringrows + HBLOCK + 1) * c8 + (size_t)rows * DIM + DIM + tmpn;

    float *owned;
    float *buf = scratch_get(need, &owned);
    if (buf == NULL)
        return SITR_ENOMEM;
    float *ring = buf;                    /* ringrows x cols */
    float *yblk = ring + ringrows * c8;   /* HBLOCK x cols */
    float *S = yblk + HBLOCK * c8;        /* max(cols, 64) sums */
    float *z = S + (c8 > DIM ? c8 : DIM); /* rows x 64 */
    float *tmp = z + (size_t)rows * DIM;

#define RING_ROW(i) (ring + ((size_t)(i) % ringrows) * c8)
#define YBLK_ROW(o) (yblk + ((size_t)(o) % HBLOCK) * c8)
#define H2_AFTER(o)                                                                                \
    do {                                                                                           \
        if ((o) % HBLOCK == HBLOCK - 1 || (o) == rows - 1) {                                       \
            const int b0_ = (o) - (o) % HBLOCK;                                                    \
            k->hpass(yblk, z + (size_t)b0_ * DIM, (o)-b0_ + 1, cols, wr, colmap, DIM, tmp);        \
        }                                                                                          \
    } while (0)

    struct vpass v1;
    vpass_init(&v1, k, rows, cols, wc, S);
    for (int i0 = 0; i0 < rows; i0 += HBLOCK) {
        const int nr = rows - i0 < HBLOCK ? rows - i0 : HBLOCK;
        k->hpass(luma + (size_t)i0 * c8, RING_ROW(i0), nr, cols, wr, NULL, 0, tmp);
        const int avail = i0 + nr;
        VPASS_RUN(&v1, avail, RING_ROW, YBLK_ROW, H2_AFTER);
    }

    /* Last vertical pass over the 64 kept columns, emitting decimated rows;
     * rowmap repeats entries when rows < 64. */
    struct vpass v2;
    int next = 0;
#define Z_ROW(i) (z + (size_t)(i)*DIM)
#define A_ROW(o) ((next < DIM && rowmap[next] == (o)) ? a + (size_t)next * DIM : NULL)
#define A_AFTER(o)                                                                                 \
    do {                                                                                           \
        if (next < DIM && rowmap[next] == (o)) {                                                   \
            const float *first_ = a + (size_t)next++ * DIM;                                        \
            while (next < DIM && rowmap[next] == (o))                                              \
                memcpy(a + (size_t)next++ * DIM, first_, DIM * sizeof(float));                     \
        }                                                                                          \
    } while (0)
    vpass_init(&v2, k, rows, DIM, wc, S);
    VPASS_RUN(&v2, rows, Z_ROW, A_ROW, A_AFTER);
#undef RING_ROW
#undef YBLK_ROW
#undef H2_AFTER
#undef Z_ROW
#undef A_ROW
#undef A_AFTER

    free(owned);
    return 0;
}

/* One gradient term of §3.5, |trunc(((u - v) * 100) / 255)|.  The clamp only
 * matters for absurd luma (|u - v| > 2.5e6), where the reference's cast would
 * be undefined; the total saturates at quality 100 long before. */
static long quality_term(float u, float v)
{
    float d = u - v;
    float p = d * 100.0f;
    float q = p / 255.0f;
    if (!(q < 1e6f))
        q = 1e6f;
    if (!(q > -1e6f))
        q = -1e6f;
    long t = (long)q;
    return t < 0 ? -t : t;
}

static int quality_scalar(const float a[DIM * DIM])
{
    long total = 0;
    for (int i = 0; i < DIM - 1; i++)
        for (int j = 0; j < DIM; j++)
            total += quality_term(a[i * DIM + j], a[(i + 1) * DIM + j]);
    for (int i = 0; i < DIM; i++)
        for (int j = 0; j < DIM - 1; j++)
            total += quality_term(a[i * DIM + j], a[i * DIM + j + 1]);
    long q = total / 90;
    return q > 100 ? 100 : (int)q;
}

int sitr_pdq_quality(const float a[DIM * DIM], int impl)
{
#ifdef SITR_PDQ_HAVE_AVX2
    if (sitr_pdq_impl_resolve(impl) == SITR_PDQ_IMPL_AVX2 &&
        sitr_pdq_impl_supported(SITR_PDQ_IMPL_AVX2))
        return sitr_pdq_quality_avx2(a);
#else
    (void)impl;
#endif
    return quality_scalar(a);
}

static void dct_scalar(const float a[DIM * DIM], float b[NDCT * NDCT])
{
    /* Loops are ordered so that each output's sum still runs k = 0..63 in
     * order; only independent outputs are interleaved. */
    float t[NDCT][DIM];
    for (int i = 0; i < NDCT; i++) {
        for (int j = 0; j < DIM; j++)
            t[i][j] = 0.0f;
        for (int k = 0; k < DIM; k++) {
            const float d = sitr_pdq_dct_matrix.f[i][k];
            for (int j = 0; j < DIM; j++)
                t[i][j] = t[i][j] + d * a[k * DIM + j];
        }
    }
    for (int i = 0; i < NDCT; i++)
        for (int j = 0; j < NDCT; j++) {
            float s = 0.0f;
            for (int k = 0; k < DIM; k++)
                s = s + t[i][k] * sitr_pdq_dct_matrix.f[j][k];
            b[i * NDCT + j] = s;
        }
}

void sitr_pdq_dct(const float a[DIM * DIM], int impl, float b[NDCT * NDCT])
{
#ifdef SITR_PDQ_HAVE_AVX2
    if (sitr_pdq_impl_resolve(impl) == SITR_PDQ_IMPL_AVX2 &&
        sitr_pdq_impl_supported(SITR_PDQ_IMPL_AVX2)) {
        sitr_pdq_dct_avx2(a, b);
        return;
    }
#else
    (void)impl;
#endif
    dct_scalar(a, b);
}

/* Order-preserving map from float bits to unsigned keys: negative values
 * reversed below positive ones.  It refines float order (-0 < +0, NaNs at the
 * ends), so the 128th key is a value equal, as a float, to the 128th smallest
 * float, and selection terminates whatever the data. */
static uint32_t float_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static float key_float(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k ^ 0x80000000u) : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float sitr_pdq_median(const float b[NDCT * NDCT])
{
    enum { N = NDCT * NDCT, K = N / 2 - 1 };
    uint32_t v[N];
    for (int i = 0; i < N; i++)
        v[i] = float_key(b[i]);

    /* Hoare's selection with a median-of-three pivot. */
    int lo = 0, hi = N - 1;
    while (lo < hi) {
        uint32_t p0 = v[lo], p1 = v[(lo + hi) / 2], p2 = v[hi], p;
        if (p0 < p1)
            p = p1 < p2 ? p1 : (p0 < p2 ? p2 : p0);
        else
            p = p0 < p2 ? p0 : (p1 < p2 ? p2 : p1);
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < p)
                i++;
            while (v[j] > p)
                j--;
            if (i <= j) {
                uint32_t t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (K <= j)
            hi = j;
        else if (K >= i)
            lo = i;
        else
            break; /* j < K < i: v[K] == p */
    }
    return key_float(v[K]);
}

void sitr_pdq_threshold(const float b[NDCT * NDCT], float median, sitr_pdq_t *out)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < NDCT * NDCT; k++)
        if (b[k] > median)
            out->b[SITR_PDQ_BYTES - 1 - k / 8] |= (uint8_t)(1u << (k % 8));
}

void sitr_pdq_dihedral(const float b[NDCT * NDCT], sitr_pdq_t out[SITR_PDQ_DIHEDRAL_COUNT])
{
    /* Each variant is a sign pattern, optionally followed by a transpose
     * (§3.9).  Sign patterns: 0 none, 1 e(i), 2 e(j), 3 e(i)e(j) =
     * (-1)^(i+j), with e(n) = -1 for even n.  A transpose does not change
     * the multiset of values, so four medians serve all eight variants. */
    static const struct {
        unsigned char transpose, sign;
    } var[SITR_PDQ_DIHEDRAL_COUNT] = {
        [SITR_PDQ_ORIG] = {0, 0},      [SITR_PDQ_ROT90] = {1, 2},      [SITR_PDQ_ROT180] = {0, 3},
        [SITR_PDQ_ROT270] = {1, 1},    [SITR_PDQ_FLIPX] = {0, 1},      [SITR_PDQ_FLIPY] = {0, 2},
        [SITR_PDQ_FLIPPLUS1] = {1, 0}, [SITR_PDQ_FLIPMINUS1] = {1, 3},
    };
    float sv[4][NDCT * NDCT];
    float med[4];
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < NDCT; i++)
            for (int j = 0; j < NDCT; j++) {
                int neg = ((s & 1) && i % 2 == 0) ^ ((s & 2) && j % 2 == 0);
                float x = b[i * NDCT + j];
                sv[s][i * NDCT + j] = neg ? -x : x;
            }
        med[s] = sitr_pdq_median(sv[s]);
    }
    for (int d = 0; d < SITR_PDQ_DIHEDRAL_COUNT; d++) {
        const float *src = sv[var[d].sign];
        if (!var[d].transpose) {
            sitr_pdq_threshold(src, med[var[d].sign], &out[d]);
        } else {
            float t[NDCT * NDCT];
            for (int i = 0; i < NDCT; i++)
                for (int j = 0; j < NDCT; j++)
                    t[j * NDCT + i] = src[i * NDCT + j];
            sitr_pdq_threshold(t, med[var[d].sign], &out[d]);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Entry points                                                            */

static int all_finite(const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i]))
            return 0;
    return 1;
}

int sitr_pdq_hash_impl(const float *luma, int rows, int cols, unsigned flags, int impl,
                       sitr_pdq_result_t *out)
{
    if (out == NULL || rows < 0 || cols < 0 || (flags & ~SITR_PDQ_WANT_DIHEDRAL) != 0)
        return SITR_EINVAL;
    impl = sitr_pdq_impl_resolve(impl);
    if (!sitr_pdq_impl_supported(impl))
        return SITR_EINVAL;
    memset(out, 0, sizeof *out);
    if (rows < 5 || cols < 5)
        return 0; /* §3.1: all-zero hashes, quality 0 */
    if (luma == NULL)
        return SITR_EINVAL;

    float buf[DIM * DIM];
    const float *a = buf;
    int rc;
    if (rows == DIM && cols == DIM) {
        a = luma; /* §3.2: the plain path hashes a 64x64 input as is */
    } else {
        rc = sitr_pdq_downsample(luma, rows, cols, impl, buf);
        if (rc < 0)
            return rc;
    }
    /* Non-finite luma would make the hash meaningless; the reference does
     * not check, but a caller passing NaN has a bug worth reporting. */
    if (!all_finite(a, DIM * DIM))
        return SITR_EINVAL;

    float b[NDCT * NDCT];
    out->quality = sitr_pdq_quality(a, impl);
    sitr_pdq_dct(a, impl, b);
    sitr_pdq_threshold(b, sitr_pdq_median(b), &out->hash);

    if (flags & SITR_PDQ_WANT_DIHEDRAL) {
        if (a == luma) {
            /* The reference's dihedral path has no bypass: it filters a
             * 64x64 input (window 1), which can move the last bits. */
            rc = sitr_pdq_downsample(luma, rows, cols, impl, buf);
            if (rc < 0)
                return rc;
            if (!all_finite(buf, DIM * DIM))
                return SITR_EINVAL;
            sitr_pdq_dct(buf, impl, b);
        }
        sitr_pdq_dihedral(b, out->dihedral);
    }
    return 0;
}

int sitr_pdq_hash(const float *luma, int rows, int cols, unsigned flags, sitr_pdq_result_t *out)
{
    return sitr_pdq_hash_impl(luma, rows, cols, flags, SITR_PDQ_IMPL_AUTO, out);
}
