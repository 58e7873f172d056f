/* Hex encoding and decoding, plus the PDQ text form and Hamming distance.
 * Pure C, stateless, safe from any thread. */
#include <sitr/hex.h>
#include <sitr/pdq.h>

#include <string.h>

static int nibble(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void sitr_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int sitr_hex_decode(const char *hex, size_t len, uint8_t *out, size_t n)
{
    if (hex == NULL || len != 2 * n)
        return SITR_EHEX;
    /* Validate everything first so a failure leaves out untouched. */
    for (size_t i = 0; i < len; i++)
        if (nibble((unsigned char)hex[i]) < 0)
            return SITR_EHEX;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(nibble((unsigned char)hex[2 * i]) << 4 |
                           nibble((unsigned char)hex[2 * i + 1]));
    return 0;
}

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
