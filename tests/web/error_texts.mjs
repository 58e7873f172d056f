// The page and the server agree on every error code.
//
// Walks docs/openapi.yaml: every error code it lists for the routes the
// page calls (tags "victims" and "web") and the codes of the HTTP layer
// (x-sitr-http-layer-errors) must have an entry in texts.json
// "error_codes", naming a text present in English, French and Arabic; and
// every entry there must be a code the document names (a misspelt code,
// like the page's old `secret_required` for the server's
// `case_secret_required`, fails).
//
// A code is found in a 4xx/5xx response's description as a `snake_case`
// word with an underscore, in its examples' error.code, or in the HTTP
// layer's list.
//
// Usage (CTest does this): node error_texts.mjs OPENAPI_YAML TEXTS_JSON
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, 'package.json'));
const YAML = require('yaml');

const [yamlPath, textsPath] = process.argv.slice(2);
if (!yamlPath || !textsPath) {
    console.error('usage: error_texts.mjs OPENAPI_YAML TEXTS_JSON');
    process.exit(2);
}
const raw = readFileSync(yamlPath, 'utf8');
const doc = YAML.parse(raw);
const texts = JSON.parse(readFileSync(textsPath, 'utf8'));
const SNAKE = /`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`/g;
const PAGE_TAGS = new Set(['victims', 'web']);
const LANGS = ['en', 'fr', 'ar'];

let failures = 0;
function check(ok, what) {
    console.log((ok ? 'ok   ' : 'FAIL ') + what);
    if (!ok) failures++;
}

function deref(node) {
    for (let k = 0; node && node.$ref && k < 16; k++) {
        node = node.$ref.replace(/^#\//, '').split('/').reduce((o, part) => o[part], doc);
    }
    return node || {};
}

function codesOf(response) {
    const r = deref(response);
    const found = new Set([...(r.description || '').matchAll(SNAKE)].map((m) => m[1]));
    for (const media of Object.values(r.content || {})) {
        const examples = [media.example, ...Object.values(media.examples || {}).map((e) => deref(e).value)];
        for (const e of examples) if (e && e.error && e.error.code) found.add(e.error.code);
    }
    return found;
}

const listed = new Set(Object.values(doc['x-sitr-http-layer-errors'] || {}).flat());
// Any code named anywhere in the document (an operation's description
// names some of its refusals too).
const every = new Set([...listed, ...[...raw.matchAll(SNAKE)].map((m) => m[1]),
    ...[...raw.matchAll(/"code": "([a-z_]+)"/g)].map((m) => m[1])]);
for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item)) {
        if (!op || typeof op !== 'object' || !op.responses) continue;
        for (const [status, response] of Object.entries(op.responses)) {
            if (!/^[45]/.test(status)) continue;
            const codes = codesOf(response);
            for (const c of codes) every.add(c);
            if ((op.tags || []).some((t) => PAGE_TAGS.has(t))) for (const c of codes) listed.add(c);
        }
    }
}
const mapping = texts.error_codes || {};
check(listed.size >= 20, `${listed.size} error codes listed for the page's routes`);
for (const code of [...listed].sort()) {
    const key = mapping[code];
    check(key !== undefined, `${code}: the page has a text (${key})`);
    if (key === undefined) continue;
    for (const lang of LANGS) check(!!(texts[lang] && texts[lang][key]), `${code}: text ${key} in ${lang}`);
}
for (const code of Object.keys(mapping).sort()) check(every.has(code), `${code}: the page's code is one docs/openapi.yaml names`);

// One status vocabulary: a takedown's status has the same words in the
// page's counts (n_*), the report's summary (evidence_s_*) and its status
// of one request (evidence_st_*; in French the same words in the singular),
// so that "Removed" on the page is never "Not found" in the report.
const singular = { fr: (s) => s.replace(/s\b/g, '') };
for (const lang of LANGS) {
    const T = texts[lang] || {};
    for (const st of ['pending', 'removed', 'rejected', 'not_found']) {
        check(T['n_' + st] === T['evidence_s_' + st], `${lang} ${st}: the page says what the report's summary says ("${T['n_' + st]}")`);
        const one = singular[lang] || ((s) => s);
        check(one(T['evidence_s_' + st] || '') === one(T['evidence_st_' + st] || ''),
            `${lang} ${st}: the report's summary and a request's status agree ("${T['evidence_st_' + st]}")`);
    }
    const one = singular[lang] || ((s) => s);
    check(!!T.evidence_st_cancelled && one(T.evidence_s_cancelled || '') === one(T.evidence_st_cancelled),
        `${lang} cancelled: the report's summary and a request's status agree`);
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
