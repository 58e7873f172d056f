// The page's words in English, French and Arabic live in texts.json, the
// one file a translator edits: it also holds the printed evidence report's
// words (keys "evidence_*", read by sitrd at start-up).  Written for someone
// who may be frightened and reading on a phone: short sentences, no jargon,
// no blame.  {name} placeholders are filled by t().  Arabic is written right
// to left (LANGS[].dir); numbers and codes stay as they are.  To add a text,
// add its key to each of "en", "fr" and "ar" in texts.json (a missing
// language falls back to English on the page; sitrd refuses to start when
// an "evidence_*" key is missing in one language).  "error_codes" maps the
// server's error codes to the keys of their texts.

export const LANGS = {
    en: { name: 'English', dir: 'ltr' },
    fr: { name: 'Français', dir: 'ltr' },
    ar: { name: 'العربية', dir: 'rtl' },
};

const TEXTS = await loadTexts();

// The tables of words, one per language of LANGS.
export const STRINGS = Object.fromEntries(Object.keys(LANGS).map((code) => [code, TEXTS[code] || {}]));

// Every error code the server may answer the page with (docs/openapi.yaml)
// -> the key of its text; tests/web/error_texts.py keeps both in step.
export const ERROR_TEXTS = TEXTS.error_codes || {};

// texts.json sits beside this file: fetched by the page, read from disk when
// Node imports this module (the tests).
async function loadTexts() {
    const url = new URL('./texts.json', import.meta.url);
    if (url.protocol === 'file:') {
        const { readFile } = await import('node:fs/promises');
        return JSON.parse(await readFile(url, 'utf8'));
    }
    const response = await fetch(url);
    if (!response.ok) throw new Error(`texts.json: HTTP ${response.status}`);
    return response.json();
}

// The language to start with: the one chosen before (the only thing the
// page stores), else the browser's preferred languages, else English.
export function pickLanguage(stored, preferred) {
    if (stored && LANGS[stored]) return stored;
    for (const tag of preferred || []) {
        const base = String(tag).toLowerCase().split('-')[0];
        if (LANGS[base]) return base;
    }
    return 'en';
}

// The string for key in lang (English if missing), placeholders filled.
export function t(lang, key, params) {
    const table = STRINGS[lang] || STRINGS.en;
    let s = table[key] ?? STRINGS.en[key] ?? key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
    return s;
}
