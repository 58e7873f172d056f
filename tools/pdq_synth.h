/* Synthetic PDQ hashes for the index's test and benchmark (tests/test_index.c,
 * tools/bench_match.c): a xorshift64 generator whose state the caller owns,
 * so each program repeats its own data run after run; uniformly random
 * hashes; and near copies with exactly d distinct bits flipped, to plant
 * entries at a known distance.  Not cryptographic; single-threaded per
 * state. */
#ifndef SITR_PDQ_SYNTH_H
#define SITR_PDQ_SYNTH_H

#include <stdint.h>

#include <sitr/pdq.h>

/* The next value of the xorshift64 sequence (state must not be 0). */
uint64_t sitr_synth_next(uint64_t *state);
/* h = 256 random bits. */
void sitr_synth_hash(uint64_t *state, sitr_pdq_t *h);
/* Flips exactly d (0..256) distinct bits of h. */
void sitr_synth_flip_bits(uint64_t *state, sitr_pdq_t *h, int d);

#endif
