/* libFuzzer target: arbitrary bytes through the video front-end (container
 * allow-list and demuxing through our memory AVIOContext, truncation
 * checks, decoding with the allowed decoders, limits, RGB conversion,
 * luma, PDQ with dihedral and trimmed variants, digests).  Any input must
 * end in 0 with at least one frame, or in a SITR_E* code with no result; a
 * crash, sanitizer report or inconsistent result is a bug.  Limits are
 * small so that one input stays quick.  One hashing thread keeps runs
 * reproducible. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sitr/video.h>

#include "../../hasher/video/video_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sitr_video_options_t o;
    sitr_video_options_default(&o);
    o.seconds_per_hash = 0;
    o.threads = 1;
    o.flags = SITR_PDQ_WANT_DIHEDRAL | SITR_VIDEO_WANT_TRIMMED;
    o.limits.max_frame_pixels = 512 * 512;
    o.limits.max_frames = 200;
    o.limits.max_decode_pixels = (uint64_t)200 * 256 * 256;
    o.limits.max_duration = 600;
    o.limits.max_streams = 8;
    sitr_video_t *v = NULL;
    sitr_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = sitr_video_hash_memory(data, size, &o, &v, &err);
    if (rc == 0) {
        if (v == NULL || v->count == 0 || (uint64_t)v->decoded_frames > o.limits.max_frames)
            abort();
        for (size_t i = 0; i < v->count; i++) {
            if (v->frames[i].number % v->period != 0 || v->frames[i].pdq.quality < 0 ||
                v->frames[i].pdq.quality > 100)
                abort();
            char line[SITR_VIDEO_LINE_MAX];
            if (sitr_video_format_line(&v->frames[i], line, sizeof(line)) <= 0)
                abort();
        }
        sitr_video_free(v);
    } else if (rc > 0 || v != NULL || err.code != rc) {
        abort();
    }
    return 0;
}
