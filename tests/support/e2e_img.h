/* Made-up image hashes for the end-to-end tests: hex PDQ, MD5 and SHA-256
 * drawn from a caller-owned, seeded generator so that every run sends the
 * same bytes, PDQ hashes at a chosen Hamming distance from another, and the
 * check that none of them leaked into a text. */
#ifndef SITR_E2E_IMG_H
#define SITR_E2E_IMG_H

#include <stddef.h>

typedef struct sitr_e2e_img {
    char pdq[65], md5[33], sha[65];
} sitr_e2e_img_t;

/* digits lowercase hex digits and a NUL into out; advances *state. */
void sitr_e2e_random_hex(unsigned *state, char *out, size_t digits);
/* A fresh image (pdq, md5, sha in that order from *state). */
sitr_e2e_img_t sitr_e2e_new_img(unsigned *state);
/* out = pdq (64 hex digits) with its first d bits flipped. */
void sitr_e2e_flip_bits(const char *pdq, int d, char out[65]);
/* Fails the running cmocka test if text holds any of m's hashes, in lower
 * or upper case; where names the text in the message ("an answer"). */
void sitr_e2e_assert_no_hash(const char *text, const sitr_e2e_img_t *m, const char *where);

#endif
