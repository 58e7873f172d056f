/* Synthetic PDQ hashes (pdq_synth.h).  xorshift64 (13, 7, 17): fast, and
 * good enough to spread hashes over the index's bands. */
#include "pdq_synth.h"

#include <string.h>

uint64_t sitr_synth_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

void sitr_synth_hash(uint64_t *state, sitr_pdq_t *h)
{
    for (int i = 0; i < SITR_PDQ_BYTES; i += 8) {
        uint64_t v = sitr_synth_next(state);
        memcpy(h->b + i, &v, 8);
    }
}

void sitr_synth_flip_bits(uint64_t *state, sitr_pdq_t *h, int d)
{
    uint8_t done[256] = {0};
    for (int k = 0; k < d;) {
        int b = (int)(sitr_synth_next(state) % 256);
        if (done[b])
            continue;
        done[b] = 1;
        h->b[b / 8] ^= (uint8_t)(1u << (b % 8));
        k++;
    }
}
