/* RGB24 to float luma with the reference's weights and operation order
 * (SPEC.md §5, PDQ SPEC §2.3): (0.299f R + 0.587f G) + 0.114f B in
 * float32.  The build forbids FMA contraction, so every product and sum
 * rounds as in the reference.  Pure functions, any thread. */
#include "video_int.h"

#include <string.h>

void sitr_video_rgb_luma(const uint8_t *rgb, int linesize, int w, int h, float *out)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *p = rgb + (size_t)y * (size_t)linesize;
        float *o = out + (size_t)y * (size_t)w;
        for (int x = 0; x < w; x++) {
            float r = (float)p[3 * x], g = (float)p[3 * x + 1], b = (float)p[3 * x + 2];
            o[x] = (0.299f * r + 0.587f * g) + 0.114f * b;
        }
    }
}

void sitr_video_luma_crop(const float *luma, int w, int x0, int y0, int cw, int ch, float *out)
{
    for (int y = 0; y < ch; y++)
        memcpy(out + (size_t)y * (size_t)cw, luma + (size_t)(y0 + y) * (size_t)w + (size_t)x0,
               (size_t)cw * sizeof(float));
}
