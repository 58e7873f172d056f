/* Internal: the libvips decode front-end, file bytes -> float luma
 * (SPEC.md §2).  Exposed separately from sitr/image.h so that tests can
 * compare the luma with the reference's byte for byte. */
#ifndef SITR_DECODE_INT_H
#define SITR_DECODE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sitr/err.h>
#include <sitr/image.h>

/* What the front-end hands to the PDQ core. */
typedef struct sitr_luma {
    float *px;         /* rows*cols float32, row-major; caller frees with sitr_luma_free */
    int rows, cols;    /* after the 512x512 pre-scale (at most 512 each) */
    int width, height; /* decoded size, before the pre-scale */
    int grey;          /* 1 when the grey path was taken (R=G=B everywhere, or one band) */
} sitr_luma_t;

/* Initialises libvips once per process; see sitr_image_init. */
SITR_MUST_CHECK int sitr_decode_init(const char *argv0);

/* Releases libvips (process end only). */
void sitr_decode_shutdown(void);

/* Decodes the encoded image data[0..len) (borrowed) to float luma.  lim
 * must not be NULL.  Width x height is checked against lim->max_pixels
 * before any pixel is decoded; the byte limit is the caller's business.
 * Returns 0 or SITR_EFORMAT / SITR_ECORRUPT / SITR_ETOOBIG /
 * SITR_ETOOSMALL / SITR_ENOMEM / SITR_EINTERNAL with err filled.  On
 * failure out->px is NULL.  Thread-safe after sitr_decode_init. */
SITR_MUST_CHECK int sitr_decode_luma(const void *data, size_t len, const sitr_image_limits_t *lim,
                                     sitr_luma_t *out, sitr_err_t *err);

/* Frees out->px; safe on a zeroed or already freed struct. */
void sitr_luma_free(sitr_luma_t *l);

#endif
