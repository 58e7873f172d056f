/* PDQ: Meta's 256-bit perceptual image hash, computed from float luma.
 *
 * Bit-exact with Meta's reference implementation (see
 * shared/testdata/pdq/SPEC.md §3).  Pure C.  Scratch memory (about 370 KB
 * for a 512x512 input) is cached per thread and released when the thread
 * ends, so repeated hashing allocates nothing. */
#ifndef SITR_PDQ_H
#define SITR_PDQ_H

#include <stdint.h>
#include <sitr/err.h>

#define SITR_PDQ_BYTES          32
#define SITR_PDQ_HEX_LEN        64
#define SITR_PDQ_DIHEDRAL_COUNT 8
#define SITR_PDQ_MIN_QUALITY    50 /* below this a hash is too featureless to match */

/* A hash as 32 bytes, big-endian: byte 31 - k/8 holds bit k%8 of
 * coefficient k (SPEC.md §3.8), i.e. exactly the bytes of the hex form. */
typedef struct sitr_pdq {
    uint8_t b[SITR_PDQ_BYTES];
} sitr_pdq_t;

/* Dihedral variants, in the reference's output order. */
enum sitr_pdq_dihedral {
    SITR_PDQ_ORIG = 0,
    SITR_PDQ_ROT90,
    SITR_PDQ_ROT180,
    SITR_PDQ_ROT270,
    SITR_PDQ_FLIPX,
    SITR_PDQ_FLIPY,
    SITR_PDQ_FLIPPLUS1,
    SITR_PDQ_FLIPMINUS1
};

typedef struct sitr_pdq_result {
    sitr_pdq_t hash;                              /* the plain hash */
    sitr_pdq_t dihedral[SITR_PDQ_DIHEDRAL_COUNT]; /* valid when requested */
    int quality;                                  /* 0..100 */
} sitr_pdq_result_t;

#define SITR_PDQ_WANT_DIHEDRAL 1u

/* Hashes rows x cols float32 luma (row-major).  Borrows luma read-only.
 * flags: SITR_PDQ_WANT_DIHEDRAL also fills out->dihedral (one blur and one
 * DCT serve all nine hashes).  Inputs smaller than 5x5 give the all-zero
 * hash and quality 0, as the reference does; the call still succeeds.
 * Returns 0, SITR_ENOMEM, or SITR_EINVAL for unknown flag bits, negative
 * sizes, or NaN/infinite luma reaching the 64x64 buffer (the reference does
 * not check; such input is a caller's bug). */
SITR_MUST_CHECK int sitr_pdq_hash(const float *luma, int rows, int cols, unsigned flags,
                                  sitr_pdq_result_t *out);

/* Hamming distance between two hashes (0..256). */
int sitr_pdq_distance(const sitr_pdq_t *a, const sitr_pdq_t *b);

/* 64 lower-case hex digits + NUL into out[65]. */
void sitr_pdq_to_hex(const sitr_pdq_t *h, char out[SITR_PDQ_HEX_LEN + 1]);

/* Parses exactly 64 hex digits (either case) of len bytes; SITR_EHEX otherwise. */
SITR_MUST_CHECK int sitr_pdq_from_hex(const char *hex, size_t len, sitr_pdq_t *out);

#endif
