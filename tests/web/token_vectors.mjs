// The shared rule for typed case numbers and secrets, in the page's
// JavaScript (service/web/token.js): every vector of
// tests/data/token_vectors.json, the same file tests/common's
// token_vectors runs against common/token.c.  Exits non-zero on the first
// disagreement.
import { readFileSync } from 'node:fs';
import { parseToken } from '../../service/web/token.js';

const doc = JSON.parse(readFileSync(new URL('../data/token_vectors.json', import.meta.url), 'utf8'));
let accepted = 0;
let refused = 0;
let failed = 0;
for (const [i, v] of doc.vectors.entries()) {
    const got = parseToken(v.kind, v.typed);
    if (got !== v.canonical) {
        console.error(`vector ${i} (${v.why}): got ${JSON.stringify(got)}, want ${JSON.stringify(v.canonical)}`);
        failed++;
    }
    if (v.canonical === null) refused++;
    else accepted++;
}
// Not a string at all, an unknown kind.
for (const [kind, typed] of [['secret', undefined], ['secret', 42], ['token', doc.vectors[0].typed]]) {
    if (parseToken(kind, typed) !== null) {
        console.error(`parseToken(${kind}, ${typed}) is not null`);
        failed++;
    }
}
if (doc.vectors.length < 30 || accepted < 10 || refused < 10) {
    console.error(`too few vectors: ${accepted} accepted, ${refused} refused`);
    failed++;
}
if (failed) process.exit(1);
console.log(`token vectors: ${accepted} accepted and ${refused} refused, as in C`);
