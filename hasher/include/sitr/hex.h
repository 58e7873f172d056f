/* Hexadecimal encoding of byte strings (digests, hashes). */
#ifndef SITR_HEX_H
#define SITR_HEX_H

#include <stddef.h>
#include <stdint.h>
#include <sitr/err.h>

/* Writes 2*n lower-case hex digits and a NUL into out (size >= 2*n+1). */
void sitr_hex_encode(const uint8_t *in, size_t n, char *out);

/* Decodes exactly 2*n hex digits (either case) from hex[0..len) into out[n].
 * Returns 0, or SITR_EHEX if len != 2*n or a character is not hex; out is
 * left untouched on failure. */
SITR_MUST_CHECK int sitr_hex_decode(const char *hex, size_t len, uint8_t *out, size_t n);

#endif
