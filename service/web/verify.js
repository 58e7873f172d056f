// The page at /verify: checks that an evidence report is genuine, in this
// browser, without sending it anywhere (it works offline once loaded).
//
// The rule (common/report_sign.c, docs/SECURITY.md "Signed reports"): the
// report's JSON without its "signature" member, in RFC 8785 canonical
// form, carries an Ed25519 signature by the operator's key.  An HTML report
// holds its JSON in <script type="application/json" id="sitr-report">.
// Ed25519 comes from Web Crypto (Chromium 137+, Firefox 129+, Safari 17+);
// an older browser is told so instead of being given a verdict.
import { LANGS, STRINGS, pickLanguage, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const LANG_KEY = 'sitr.lang';
let lang = 'en';
let last = null; // {key, params, ok} of the verdict shown

// RFC 8785: JSON.stringify writes strings and numbers as JCS wants; members
// are sorted by UTF-16 code units (what Array.prototype.sort does).
export function canonical(v) {
    if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
    if (v !== null && typeof v === 'object') {
        return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
    }
    return JSON.stringify(v);
}

function bytesOf(b64) {
    const s = atob(b64.trim());
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// XXXX-XXXX-XXXX: the first 60 bits of SHA-256(signature), Crockford base32.
async function verificationCode(sig) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', sig));
    let bits = 0n;
    for (let i = 0; i < 8; i++) bits = (bits << 8n) | BigInt(d[i]);
    const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    let out = '';
    for (let i = 0; i < 12; i++) {
        if (i && i % 4 === 0) out += '-';
        out += alphabet[Number((bits >> BigInt(59 - 5 * i)) & 31n)];
    }
    return out;
}

// The report's JSON from a file's text: the JSON itself or a report page.
export function reportOf(text) {
    const trimmed = text.trimStart();
    if (trimmed.startsWith('{')) return JSON.parse(trimmed);
    const doc = new DOMParser().parseFromString(text, 'text/html');
    const block = doc.querySelector('script#sitr-report[type="application/json"]');
    if (!block) return null;
    return JSON.parse(block.textContent);
}

// {ok, key, params}: the verdict for the text of a file.
export async function verifyText(text, pinnedB64) {
    let report;
    try {
        report = reportOf(text);
    } catch {
        report = null;
    }
    if (!report || typeof report !== 'object') return { ok: false, key: 'verify_no_report' };
    const sig = report.signature;
    if (!sig || typeof sig !== 'object') return { ok: false, key: 'verify_unsigned' };
    let pk, value;
    try {
        pk = bytesOf(sig.public_key);
        value = bytesOf(sig.value);
    } catch {
        return { ok: false, key: 'verify_malformed' };
    }
    if (sig.alg !== 'Ed25519' || pk.length !== 32 || value.length !== 64) return { ok: false, key: 'verify_malformed' };
    const keyId = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', pk))).slice(0, 16);
    const code = await verificationCode(value);
    if (pinnedB64) {
        let pinned;
        try {
            pinned = bytesOf(pinnedB64);
        } catch {
            return { ok: false, key: 'verify_bad_key' };
        }
        if (pinned.length !== 32) return { ok: false, key: 'verify_bad_key' };
        if (hex(pinned) !== hex(pk)) return { ok: false, key: 'verify_other_key', params: { id: keyId } };
    }
    const copy = { ...report };
    delete copy.signature;
    const data = new TextEncoder().encode(canonical(copy));
    let key;
    try {
        key = await crypto.subtle.importKey('raw', pk, { name: 'Ed25519' }, false, ['verify']);
    } catch {
        return { ok: false, key: 'verify_no_ed25519' };
    }
    const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, value, data);
    if (!ok) return { ok: false, key: 'verify_changed', params: { id: keyId } };
    const operator = report.operator && report.operator.name ? report.operator.name : '—';
    return {
        ok: true,
        key: pinnedB64 ? 'verify_genuine_pinned' : 'verify_genuine',
        params: { id: keyId, code, case: String(report.case || '?'), at: String(report.generated_at || '?'), operator },
    };
}

function render() {
    const box = $('verdict');
    if (!last) {
        box.hidden = true;
        return;
    }
    box.hidden = false;
    box.className = 'verdict ' + (last.ok ? 'good' : 'bad');
    box.textContent = '';
    const head = document.createElement('p');
    head.className = 'verdict-head';
    head.textContent = t(lang, last.ok ? 'verify_ok_head' : 'verify_bad_head');
    const body = document.createElement('p');
    body.textContent = t(lang, last.key, last.params);
    box.append(head, body);
    if (last.ok) {
        const dl = document.createElement('dl');
        dl.className = 'codes';
        for (const [label, value] of [
            ['verify_l_case', last.params.case],
            ['verify_l_at', last.params.at],
            ['verify_l_operator', last.params.operator],
            ['verify_l_code', last.params.code],
            ['verify_l_key', last.params.id],
        ]) {
            const dt = document.createElement('dt');
            dt.textContent = t(lang, label);
            const dd = document.createElement('dd');
            const code = document.createElement('code');
            code.dir = 'ltr';
            code.textContent = value;
            dd.append(code);
            dl.append(dt, dd);
        }
        const note = document.createElement('p');
        note.textContent = t(lang, 'verify_what');
        box.append(dl, note);
    }
}

function setLanguage(code, remember) {
    lang = LANGS[code] ? code : 'en';
    document.documentElement.lang = lang;
    document.documentElement.dir = LANGS[lang].dir;
    $('lang').value = lang;
    document.title = t(lang, 'verify_title');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(lang, el.dataset.i18n);
    if (remember) {
        try {
            localStorage.setItem(LANG_KEY, lang);
        } catch {
            // private browsing: the choice lasts for this visit
        }
    }
    render();
}

async function run() {
    const file = $('verify-file').files[0];
    const text = file ? await file.text() : $('verify-text').value;
    if (!text.trim()) {
        last = { ok: false, key: 'verify_nothing' };
    } else if (!crypto || !crypto.subtle) {
        last = { ok: false, key: 'verify_no_ed25519' };
    } else {
        last = await verifyText(text, $('verify-key').value.trim());
    }
    render();
    $('verdict').scrollIntoView({ block: 'center' });
    $('verdict').focus({ preventScroll: true });
}

function start() {
    let stored = null;
    try {
        stored = localStorage.getItem(LANG_KEY);
    } catch {
        stored = null;
    }
    setLanguage(pickLanguage(stored, navigator.languages || [navigator.language]), false);
    $('lang').addEventListener('change', (e) => setLanguage(e.target.value, true));
    $('verify-go').addEventListener('click', run);
    $('verify-file').addEventListener('change', () => {
        if ($('verify-file').files.length) run();
    });
    document.body.dataset.ready = '1';
}

if (typeof document !== 'undefined' && STRINGS.en) start();
