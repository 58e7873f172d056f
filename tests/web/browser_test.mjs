// Browser test of the victims' page: Debian's Chromium (driven by
// playwright-core, no browser download) against a real sitrd on a fresh,
// migrated database of the `pg` CTest fixture.
//
// It picks the 6 images of the vendored tests/data/pdq/bridge-mods and 8
// copies of its misc-images/wee.jpg with each EXIF orientation (made in a
// temporary folder); with the extended corpus (SHARED_DIR/testdata/pdq)
// also its 12 bridge-mods images (those not already picked) and the 4
// EXIF-rotated photos of reg-test-input/exif-rotn; creates a case,
// and checks that
//  * the hashes PostgreSQL holds for the case equal `sitr hash --format
//    jsonl` for the same files (PDQ, quality, the 7 other dihedral variants,
//    MD5, SHA-256), i.e. Chromium's JPEG decoding + pdq.js == libjpeg-turbo
//    + the C core; any difference is reported with its Hamming distance and
//    fails the test beyond MAX_PDQ_DISTANCE;
//  * no request the page makes carries image bytes: every request body is
//    searched for any 63-byte run of any image file, raw, hex or base64,
//    and every body is small; every request goes to sitrd's origin;
//  * the status view, adding an image already in the case, the "check my
//    case" form, the report button, the Arabic switch (dir="rtl",
//    remembered across a reload, the only thing in localStorage) and the
//    withdrawal (hashes erased in the database, the case answers 404).
//
// Usage (CTest does this): node browser_test.mjs BUILD_DIR [SHARED_DIR]
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, 'package.json'));
const { chromium } = require('playwright-core');

const [buildDir, sharedDir] = process.argv.slice(2);
if (!buildDir) {
    console.error('usage: browser_test.mjs BUILD_DIR [SHARED_DIR]');
    process.exit(2);
}
const { VENDORED_PDQ, extendedPdq, withExifOrientation } = await import(join(here, 'pdq_data.mjs'));
const { caseImages } = await import(join(here, 'support.mjs'));
const EXTENDED_PDQ = extendedPdq(sharedDir);
const CHROMIUM = process.env.SITR_CHROMIUM || '/usr/bin/chromium';
const TEST_KEY = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const MAX_BODY = 32 * 1024; // 24 images of hashes are about 18 KB of JSON
const MAX_PDQ_DISTANCE = 0; // Chromium decodes JPEG with libjpeg-turbo too
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

// ---- database and sitrd ----

const conninfo = readFileSync(join(buildDir, 'pg', 'conninfo'), 'utf8').trim();
const dbName = `web_browser_${process.pid}_${Date.now() % 100000}`;
const dbUrl = conninfo.replace(/\/[^/]*$/, '/' + dbName);

function psql(url, sql) {
    return execFileSync('psql', [url, '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
        encoding: 'utf8',
    }).trim();
}

function freePort() {
    return new Promise((resolve, reject) => {
        const s = createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startSitrd() {
    const port = await freePort();
    const logPath = join(buildDir, 'e2e-logs', `sitrd-browser-${process.pid}.log`);
    execFileSync('mkdir', ['-p', dirname(logPath)]);
    const log = openSync(logPath, 'w');
    const child = spawn(join(buildDir, 'service', 'sitrd'), [], {
        env: {
            PATH: process.env.PATH,
            SITR_LISTEN: `127.0.0.1:${port}`,
            SITR_DATABASE_URL: dbUrl,
            SITR_DIGEST_KEY: TEST_KEY,
            SITR_CASE_RATE: '1000',
        },
        stdio: ['ignore', log, log],
    });
    closeSync(log);
    const base = `http://127.0.0.1:${port}`;
    for (let k = 0; k < 400; k++) {
        if (child.exitCode !== null) throw new Error(`sitrd exited (${child.exitCode}); log ${logPath}`);
        try {
            const r = await fetch(base + '/readyz');
            if (r.status === 200) return { child, base, logPath };
        } catch {
            // not listening yet
        }
        await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error(`sitrd not ready; log ${logPath}`);
}

// ---- what must never leave the browser ----

// Index of every 32-byte block of every image at offsets multiple of 32
// (raw and hex) and of every 48-byte block at offsets p + 48k for p = 0, 1, 2
// (base64, as 64 characters).  Any 63-byte run of a file holds an aligned
// 32-byte block, and any base64 text of a 98-byte run holds one of the
// base64 blocks, so sliding over a body finds either.
function imageIndex(files) {
    const raw = new Set();
    const text = new Set();
    for (const f of files) {
        const b = readFileSync(f);
        for (let o = 0; o + 32 <= b.length; o += 32) {
            raw.add(b.subarray(o, o + 32).toString('latin1'));
            text.add(b.subarray(o, o + 32).toString('hex'));
        }
        for (let p = 0; p < 3; p++)
            for (let o = p; o + 48 <= b.length; o += 48) text.add(b.subarray(o, o + 48).toString('base64'));
    }
    return { raw, text };
}

function carriesImage(body, index) {
    const latin = body.toString('latin1');
    for (let i = 0; i + 32 <= latin.length; i++) if (index.raw.has(latin.substr(i, 32))) return 'raw bytes';
    for (let i = 0; i + 64 <= latin.length; i++) {
        const w = latin.substr(i, 64);
        if (index.text.has(w) || index.text.has(w.toLowerCase())) return 'hex or base64 text';
    }
    return null;
}

function distance(a, b) {
    let d = 0;
    for (let k = 0; k < 64; k++) {
        let x = parseInt(a[k], 16) ^ parseInt(b[k], 16);
        while (x) {
            d += x & 1;
            x >>= 1;
        }
    }
    return d;
}

// ---- the test ----

const imagesIn = (dir, re) => readdirSync(dir).filter((n) => re.test(n)).sort().map((n) => join(dir, n));
const files = imagesIn(join(VENDORED_PDQ, 'bridge-mods'), /\.(jpe?g|png|webp|gif)$/i);
check(files.length === 6, `6 images in the vendored bridge-mods (${files.length})`);
// Images whose EXIF orientation the browser applies and the page must undo
// (the reference hashes the stored pixel order): wee.jpg (34x42) with each
// of the eight orientations.
const exifDir = mkdtempSync(join(tmpdir(), 'sitr-exif-'));
const wee = readFileSync(join(VENDORED_PDQ, 'misc-images', 'wee.jpg'));
for (let o = 1; o <= 8; o++) {
    const f = join(exifDir, `wee-orientation-${o}.jpg`);
    writeFileSync(f, withExifOrientation(wee, o));
    files.push(f);
}
check(files.length === 14, `plus wee.jpg in 8 EXIF orientations (${files.length})`);
if (EXTENDED_PDQ) {
    // Meta's 12 bridge edits (6 are byte for byte the vendored ones: picked
    // once) and its 4 phone photos.
    const digest = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');
    const have = new Set(files.map(digest));
    const bridge = imagesIn(join(EXTENDED_PDQ, 'bridge-mods'), /\.(jpe?g|png|webp|gif)$/i);
    check(bridge.length === 12, `12 images in the extended bridge-mods (${bridge.length})`);
    const exif = imagesIn(join(EXTENDED_PDQ, 'reg-test-input', 'exif-rotn'), /\.jpg$/);
    check(exif.length === 4, `4 EXIF-rotated photos in the extended corpus (${exif.length})`);
    files.push(...[...bridge, ...exif].filter((f) => !have.has(digest(f))));
    check(files.length === 24, `24 images with the extended corpus (${files.length})`);
} else {
    console.log('skipped: extended corpus not present (its bridge-mods and EXIF-rotated photos)');
}

const cli = execFileSync(join(buildDir, 'hasher', 'cli', 'sitr'), ['hash', '--format', 'jsonl', ...files], {
    encoding: 'utf8',
})
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
check(cli.length === files.length, 'sitr hash gave one line per file');

psql(conninfo, `DROP DATABASE IF EXISTS ${dbName}`);
psql(conninfo, `CREATE DATABASE ${dbName}`);
execFileSync(join(buildDir, 'tools', 'sitr-admin'), ['--database-url', dbUrl, 'migrate'], { stdio: 'ignore' });

const server = await startSitrd();
const profile = mkdtempSync(join(tmpdir(), 'sitr-chromium-'));
let context;
try {
    context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        locale: 'en-GB',
        acceptDownloads: true,
        args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
        ],
    });
    const requests = [];
    context.on('request', (req) => requests.push(req));
    const page = context.pages()[0] || (await context.newPage());
    const consoleErrors = [];
    page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));

    await page.goto(server.base + '/');
    await page.waitForSelector('body[data-ready="1"]');
    check((await page.getAttribute('html', 'dir')) === 'ltr', 'English page is left to right');
    check((await page.textContent('#go-new')) === STRINGS.en.start_new, 'English strings applied');

    // Pick, hash in the browser, create.
    await page.click('#go-new');
    await page.setInputFiles('#files', files);
    await page.waitForFunction(() => !document.getElementById('create').disabled, null, { timeout: 120000 });
    const summary = await page.textContent('#new-summary');
    check(summary.includes(STRINGS.en.ready.replace('{n}', String(files.length))), `summary: ${summary}`);
    const beforeCreate = requests.length;
    await page.click('#create');
    await page.waitForSelector('#created:not([hidden])');
    const ref = (await page.textContent('#created-case')).trim();
    const secret = (await page.textContent('#created-secret')).trim();
    check(/^SITR-/.test(ref) && secret.length >= 20, 'case number and secret shown');
    const creates = requests.slice(beforeCreate).filter((r) => r.method() === 'POST' && r.url().endsWith('/v1/cases'));
    check(creates.length === 1, 'one POST /v1/cases');
    check(await page.evaluate(() => document.activeElement && document.activeElement.id === 'created-title'),
        'focus moved to the new case heading');

    // The database holds exactly the CLI's hashes.
    const { caseId, rows } = caseImages(dbUrl, ref);
    check(/^\d+$/.test(caseId), 'case stored');
    check(rows.length === cli.length, `${rows.length} images stored for ${cli.length} files`);
    let exact = 0;
    for (const want of cli) {
        const name = basename(want.path);
        const got = rows.find((r) => r.sha256 === want.sha256);
        if (!got) {
            check(false, `${name}: sha256 stored`);
            continue;
        }
        check(got.md5 === want.md5, `${name}: md5`);
        if (want.quality < 50) {
            check(got.pdq === '', `${name}: quality ${want.quality} < 50, no PDQ stored`);
            continue;
        }
        const d = distance(got.pdq, want.pdq);
        if (d === 0 && got.quality === want.quality) exact++;
        check(d <= MAX_PDQ_DISTANCE, `${name}: browser PDQ vs sitr hash: distance ${d}`);
        check(got.quality === want.quality, `${name}: quality ${got.quality} vs ${want.quality}`);
        const wantVariants = [...new Set(want.dihedral.filter((h) => h !== want.pdq))].sort();
        const gotVariants = [...got.variants].sort();
        const sameVariants = gotVariants.length === wantVariants.length &&
            gotVariants.every((h, k) => distance(h, wantVariants[k]) <= MAX_PDQ_DISTANCE);
        check(sameVariants, `${name}: ${gotVariants.length} dihedral variants equal the CLI's`);
    }
    console.log(`# ${exact}/${cli.length} images hashed bit-identically by Chromium + pdq.js and by sitr hash`);

    // Status view.
    await page.click('#written');
    await page.waitForSelector('#case:not([hidden])');
    const images = await page.textContent('dd[data-count="n_images"]');
    check(images === String(rows.length), `status shows ${images} pictures`);
    check((await page.$$('#timeline li[data-event="case_created"]')).length === 1, 'timeline shows the creation');
    check((await page.textContent('#case-ref')) === ref, 'status shows the case number');

    // Adding a picture the case already holds: counted as a duplicate.
    await page.setInputFiles('#add-files', [files[0]]);
    await page.waitForFunction(() => !document.getElementById('add').disabled, null, { timeout: 60000 });
    await page.click('#add');
    await page.waitForFunction((want) => document.getElementById('status').textContent === want, STRINGS.en.added
        .replace('{added}', '0').replace('{duplicates}', '1'), { timeout: 30000 });
    check(true, 'adding a known picture reports one duplicate');

    // Leave, then come back through the "check my case" form.
    await page.click('#leave');
    await page.click('#go-check');
    await page.fill('#check-case', ref);
    await page.fill('#check-secret', secret);
    await page.click('#check-submit');
    await page.waitForSelector('#case:not([hidden])');
    check((await page.textContent('#case-ref')) === ref, 'the check form opens the case');
    check((await page.inputValue('#check-secret')) === '', 'the form forgets the secret once used');

    // A wrong secret gets the kind "not found" message.
    await page.click('#leave');
    await page.click('#go-check');
    await page.fill('#check-case', ref);
    await page.fill('#check-secret', secret.slice(0, -3) + (secret.endsWith('AAA') ? 'BBB' : 'AAA'));
    await page.click('#check-submit');
    await page.waitForFunction(() => document.getElementById('error').textContent !== '');
    const err = await page.textContent('#error');
    check(err === STRINGS.en.err_not_found || err === STRINGS.en.err_invalid_secret, `wrong secret: "${err}"`);
    // Typed the way it was written on paper: lower case, spaces, o for 0.
    await page.fill('#check-secret', secret.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o'));
    await page.click('#check-submit');
    await page.waitForSelector('#case:not([hidden])');
    check(true, 'a secret typed with spaces, in lower case and with o for 0 opens the case');

    // The report: a download when sitrd has the route, a kind message otherwise.
    const download = page.waitForEvent('download', { timeout: 15000 }).catch(() => null);
    await page.click('#report');
    const dl = await download;
    const reportMessage = await page.textContent('#error');
    if (dl) {
        check(/^sitr-report-/.test(dl.suggestedFilename()), `report downloaded as ${dl.suggestedFilename()}`);
    } else {
        check(reportMessage === STRINGS.en.report_missing, `no report route: "${reportMessage}"`);
    }
    console.log(`# report: ${dl ? 'downloaded ' + dl.suggestedFilename() : 'route absent'}`);

    // Arabic: right to left, translated, remembered.
    await page.selectOption('#lang', 'ar');
    check((await page.getAttribute('html', 'dir')) === 'rtl', 'Arabic sets dir="rtl"');
    check((await page.getAttribute('html', 'lang')) === 'ar', 'Arabic sets lang="ar"');
    check((await page.textContent('#case-title')) === STRINGS.ar.case_title, 'Arabic strings applied');
    check((await page.textContent('dt')) !== '' && (await page.textContent('#withdraw')) === STRINGS.ar.withdraw,
        'Arabic withdraw button');
    const storage = await page.evaluate(() => JSON.stringify(Object.entries(localStorage)));
    check(storage === JSON.stringify([['sitr.lang', 'ar']]), `localStorage holds only the language: ${storage}`);
    const session = await page.evaluate(() => sessionStorage.length);
    check(session === 0, 'sessionStorage is empty');

    // Withdraw (with confirmation).
    await page.click('#withdraw');
    check(await page.isVisible('#withdraw-confirm'), 'withdrawal asks for confirmation');
    await page.click('#withdraw-yes');
    await page.waitForSelector('#withdrawn:not([hidden])');
    check((await page.textContent('#withdrawn-title')) === STRINGS.ar.withdrawn, 'withdrawal confirmed in Arabic');
    const left = psql(dbUrl, `SELECT count(*) FROM case_images WHERE case_id = ${caseId} AND (pdq IS NOT NULL OR md5 IS NOT NULL OR sha256 IS NOT NULL)`);
    check(left === '0', 'withdrawal erased every hash in the database');
    check(psql(dbUrl, `SELECT withdrawn_at IS NOT NULL FROM cases WHERE id = ${caseId}`) === 't', 'case marked withdrawn');
    const after = await fetch(`${server.base}/v1/cases/${encodeURIComponent(ref)}`, { headers: { Authorization: 'Case ' + secret } });
    check(after.status === 404, `withdrawn case answers ${after.status}`);
    check((await page.textContent('#created-secret')) === '', 'the page forgot the secret');

    // The language survives a reload; nothing else does.
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    check((await page.getAttribute('html', 'dir')) === 'rtl', 'Arabic remembered after a reload');

    // Every request: to sitrd only, small, and never image bytes.
    const index = imageIndex(files);
    // The detector itself must work: a 63-byte run at an odd offset, raw,
    // base64 (98 bytes) and hex (64 bytes), inside JSON.
    {
        const img = readFileSync(files[3]);
        const wrap = (s) => Buffer.from('{"x":"' + s + '"}', 'latin1');
        check(carriesImage(Buffer.concat([Buffer.from('ab'), img.subarray(1001, 1064), Buffer.from('cd')]), index) === 'raw bytes',
            'detector finds 63 raw image bytes');
        check(carriesImage(wrap(img.subarray(5005, 5103).toString('base64')), index) !== null, 'detector finds base64 image bytes');
        check(carriesImage(wrap(img.subarray(777, 841).toString('hex').toUpperCase()), index) !== null, 'detector finds hex image bytes');
        check(carriesImage(wrap('d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22'), index) === null,
            'detector ignores a hash');
    }
    let totalBody = 0;
    let largest = 0;
    const seen = [];
    for (const req of requests) {
        const url = new URL(req.url());
        check(url.origin === server.base, `request stays on sitrd: ${req.method()} ${url.pathname}`);
        const body = req.postDataBuffer() || Buffer.alloc(0);
        totalBody += body.length;
        largest = Math.max(largest, body.length);
        seen.push(`${req.method()} ${url.pathname} ${body.length}`);
        const bad = carriesImage(body, index);
        check(!bad && body.length <= MAX_BODY, `${req.method()} ${url.pathname}: ${body.length} bytes, no image bytes${bad ? ' (found ' + bad + ')' : ''}`);
    }
    console.log(`# ${requests.length} requests, ${totalBody} body bytes in all, largest ${largest}`);
    console.log('# ' + seen.join('\n# '));
    check(requests.some((r) => r.method() === 'POST'), 'the POST bodies were checked');
    // Chromium logs every 4xx answer as a console error ("Failed to load
    // resource"); the wrong-secret step causes one on purpose.
    const scriptErrors = consoleErrors.filter((e) => !/^Failed to load resource/.test(e));
    check(scriptErrors.length === 0, `no script errors: ${scriptErrors.join(' | ')}`);
} catch (e) {
    failures++;
    console.log('FAIL ' + (e && e.stack ? e.stack : e));
} finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    rmSync(exifDir, { recursive: true, force: true });
    server.child.kill('SIGTERM');
    for (let k = 0; k < 200 && server.child.exitCode === null; k++) await sleep(50);
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
    try {
        psql(conninfo, `DROP DATABASE IF EXISTS ${dbName}`);
    } catch {
        // the fixture goes away anyway
    }
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
