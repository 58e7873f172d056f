/* libFuzzer target: arbitrary bytes through the whole front-end (format
 * sniffing, libvips decode, pre-scale, luma, PDQ core, digests).  Any
 * input must end in 0 or a SITR_E* code; a crash, sanitizer report or
 * out-of-range result is a bug.  Single-threaded (libFuzzer's thread). */
#include <stdint.h>
#include <stdlib.h>

#include <sitr/image.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    if (sitr_image_init((*argv)[0]) != 0)
        abort();
    return 0;
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
    return 0;
}
