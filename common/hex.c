/* Hex encoding and decoding of byte strings (digests, hashes, keys).
 * Pure C, stateless, safe from any thread. */
#include <sitr/hex.h>

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
