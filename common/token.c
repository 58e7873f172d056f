/* Case references and secrets (see token.h for the format).
 *
 * Invariants: a generated token always parses back to itself; the canonical
 * form is the only form that leaves this module, so equal tokens are equal
 * strings.  Symbols are drawn one at a time with randombytes_uniform(32),
 * which is uniform by construction (no modulo bias to reason about).
 * Stateless: safe from any thread. */
#include <sitr/token.h>

#include <sodium.h>
#include <string.h>

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

typedef struct shape {
    const char *prefix; /* printed before the first group */
    size_t symbols;     /* check included */
    size_t group;       /* symbols per hyphen-separated group */
    size_t printed;     /* canonical length without NUL */
} shape_t;

static const shape_t reference_shape = {"SITR-", SITR_TOKEN_REFERENCE_SYMBOLS, 4,
                                        SITR_TOKEN_REFERENCE_LEN};
static const shape_t secret_shape = {"", SITR_TOKEN_SECRET_SYMBOLS, 5, SITR_TOKEN_SECRET_LEN};

static const shape_t *shape_of(sitr_token_kind_t kind)
{
    switch (kind) {
    case SITR_TOKEN_REFERENCE:
        return &reference_shape;
    case SITR_TOKEN_SECRET:
        return &secret_shape;
    }
    return NULL;
}

/* Value of the base32 number sym[0..n) modulo 37, Horner's rule. */
static unsigned check_value(const unsigned char *sym, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v * 32 + sym[i]) % 37;
    return v;
}

/* Crockford decoding of one typed character, with the confusables folded
 * in; -1 for anything else (U included: Crockford leaves it out on purpose). */
static int symbol_value(unsigned char c)
{
    if (c >= 'a' && c <= 'z')
        c = (unsigned char)(c - 'a' + 'A');
    switch (c) {
    case 'O':
        return 0;
    case 'I':
    case 'L':
        return 1;
    case 'U':
        return -1;
    default:
        break;
    }
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

static void print(const shape_t *sh, const unsigned char *sym, char *out)
{
    size_t o = 0;
    for (const char *p = sh->prefix; *p; p++)
        out[o++] = *p;
    for (size_t i = 0; i < sh->symbols; i++) {
        if (i > 0 && i % sh->group == 0)
            out[o++] = '-';
        out[o++] = alphabet[sym[i]];
    }
    out[o] = '\0';
}

int sitr_token_encode(sitr_token_kind_t kind, const unsigned char *sym, char *out, size_t outsz)
{
    const shape_t *sh = shape_of(kind);
    if (!sh || !out || outsz < sh->printed + 1)
        return SITR_EINVAL;
    unsigned char all[SITR_TOKEN_SECRET_SYMBOLS];
    for (size_t i = 0; i + 1 < sh->symbols; i++) {
        if (sym[i] >= 32)
            return SITR_EINVAL;
        all[i] = sym[i];
    }
    unsigned check = check_value(all, sh->symbols - 1);
    if (check >= 32)
        return SITR_EINVAL;
    all[sh->symbols - 1] = (unsigned char)check;
    print(sh, all, out);
    return 0;
}

int sitr_token_generate(sitr_token_kind_t kind, char *out, size_t outsz)
{
    const shape_t *sh = shape_of(kind);
    if (!sh || !out || outsz < sh->printed + 1)
        return SITR_EINVAL;
    unsigned char sym[SITR_TOKEN_SECRET_SYMBOLS];
    /* About one draw in seven has a check value of 32..36; draw again rather
     * than print a punctuation check symbol. */
    for (;;) {
        for (size_t i = 0; i + 1 < sh->symbols; i++)
            sym[i] = (unsigned char)randombytes_uniform(32);
        int rc = sitr_token_encode(kind, sym, out, outsz);
        if (rc == 0)
            break;
    }
    sodium_memzero(sym, sizeof sym);
    return 0;
}

/* Reads one UTF-8 character of in[*i..len) and advances *i past it.
 * Returns its code point, or -1 for a malformed or overlong sequence. */
static long next_char(const unsigned char *in, size_t len, size_t *i)
{
    unsigned char c = in[*i];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (n == 0 || *i + n > len)
        return -1;
    long cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; k++) {
        if ((in[*i + k] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (in[*i + k] & 0x3f);
    }
    static const long min_of[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_of[n] || cp > 0x10ffff)
        return -1;
    *i += n;
    return cp;
}

/* What a person may type between symbols and what copying from a page or
 * a document adds: white space, hyphens, underscores and dots; no-break
 * and thin spaces; the Unicode hyphens and dashes and the minus sign; the
 * invisible marks that right-to-left text carries along (LRM, RLM, the
 * embeddings and isolates, zero-width spaces and joiners, BOM). */
static int is_separator(long c)
{
    return c == '-' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '_' || c == '.' ||
           c == 0xa0 || (c >= 0x2000 && c <= 0x2015) || (c >= 0x2028 && c <= 0x202f) ||
           (c >= 0x2060 && c <= 0x2069) || c == 0x2212 || c == 0xfeff;
}

/* Arabic-Indic (U+0660..) and Eastern Arabic-Indic (U+06F0..) digits, which
 * an Arabic or Persian phone keyboard types, read as the same digit;
 * everything else outside ASCII is not part of a token. */
static long fold_digit(long c)
{
    if (c >= 0x660 && c <= 0x669)
        return '0' + (c - 0x660);
    if (c >= 0x6f0 && c <= 0x6f9)
        return '0' + (c - 0x6f0);
    return c;
}

int sitr_token_parse(sitr_token_kind_t kind, const char *in, size_t len, char *out, size_t outsz)
{
    const shape_t *sh = shape_of(kind);
    if (!sh || !out || outsz < sh->printed + 1)
        return SITR_EINVAL;
    out[0] = '\0';
    if (!in)
        return SITR_EINVAL;

    /* Pass 1: keep the meaningful characters, as typed.  Every way out
     * wipes what was kept: it may be most of a secret. */
    unsigned char raw[SITR_TOKEN_MAX_LEN + 8];
    unsigned char sym[SITR_TOKEN_SECRET_SYMBOLS];
    size_t n = 0;
    int rc = SITR_EINVAL;
    const unsigned char *bytes = (const unsigned char *)in;
    for (size_t i = 0; i < len;) {
        long c = next_char(bytes, len, &i);
        if (c < 0)
            goto out;
        if (is_separator(c))
            continue;
        c = fold_digit(c);
        /* Any other character outside ASCII, or a NUL, is a typo. */
        if (c <= 0 || c > 0x7e || n == sizeof raw)
            goto out;
        raw[n++] = (unsigned char)c;
    }

    /* The "SITR" prefix is letters, not symbols ('I' would fold to 1), so it
     * is recognised by length before any folding: only a reference with
     * exactly four extra leading characters spelling SITR (with the usual
     * I/L/1 confusion) drops them. */
    size_t start = 0;
    if (kind == SITR_TOKEN_REFERENCE && n == sh->symbols + 4) {
        int v1 = symbol_value(raw[1]);
        if ((raw[0] | 0x20) == 's' && v1 == 1 && (raw[2] | 0x20) == 't' && (raw[3] | 0x20) == 'r')
            start = 4;
    }
    if (n - start != sh->symbols)
        goto out;

    for (size_t i = 0; i < sh->symbols; i++) {
        int v = symbol_value(raw[start + i]);
        if (v < 0)
            goto out;
        sym[i] = (unsigned char)v;
    }
    /* Not secret-dependent timing worth hiding: the check symbol is a pure
     * function of the other symbols, so it reveals nothing an attacker did
     * not type. */
    if (check_value(sym, sh->symbols - 1) == sym[sh->symbols - 1]) {
        print(sh, sym, out);
        rc = 0;
    }
out:
    sodium_memzero(sym, sizeof sym);
    sodium_memzero(raw, sizeof raw);
    return rc;
}
