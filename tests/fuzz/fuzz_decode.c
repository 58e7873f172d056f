/* libFuzzer target: arbitrary bytes through the whole front-end (format
 * sniffing, the JPEG fast path or libvips decode, pre-scale, luma, PDQ
 * core, digests).  Any input must end in 0 or a SITR_E* code; a crash,
 * sanitizer report or out-of-range result is a bug.
 *
 * JPEG input (FF D8 FF) is also decoded differentially: the libjpeg-turbo
 * fast path and the libvips path must agree -- same pixels and luma when
 * the fast path decodes, a failure on libvips too when the fast path
 * fails for a reason other than its own limits (SITR_ETOOBIG); a declined
 * file is libvips' alone.  A disagreement aborts.  Single-threaded
 * (libFuzzer's thread). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/image.h>

#include "../../hasher/decode_int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    if (sitr_image_init((*argv)[0]) != 0)
        abort();
    return 0;
}

static void differential(const uint8_t *data, size_t size, const sitr_image_limits_t *lim)
{
    sitr_luma_t fast, vips;
    sitr_err_t err;
    int frc = sitr_decode_luma_jpeg(data, size, lim, &fast, &err);
    if (frc == SITR_DECODE_DECLINED || frc == SITR_ETOOBIG)
        return;
    int vrc = sitr_decode_luma_vips(data, size, lim, &vips, &err);
    if (frc < 0) {
        if (vrc == 0)
            abort(); /* fast path failed, libvips decoded */
        return;
    }
    if (vrc != 0)
        abort(); /* fast path decoded, libvips failed */
    size_t n = (size_t)fast.rows * (size_t)fast.cols;
    if (fast.rows != vips.rows || fast.cols != vips.cols || fast.width != vips.width ||
        fast.height != vips.height || fast.grey != vips.grey || fast.nch != vips.nch ||
        memcmp(fast.pix, vips.pix, n * (size_t)fast.nch) != 0 ||
        memcmp(fast.px, vips.px, n * sizeof(float)) != 0)
        abort(); /* different pixels */
    sitr_luma_free(&fast);
    sitr_luma_free(&vips);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sitr_image_limits_t lim;
    sitr_image_limits_default(&lim);
    /* Keep single inputs fast: a valid header for a huge image would
     * otherwise spend the fuzzer's time (and memory) decoding. */
    lim.max_pixels = 4u << 20;
    sitr_image_t img;
    sitr_err_t err;
    int rc = sitr_image_hash_buffer(data, size, SITR_PDQ_WANT_DIHEDRAL, &lim, &img, &err);
    if (rc > 0 || rc < -SITR_ERR_COUNT_)
        abort();
    if (rc == 0 && (img.pdq.quality < 0 || img.pdq.quality > 100 || img.width < 5 ||
                    img.height < 5 || (uint64_t)img.width * (uint64_t)img.height > lim.max_pixels))
        abort();
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        differential(data, size, &lim);
    return 0;
}
