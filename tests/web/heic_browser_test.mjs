// HEIC/HEIF photos in the victims' page: Debian's Chromium (which cannot
// decode HEIC itself) against a real sitrd on a fresh database of the `pg`
// CTest fixture.
//
// It picks every file of tests/data/heic (see its README: sizes, 4:4:4,
// 10 bits, an irot-rotated photo with Exif orientation) plus a truncated
// copy of one, creates a case and checks that
//  * the PDQ, quality and dihedral variants PostgreSQL holds for each HEIC
//    file are within MAX_PDQ_DISTANCE of `sitr hash --format jsonl` for the
//    same file, and MD5/SHA-256 equal; the distances are printed (they are
//    what docs/HASHING.md reports);
//  * the truncated file gets the page's "could not be read" message and is
//    still sent with its exact digests (MD5 and SHA-256, no PDQ);
//  * the decoder (heic-worker.js, libheif.js, libheif.wasm) is fetched from
//    sitrd and from nowhere else, only after a HEIC file is picked, and no
//    request goes anywhere but sitrd; no request body carries any 63-byte
//    run of any picked file (raw, hex or base64) and bodies are small.
//
// Usage (CTest does this): node heic_browser_test.mjs BUILD_DIR
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesIndex, carriesBytes, caseImages, distance, freshDatabase, openPage, startSitrd } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const [buildDir] = process.argv.slice(2);
if (!buildDir) {
    console.error('usage: heic_browser_test.mjs BUILD_DIR');
    process.exit(2);
}
// The largest distance measured (docs/HASHING.md, "HEIC/HEIF in the
// browser") is 2 bits: Debian's libde265 1.0.11 (under `sitr hash`) and
// the libde265 compiled into libheif-js 1.19.8 decode some x265 blocks a
// few levels apart.  Beyond this the page's HEIC path is broken.
const MAX_PDQ_DISTANCE = 4;
const MAX_BODY = 16 * 1024;
const DECODER = ['/static/heic-worker.js', '/static/libheif.js', '/static/libheif.wasm'];
const STRINGS = (await import(join(here, '..', '..', 'service', 'web', 'i18n.js'))).STRINGS;

let failures = 0;
function check(ok, what) {
    if (ok) {
        console.log('ok   ' + what);
    } else {
        failures++;
        console.log('FAIL ' + what);
    }
}

const heicDir = join(here, '..', 'data', 'heic');
const files = readdirSync(heicDir)
    .filter((n) => /\.heic$/.test(n))
    .sort()
    .map((n) => join(heicDir, n));
check(files.length === 6, `6 HEIC files in tests/data/heic (${files.length})`);
const work = mkdtempSync(join(tmpdir(), 'sitr-heic-'));
const broken = join(work, 'truncated.heic');
const whole = readFileSync(files[0]);
writeFileSync(broken, whole.subarray(0, Math.floor(whole.length / 2)));

const cli = execFileSync(join(buildDir, 'hasher', 'cli', 'sitr'), ['hash', '--format', 'jsonl', ...files], {
    encoding: 'utf8',
})
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
check(cli.length === files.length, 'sitr hash gave one line per HEIC file');
const digest = (algo, f) => execFileSync(algo + 'sum', [f], { encoding: 'utf8' }).split(' ')[0];

const db = freshDatabase(buildDir, 'web_heic');
const server = await startSitrd(buildDir, db.dbUrl, 'heic');
const profile = mkdtempSync(join(tmpdir(), 'sitr-chromium-'));
let context;
try {
    let page, requests, consoleErrors;
    ({ context, page, requests, consoleErrors } = await openPage(profile, server.base));

    const path = (r) => new URL(r.url()).pathname;
    check(!requests.some((r) => DECODER.includes(path(r))), 'the decoder is not loaded with the page');

    await page.click('#go-new');
    const picked = [...files, broken];
    await page.setInputFiles('#files', picked);
    await page.waitForFunction(() => !document.getElementById('create').disabled, null, { timeout: 120000 });
    const summary = await page.textContent('#new-summary');
    check(summary.includes(STRINGS.en.ready.replace('{n}', String(picked.length))), `summary: ${summary}`);
    check(summary.includes(STRINGS.en.heic_not_decoded.replace('{n}', '1')), 'the truncated HEIC file is named as unreadable here');
    for (const p of DECODER) {
        const n = requests.filter((r) => path(r) === p).length;
        check(n >= 1, `${p} fetched from sitrd (${n} times)`);
    }
    const wasm = requests.find((r) => path(r) === '/static/libheif.wasm');
    const wasmAnswer = wasm && (await wasm.response());
    check(wasmAnswer && wasmAnswer.status() === 200, 'libheif.wasm answered 200');

    await page.click('#create');
    await page.waitForSelector('#created:not([hidden])');
    const ref = (await page.textContent('#created-case')).trim();
    check(/^SITR-/.test(ref), 'case created');

    // What PostgreSQL holds.
    const { rows } = caseImages(db.dbUrl, ref);
    check(rows.length === picked.length, `${rows.length} images stored for ${picked.length} files`);
    let exact = 0;
    for (const want of cli) {
        const name = basename(want.path);
        const got = rows.find((r) => r.sha256 === want.sha256);
        if (!got) {
            check(false, `${name}: sha256 stored`);
            continue;
        }
        check(got.md5 === want.md5, `${name}: md5`);
        if (!got.pdq) {
            check(false, `${name}: a PDQ was stored`);
            continue;
        }
        const d = distance(got.pdq, want.pdq);
        if (d === 0) exact++;
        check(d <= MAX_PDQ_DISTANCE, `${name}: page PDQ vs sitr hash: distance ${d} (≤ ${MAX_PDQ_DISTANCE})`);
        check(Math.abs(got.quality - want.quality) <= 2, `${name}: quality ${got.quality} vs ${want.quality}`);
        // The other dihedral variants stored, each near one of the CLI's.
        const far = got.variants.length
            ? Math.max(...got.variants.map((h) => Math.min(...want.dihedral.map((w) => distance(h, w)))))
            : Infinity;
        check(far <= MAX_PDQ_DISTANCE,
            `${name}: ${got.variants.length} dihedral variants within ${MAX_PDQ_DISTANCE} of the CLI's (worst ${far})`);
    }
    console.log(`# ${exact}/${cli.length} HEIC files hashed bit-identically by the page and by sitr hash`);
    const bad = rows.find((r) => r.sha256 === digest('sha256', broken));
    check(bad && bad.md5 === digest('md5', broken) && bad.pdq === '', 'the truncated file was sent with its MD5 and SHA-256 only');

    // Nothing but hashes, and only to sitrd.
    const index = bytesIndex(picked);
    const origin = new URL(server.base).origin;
    for (const r of requests) {
        if (new URL(r.url()).origin !== origin) check(false, `request to another origin: ${r.url()}`);
        const body = r.postDataBuffer();
        if (!body) continue;
        check(body.length <= MAX_BODY, `${r.method()} ${path(r)}: body ${body.length} bytes`);
        const found = carriesBytes(body, index);
        check(!found, `${r.method()} ${path(r)}: no picture bytes in the body${found ? ' (' + found + ')' : ''}`);
    }
    check(requests.every((r) => new URL(r.url()).origin === origin), `all ${requests.length} requests went to sitrd`);
    check(consoleErrors.length === 0, `no console errors${consoleErrors.length ? ': ' + consoleErrors.join(' | ') : ''}`);
} catch (e) {
    check(false, 'unexpected: ' + (e.stack || e));
} finally {
    if (context) await context.close();
    await server.stop();
    db.drop();
    rmSync(profile, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
}

console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
