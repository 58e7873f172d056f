/* Hashing image files: decode (libvips, hardened), PDQ, MD5, SHA-256.
 *
 * The decode front-end follows shared/testdata/pdq/SPEC.md §2 so that hashes
 * of files equal Meta's reference wherever the decoders agree. */
#ifndef SITR_IMAGE_H
#define SITR_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sitr/err.h>
#include <sitr/pdq.h>

#define SITR_MD5_BYTES    16
#define SITR_SHA256_BYTES 32

/* One image as sitr knows it: never its pixels. */
typedef struct sitr_image {
    sitr_pdq_result_t pdq; /* plain hash, quality and (if asked) dihedral hashes */
    uint8_t md5[SITR_MD5_BYTES];
    uint8_t sha256[SITR_SHA256_BYTES];
    int width, height; /* decoded size, before the 512x512 pre-scale */
} sitr_image_t;

/* Limits checked before any pixel is decoded. */
typedef struct sitr_image_limits {
    size_t max_file_bytes; /* default 256 MiB */
    uint64_t max_pixels;   /* width*height, default 100 megapixels */
} sitr_image_limits_t;

#define SITR_IMAGE_DEFAULT_MAX_FILE_BYTES ((size_t)256 << 20)
#define SITR_IMAGE_DEFAULT_MAX_PIXELS     ((uint64_t)100000000)

/* Fills lim with the defaults above. */
void sitr_image_limits_default(sitr_image_limits_t *lim);

/* Initialises libvips once per process (untrusted loaders blocked, operation
 * cache off).  argv0 may be NULL.  Safe to call more than once; returns 0 or
 * SITR_EINTERNAL.  Must be called before the first hash from any thread. */
SITR_MUST_CHECK int sitr_image_init(const char *argv0);

/* Releases libvips at process end. */
void sitr_image_shutdown(void);

/* Hashes the file at path (a regular file; symlinks are followed, loops are an
 * error).  flags: SITR_PDQ_WANT_DIHEDRAL.  lim may be NULL for defaults.
 * Thread-safe.  On failure returns a negative code, fills err, and out is
 * unspecified. */
SITR_MUST_CHECK int sitr_image_hash_file(const char *path, unsigned flags,
                                         const sitr_image_limits_t *lim, sitr_image_t *out,
                                         sitr_err_t *err);

/* Same for an encoded image already in memory (borrowed). */
SITR_MUST_CHECK int sitr_image_hash_buffer(const void *data, size_t len, unsigned flags,
                                           const sitr_image_limits_t *lim, sitr_image_t *out,
                                           sitr_err_t *err);

/* MD5 and SHA-256 of a byte buffer. */
void sitr_digest_md5(const void *data, size_t len, uint8_t out[SITR_MD5_BYTES]);
void sitr_digest_sha256(const void *data, size_t len, uint8_t out[SITR_SHA256_BYTES]);

#endif
