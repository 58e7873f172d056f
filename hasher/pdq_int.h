/* Internals of the PDQ core, shared by pdq.c, the AVX2 kernels in
 * pdq_avx2.c, the conformance tests and the benchmark.
 *
 * The stages below are the ones SPEC.md §3 names, so that tests can compare
 * each one byte for byte with the reference's intermediates.  Every function
 * takes an explicit implementation choice (SITR_PDQ_IMPL_*) instead of
 * reading a global switch, so tests can run the portable and the vector
 * paths side by side from any thread. */
#ifndef SITR_PDQ_INT_H
#define SITR_PDQ_INT_H

#include <sitr/pdq.h>

#include <stddef.h>
#include <stdint.h>

#define SITR_PDQ_DIM   64 /* side of the decimated buffer */
#define SITR_PDQ_DCT_N 16 /* side of the kept DCT block */

/* Which code computes the float stages.  All give bit-identical results. */
enum sitr_pdq_impl {
    SITR_PDQ_IMPL_AUTO = 0, /* the fastest one this CPU supports */
    SITR_PDQ_IMPL_SCALAR,   /* portable C, any CPU */
    SITR_PDQ_IMPL_AVX2,     /* x86-64 AVX2 (no FMA), chosen at run time */
    SITR_PDQ_IMPL_COUNT_
};

/* The reference's 16x64 DCT matrix, D[i][k] = row i (frequency i+1), column
 * k; stored as float32 bit patterns so no libm is involved (pdq_dct_table.c).
 * Reading .f after initialising .bits is defined type punning in C11. */
typedef union sitr_pdq_dct_table {
    uint32_t bits[SITR_PDQ_DCT_N][SITR_PDQ_DIM];
    float f[SITR_PDQ_DCT_N][SITR_PDQ_DIM];
} sitr_pdq_dct_table_t;
extern const sitr_pdq_dct_table_t sitr_pdq_dct_matrix;

/* 1 if impl can run here (AUTO and SCALAR always can). */
int sitr_pdq_impl_supported(int impl);

/* The implementation AUTO resolves to on this CPU. */
int sitr_pdq_impl_resolve(int impl);

/* "scalar", "avx2", ... for the benchmark's output. */
const char *sitr_pdq_impl_name(int impl);

/* sitr_pdq_hash with a forced implementation; SITR_EINVAL when impl is
 * unknown or unsupported on this CPU. */
SITR_MUST_CHECK int sitr_pdq_hash_impl(const float *luma, int rows, int cols, unsigned flags,
                                       int impl, sitr_pdq_result_t *out);

/* §3.3-3.4: the two box-filter passes and the decimation, always filtering
 * (no 64x64 bypass; that is the caller's decision).  rows, cols >= 1.
 * Writes the 64x64 buffer to a (row-major).  0 or SITR_ENOMEM/SITR_EINVAL. */
SITR_MUST_CHECK int sitr_pdq_downsample(const float *luma, int rows, int cols, int impl,
                                        float a[SITR_PDQ_DIM * SITR_PDQ_DIM]);

/* §3.5: quality 0..100 of the 64x64 buffer. */
int sitr_pdq_quality(const float a[SITR_PDQ_DIM * SITR_PDQ_DIM], int impl);

/* §3.6: b = D a D^T, 16x16 row-major, b[i*16+j] = vertical freq i+1,
 * horizontal freq j+1. */
void sitr_pdq_dct(const float a[SITR_PDQ_DIM * SITR_PDQ_DIM], int impl,
                  float b[SITR_PDQ_DCT_N * SITR_PDQ_DCT_N]);

/* §3.7: the 128th smallest of the 256 values (index 127 ascending). */
float sitr_pdq_median(const float b[SITR_PDQ_DCT_N * SITR_PDQ_DCT_N]);

/* §3.7-3.8: bit k = 16i+j set iff b[k] > median, in sitr_pdq_t layout. */
void sitr_pdq_threshold(const float b[SITR_PDQ_DCT_N * SITR_PDQ_DCT_N], float median,
                        sitr_pdq_t *out);

/* §3.9: the eight dihedral hashes of one DCT block, in enum order. */
void sitr_pdq_dihedral(const float b[SITR_PDQ_DCT_N * SITR_PDQ_DCT_N],
                       sitr_pdq_t out[SITR_PDQ_DIHEDRAL_COUNT]);

/* ---- kernels of the box filter (§3.3) ----
 *
 * hpass: the 1-D pass along each of `rows` rows of src (rows x n,
 *   row-major); colmap == NULL: dst is rows x n; otherwise dst is rows x nmap
 *   with dst[i][m] = output at column colmap[m] (colmap non-decreasing).
 *   tmp: at least sitr_pdq_tmp_floats(n) floats.
 * vupdate/vemit: one step of the 1-D pass down all n columns at once.  S[j]
 *   is column j's running sum; vupdate adds row pa, then subtracts row pr
 *   (either may be NULL); vemit writes out[j] = S[j] / c.
 * The pipeline in pdq.c drives them identically for every implementation. */
size_t sitr_pdq_tmp_floats(int n);

void sitr_pdq_hpass_scalar(const float *src, float *dst, int rows, int n, int w, const int *colmap,
                           int nmap, float *tmp);
void sitr_pdq_vupdate_scalar(float *S, const float *pa, const float *pr, int n);
void sitr_pdq_vemit_scalar(const float *S, float *out, int n, int c);

/* Running-sum pass over one strided vector: the exact recipe of §3.3. */
void sitr_pdq_box1d(const float *x, size_t xstride, float *y, size_t ystride, int n, int w,
                    const int *map, int nmap);

#if defined(__x86_64__) || defined(__i386__)
#define SITR_PDQ_HAVE_AVX2 1
void sitr_pdq_hpass_avx2(const float *src, float *dst, int rows, int n, int w, const int *colmap,
                         int nmap, float *tmp);
void sitr_pdq_vupdate_avx2(float *S, const float *pa, const float *pr, int n);
void sitr_pdq_vemit_avx2(const float *S, float *out, int n, int c);
void sitr_pdq_dct_avx2(const float a[SITR_PDQ_DIM * SITR_PDQ_DIM],
                       float b[SITR_PDQ_DCT_N * SITR_PDQ_DCT_N]);
int sitr_pdq_quality_avx2(const float a[SITR_PDQ_DIM * SITR_PDQ_DIM]);
#endif

#endif
