/* Internal: the decode front-end, file bytes -> float luma (SPEC.md §2).
 * Two decoders sit behind sitr_decode_luma: the JPEG fast path on
 * libjpeg-turbo (jpeg.c) and the libvips path (decode.c) for every other
 * format and for the JPEGs the fast path declines.  Both are exposed so
 * that tests can compare them with each other and with the reference's
 * luma byte for byte. */
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
    uint8_t *pix;      /* the rows*cols*nch sampled 8-bit pixels the luma came from */
    int nch;           /* 1 (grey source) or 3 (RGB, CMYK converted to RGB) */
} sitr_luma_t;

/* Returned (positive) by sitr_decode_luma_jpeg for input it leaves to
 * libvips. */
#define SITR_DECODE_DECLINED 1

/* Initialises libvips once per process; see sitr_image_init. */
SITR_MUST_CHECK int sitr_decode_init(const char *argv0);

/* Releases libvips (process end only). */
void sitr_decode_shutdown(void);

/* Decodes the encoded image data[0..len) (borrowed) to float luma: JPEG
 * (FF D8 FF) through the fast path, anything it declines and every other
 * format through libvips.  lim
 * must not be NULL.  Width x height is checked against lim->max_pixels
 * before any pixel is decoded; the byte limit is the caller's business.
 * Returns 0 or SITR_EFORMAT / SITR_ECORRUPT / SITR_ETOOBIG /
 * SITR_ETOOSMALL / SITR_ENOMEM / SITR_EINTERNAL with err filled.  On
 * failure out->px is NULL.  Thread-safe after sitr_decode_init. */
SITR_MUST_CHECK int sitr_decode_luma(const void *data, size_t len, const sitr_image_limits_t *lim,
                                     sitr_luma_t *out, sitr_err_t *err);

/* The libvips path alone (any allowed format), same contract. */
SITR_MUST_CHECK int sitr_decode_luma_vips(const void *data, size_t len,
                                          const sitr_image_limits_t *lim, sitr_luma_t *out,
                                          sitr_err_t *err);

/* The JPEG fast path alone, same contract, except that it returns
 * SITR_DECODE_DECLINED (err untouched, out zeroed) for input it does not
 * take: not a JPEG, a colour space other than grey/YCbCr/RGB/CMYK/YCCK,
 * arithmetic coding, a precision other than 8 bits, or any libjpeg
 * warning (libvips then applies its own warning policy).  Does not need
 * sitr_decode_init.  Thread-safe. */
SITR_MUST_CHECK int sitr_decode_luma_jpeg(const void *data, size_t len,
                                          const sitr_image_limits_t *lim, sitr_luma_t *out,
                                          sitr_err_t *err);

/* Shared by both paths. */

/* Source row or column of output index i when a side of n pixels is
 * pre-scaled to 512 (SPEC.md §2.2): floor(i * n / 512). */
static inline uint32_t sitr_decode_prescale_src(uint32_t i, uint32_t n)
{
    return (uint32_t)((uint64_t)i * (uint64_t)n / 512u);
}

/* ImageMagick 6 (Q16) CMYK -> one 8-bit RGB channel from the raw libjpeg
 * samples of the ink (c, m or y) and of k.  ImageMagick takes JPEG CMYK
 * samples as inverted (Adobe) always: ink = QR - 257*sample, so
 * R16 = (QR-ink)*(QR-k)/QR rounded = round(257*s*sk/255), then
 * ScaleQuantumToChar (round(q/257)).  See decode.c for the derivation. */
static inline uint8_t sitr_decode_cmyk8(unsigned s, unsigned sk)
{
    unsigned a = 257u * s, b = 257u * sk;
    unsigned q = (unsigned)(((uint64_t)a * b * 2 + 65535) / 131070);
    return (uint8_t)(((q + 128) - ((q + 128) >> 8)) >> 8);
}

/* §2.3: n sampled pixels of nch (1 or 3) channels -> float luma; grey
 * takes the R channel of 3-channel pixels as is. */
void sitr_decode_to_luma(const uint8_t *pix, int nch, int grey, size_t n, float *out);

/* Frees out->px and out->pix; safe on a zeroed or already freed struct. */
void sitr_luma_free(sitr_luma_t *l);

#endif
