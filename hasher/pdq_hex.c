/* The PDQ text form (64 hex digits) and the Hamming distance between two
 * PDQ hashes.  Pure C, stateless, safe from any thread. */
#include <sitr/hex.h>
#include <sitr/pdq.h>

#include <string.h>

void sitr_pdq_to_hex(const sitr_pdq_t *h, char out[SITR_PDQ_HEX_LEN + 1])
{
    sitr_hex_encode(h->b, SITR_PDQ_BYTES, out);
}

int sitr_pdq_from_hex(const char *hex, size_t len, sitr_pdq_t *out)
{
    return sitr_hex_decode(hex, len, out->b, SITR_PDQ_BYTES);
}

int sitr_pdq_distance(const sitr_pdq_t *a, const sitr_pdq_t *b)
{
    int d = 0;
    for (int i = 0; i < SITR_PDQ_BYTES; i += 8) {
        uint64_t x, y;
        memcpy(&x, a->b + i, 8);
        memcpy(&y, b->b + i, 8);
        d += __builtin_popcountll(x ^ y);
    }
    return d;
}
