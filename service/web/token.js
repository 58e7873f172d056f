// Case numbers and secrets as a person types them: the same rule as
// common/token.c (sitr/token.h says why each choice is safe), checked
// against the same vectors (tests/data/token_vectors.json).  The page reads
// what she typed through parseToken before sending anything, so a mistyped
// character is caught here, with no request and no wrong try counted
// against her.
//
//   reference  SITR-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX  (27 symbols + check)
//   secret     XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX      (29 symbols + check)
//
// Crockford base32 (0-9 A-Z without I L O U); the last symbol is the value
// of the others modulo 37.

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const SHAPES = {
    reference: { prefix: 'SITR-', symbols: 28, group: 4 },
    secret: { prefix: '', symbols: 30, group: 5 },
};

// White space, hyphens, underscores, dots; no-break and thin spaces, the
// Unicode hyphens and dashes and the minus sign; the invisible marks that
// right-to-left text carries (LRM, RLM, embeddings, isolates, zero-width
// spaces and joiners, BOM).
function isSeparator(c) {
    return (
        c === 0x2d || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a || c === 0x5f || c === 0x2e ||
        c === 0xa0 || (c >= 0x2000 && c <= 0x2015) || (c >= 0x2028 && c <= 0x202f) ||
        (c >= 0x2060 && c <= 0x2069) || c === 0x2212 || c === 0xfeff
    );
}

// Arabic-Indic and Eastern Arabic-Indic digits read as the same digit.
function foldDigit(c) {
    if (c >= 0x660 && c <= 0x669) return 0x30 + (c - 0x660);
    if (c >= 0x6f0 && c <= 0x6f9) return 0x30 + (c - 0x6f0);
    return c;
}

// The value of one symbol, with O read as 0 and I, L as 1; -1 otherwise
// (U included: Crockford leaves it out on purpose).
function symbolValue(ch) {
    const c = ch.toUpperCase();
    if (c === 'O') return 0;
    if (c === 'I' || c === 'L') return 1;
    if (c === 'U' || c.length !== 1) return -1;
    return ALPHABET.indexOf(c);
}

function checkValue(sym, n) {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v * 32 + sym[i]) % 37;
    return v;
}

// The canonical form of what was typed for kind 'reference' or 'secret',
// or null when it is not such a token (wrong length, a character outside
// the alphabet, a check symbol that does not match).
export function parseToken(kind, typed) {
    const sh = SHAPES[kind];
    if (!sh || typeof typed !== 'string') return null;
    const raw = [];
    for (const ch of typed) {
        const cp = foldDigit(ch.codePointAt(0));
        if (isSeparator(cp)) continue;
        if (cp <= 0 || cp > 0x7e) return null;
        raw.push(String.fromCodePoint(cp));
        if (raw.length > 64) return null;
    }
    // The SITR prefix is letters, not symbols: recognised by length first.
    let start = 0;
    if (kind === 'reference' && raw.length === sh.symbols + 4) {
        const p = raw.slice(0, 4);
        if (p[0].toLowerCase() === 's' && symbolValue(p[1]) === 1 && p[2].toLowerCase() === 't' &&
            p[3].toLowerCase() === 'r')
            start = 4;
    }
    if (raw.length - start !== sh.symbols) return null;
    const sym = [];
    for (let i = 0; i < sh.symbols; i++) {
        const v = symbolValue(raw[start + i]);
        if (v < 0) return null;
        sym.push(v);
    }
    if (checkValue(sym, sh.symbols - 1) !== sym[sh.symbols - 1]) return null;
    let out = sh.prefix;
    for (let i = 0; i < sh.symbols; i++) {
        if (i > 0 && i % sh.group === 0) out += '-';
        out += ALPHABET[sym[i]];
    }
    return out;
}
