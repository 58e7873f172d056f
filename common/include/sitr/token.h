/* Case references and case secrets: random, human-transcribable tokens.
 *
 * Both are Crockford base32 (0-9 A-Z without I L O U) drawn from libsodium's
 * randombytes, followed by one check symbol, and printed in groups so that a
 * frightened person can read them aloud or copy them from paper:
 *
 *   reference  SITR-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX   27 random symbols
 *                                                         (135 bits) + check
 *   secret     XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX        29 random symbols
 *                                                         (145 bits) + check
 *
 * The check symbol is the token's value modulo 37 (Crockford's check), which
 * catches every single wrong symbol and every swap of two neighbours.  The
 * generator redraws the rare tokens whose check value is >= 32, so the check
 * is always an ordinary base32 symbol (no '*', '~', '$', '=', 'U' to read
 * aloud); this costs 0.2 bits of the 135/145.
 *
 * Parsing is tolerant, and the page's JavaScript (service/web/token.js)
 * follows the same rule, checked against the same vectors
 * (tests/data/token_vectors.json):
 *   - ignored anywhere: white space, '-', '_', '.', no-break and thin spaces,
 *     the Unicode hyphens and dashes (U+2010..2015, U+2212), and the
 *     invisible marks right-to-left text carries (U+200B..200F,
 *     U+2028..202F, U+2060..2069, U+FEFF);
 *   - any case; O read as 0, I and L read as 1.  These are the only letters
 *     folded, because they are the only confusable ones outside the
 *     alphabet: folding S/5, Z/2, B/8 or G/6 would turn one valid token
 *     into another.  U (outside the alphabet too) is refused, as Crockford
 *     does, so a mistyped V is caught by the check symbol;
 *   - Arabic-Indic digits (U+0660..0669, U+06F0..06F9, what an Arabic phone
 *     keyboard types) read as the same digits;
 *   - the "SITR" prefix optional on references.
 * Input must be UTF-8; anything else is refused.  Parsing always yields the
 * canonical printed form, which is what gets stored (references) or
 * digested (secrets).  Stateless and thread-safe. */
#ifndef SITR_TOKEN_H
#define SITR_TOKEN_H

#include <stddef.h>
#include <sitr/err.h>

typedef enum sitr_token_kind { SITR_TOKEN_REFERENCE = 1, SITR_TOKEN_SECRET = 2 } sitr_token_kind_t;

/* Canonical printed lengths, without the NUL. */
#define SITR_TOKEN_REFERENCE_LEN 39 /* "SITR-" + 7 groups of 4 + 6 hyphens */
#define SITR_TOKEN_SECRET_LEN    35 /* 6 groups of 5 + 5 hyphens */
#define SITR_TOKEN_MAX_LEN       39

/* Symbols per token, check included. */
#define SITR_TOKEN_REFERENCE_SYMBOLS 28
#define SITR_TOKEN_SECRET_SYMBOLS    30

/* Writes a fresh canonical token and a NUL into out (outsz >= LEN + 1).
 * Returns 0 or SITR_EINVAL (bad kind, small buffer).  libsodium must have
 * been initialised (sodium_init). */
SITR_MUST_CHECK int sitr_token_generate(sitr_token_kind_t kind, char *out, size_t outsz);

/* Same, from caller-chosen symbol values sym[0..n-2] (each 0..31, n = the
 * kind's symbol count, borrowed); the check symbol is computed.  Used by the
 * generator and by tests.  Returns SITR_EINVAL when a value is out of range
 * or when the check value would not be a base32 symbol (>= 32). */
SITR_MUST_CHECK int sitr_token_encode(sitr_token_kind_t kind, const unsigned char *sym, char *out,
                                      size_t outsz);

/* Parses what a person typed (in[0..len), borrowed) into the canonical form
 * in out (outsz >= LEN + 1).  Returns 0, or SITR_EINVAL when it is not a
 * well-formed token of that kind (wrong length, a symbol outside the
 * alphabet, or a check symbol that does not match); out is then "". */
SITR_MUST_CHECK int sitr_token_parse(sitr_token_kind_t kind, const char *in, size_t len, char *out,
                                     size_t outsz);

#endif
