// Browser test of video hashing on the victims' page: Debian's Chromium
// (playwright-core) against a real sitrd on a fresh database of the `pg`
// CTest fixture.
//
// It picks the vendored sample videos (tests/data/vpdq/videos) and one
// picture on the page, waits for the Worker to hash them (5 frames a
// second, as case videos are), saves each video's fingerprints with the
// page's own button, and checks that
//  * frame numbers, count and timestamps equal Meta's reference built on
//    Debian 12 (ref-debian12/<video>.s0.txt: every frame, of which the page
//    keeps every 6th at 30 fps), and the hashes match it under
//    the vPDQ rule (each side has >= 90 % of its quality >= 50 frames within
//    distance 31 of the other's); exact-equal share and mean/max distance
//    are printed (the page converts YUV as the reference does, so they are
//    expected bit-identical);
//  * MD5 and SHA-256 are those of the file, fps/width/height/duration those
//    of the reference and of `sitr hash --format jsonl --dihedral` (when
//    that prints videos, at --seconds-per-hash 0.2), and the frames match
//    sitr hash's as above;
//  * every frame (secondsPerHash 0) equals ref-debian12/<video>.s0.txt under
//    the same rule (the Worker driven directly, as the page does);
//  * the browser's own YUV to RGB (a canvas) is measured too, for
//    docs/HASHING.md, and must still match under the rule;
//  * the Cancel button stops a long video and keeps nothing;
//  * creating the case sends the picture and the videos' fingerprints (one
//    video a request, each with the digests of its file), and the case holds
//    one picture and the three videos; no request carries video bytes (raw,
//    hex or base64) and every request stays on sitrd's origin;
//  * the video lines of the page exist in French and Arabic (dir="rtl").
// With the extended corpus (SHARED_DIR/testdata/vpdq/videos), all its
// videos are compared with its ref-debian12 too.
//
// Usage (CTest does this): node video_browser_test.mjs BUILD_DIR [SHARED_DIR]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
    bytesIndex,
    carriesBytes,
    distance,
    freshDatabase,
    openPage,
    psql,
    readVpdqLines,
    startSitrd,
} from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const [buildDir, sharedDir] = process.argv.slice(2);
if (!buildDir) {
    console.error('usage: video_browser_test.mjs BUILD_DIR [SHARED_DIR]');
    process.exit(2);
}
const VENDORED = join(here, '..', 'data', 'vpdq');
const EXTENDED = sharedDir ? join(sharedDir, 'testdata', 'vpdq') : null;
const STRINGS = (await import(join(here, '..', '..', 'service', 'web', 'i18n.js'))).STRINGS;
const MATCH_DISTANCE = 31; // Meta's vPDQ rule (SPEC.md §7.3): <= 31, quality >= 50, dedupe
const MATCH_QUALITY = 50;
const MATCH_SHARE = 90; // the bar, on each side

let failures = 0;
function check(ok, what) {
    if (ok) {
        console.log('ok   ' + what);
    } else {
        failures++;
        console.log('FAIL ' + what);
    }
}

// python-threatexchange's share, written here independently of the page.
function matchShare(query, target) {
    const keep = (list) => [...new Set(list.filter((x) => x.quality >= MATCH_QUALITY).map((x) => x.pdq))];
    const q = keep(query);
    const t = keep(target);
    if (!q.length || !t.length) return 0;
    return (100 * q.filter((a) => t.some((b) => distance(a, b) <= MATCH_DISTANCE)).length) / q.length;
}

// Browser frames against reference frames: numbering, rule, closeness.
// Returns {exact, frames, sum, max} for the totals.
function compareFrames(name, got, want, what) {
    const sameCount = got.length === want.length;
    check(sameCount, `${name}: ${got.length} frames, ${what} has ${want.length}`);
    const sameNumbers = sameCount && got.every((f, k) => f.n === want[k].n);
    check(sameNumbers, `${name}: frame numbers equal ${what}'s`);
    if (want[0] && typeof want[0].t === 'string') {
        check(sameCount && got.every((f, k) => f.t.toFixed(3) === want[k].t), `${name}: timestamps equal ${what}'s`);
    }
    let exact = 0;
    let sum = 0;
    let max = 0;
    const n = Math.min(got.length, want.length);
    for (let k = 0; k < n; k++) {
        const d = distance(got[k].pdq, want[k].pdq);
        if (d === 0 && got[k].quality === want[k].quality) exact++;
        sum += d;
        max = Math.max(max, d);
    }
    const q = matchShare(got, want);
    const c = matchShare(want, got);
    check(q >= MATCH_SHARE && c >= MATCH_SHARE, `${name}: vPDQ rule with ${what}: ${q.toFixed(1)} % / ${c.toFixed(1)} %`);
    console.log(`# ${name} vs ${what}: ${exact}/${n} exact, mean ${(sum / Math.max(1, n)).toFixed(2)}, max ${max} bits`);
    return { exact, frames: n, sum, max };
}

function fileDigest(path, algo) {
    return createHash(algo).update(readFileSync(path)).digest('hex');
}

// `sitr hash --format jsonl --dihedral` for videos, or null while it does
// not hash them.
function cliVideos(files) {
    const sitr = join(buildDir, 'hasher', 'cli', 'sitr');
    if (!existsSync(sitr)) return null;
    try {
        const out = execFileSync(sitr, ['hash', '--format', 'jsonl', '--dihedral', '--seconds-per-hash', '0.2', ...files], {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'ignore'],
        });
        const lines = out.trim().split('\n').map((l) => JSON.parse(l));
        if (lines.length !== files.length || !lines.every((l) => l.type === 'video' && Array.isArray(l.frames))) return null;
        return lines;
    } catch {
        return null;
    }
}

const videosOf = (dir) =>
    existsSync(dir) ? readdirSync(dir).filter((n) => /\.mp4$/.test(n)).sort().map((n) => join(dir, n)) : [];

const work = mkdtempSync(join(tmpdir(), 'sitr-video-web-'));
const vendored = videosOf(join(VENDORED, 'videos'));
check(vendored.length === 3, `3 vendored sample videos (${vendored.length})`);

// A picture to send beside the videos, and a long video to cancel.
const picture = join(work, 'picture.jpg');
execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x480', '-frames:v', '1', picture]);
const longVideo = join(work, 'long.mp4');
execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30:duration=120',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', longVideo]);

const db = freshDatabase(buildDir, 'web_video');
const server = await startSitrd(buildDir, db.dbUrl, 'video');
const profile = mkdtempSync(join(tmpdir(), 'sitr-chromium-'));
let context;
// The page's case-video rate: one frame in 6 at 30 fps (secondsPerHash 0.2).
const CASE_PERIOD = 6;
const every6th = (lines) => lines.filter((f) => f.n % CASE_PERIOD === 0);
const totals = { browser: { exact: 0, frames: 0, sum: 0, max: 0 }, canvas: { exact: 0, frames: 0, sum: 0, max: 0 } };
const add = (into, r) => {
    into.exact += r.exact;
    into.frames += r.frames;
    into.sum += r.sum;
    into.max = Math.max(into.max, r.max);
};

// Picks files on the page's chooser, waits until hashing is over, and
// saves every video's fingerprints with the page's buttons.
async function hashOnPage(page, input, files) {
    await page.setInputFiles(input, files);
    await page.waitForFunction(
        (id) => document.getElementById(id).hidden && document.getElementById('status').textContent === '',
        input === '#files' ? 'new-progress' : 'add-progress',
        { timeout: 600000 },
    );
    const list = input === '#files' ? '#new-videos' : '#add-videos';
    const buttons = await page.$$(`${list} button.save-video`);
    const out = [];
    for (const b of buttons) {
        const dl = page.waitForEvent('download', { timeout: 30000 });
        await b.click();
        const file = await (await dl).path();
        out.push(JSON.parse(readFileSync(file, 'utf8').trim()));
    }
    return out;
}

// The Worker driven directly (as the page drives it), for settings the page
// does not offer: every frame, or the browser's canvas conversion.
async function hashInWorker(page, files, secondsPerHash, convert) {
    await page.evaluate(() => {
        let el = document.getElementById('probe-files');
        if (!el) {
            el = document.createElement('input');
            el.type = 'file';
            el.multiple = true;
            el.id = 'probe-files';
            el.hidden = true;
            document.body.append(el);
        }
    });
    await page.setInputFiles('#probe-files', files);
    return page.evaluate(
        async ({ secondsPerHash, convert }) => {
            const out = [];
            for (const file of document.getElementById('probe-files').files) {
                const w = new Worker('/static/video-worker.js', { type: 'module' });
                const r = await new Promise((resolve) => {
                    w.onmessage = (e) => {
                        if (e.data.type !== 'progress') resolve(e.data);
                    };
                    w.onerror = (e) => resolve({ type: 'error', code: 'worker', detail: e.message });
                    w.postMessage({ file, secondsPerHash, convert });
                });
                w.terminate();
                out.push(r);
            }
            return out;
        },
        { secondsPerHash, convert },
    );
}

try {
    let page, requests, consoleErrors;
    ({ context, page, requests, consoleErrors } = await openPage(profile, server.base));
    await page.click('#go-new');

    // Cancel: a 2-minute 720p video, stopped once the bar moves.
    await page.setInputFiles('#files', [longVideo]);
    await page.waitForFunction(() => document.getElementById('new-bar').value > 0.15, null, { timeout: 300000 });
    await page.click('#new-cancel');
    await page.waitForFunction(() => document.getElementById('new-progress').hidden, null, { timeout: 30000 });
    check((await page.textContent('#status')) === STRINGS.en.cancelled, 'Cancel stops the hashing and says so');
    check((await page.$$('#new-videos li')).length === 0 && (await page.isDisabled('#create')),
        'nothing is kept after Cancel');

    // The vendored videos and a picture, through the page.
    const picked = [...vendored, picture];
    const saved = await hashOnPage(page, '#files', picked);
    check(saved.length === vendored.length, `${saved.length} videos listed with a save button`);
    const summary = await page.textContent('#new-summary');
    check(summary.includes(STRINGS.en.ready.replace('{n}', '1')), `summary counts the picture: ${summary}`);
    check(summary.includes(STRINGS.en.videos_ready.replace('{n}', String(vendored.length))), 'summary counts the videos to send');
    check(!(await page.isDisabled('#create')), 'the picture can be sent');

    const cli = cliVideos(vendored);
    if (!cli) console.log('# sitr hash does not print video hashes in this build: CLI comparison skipped');
    for (const [k, path] of vendored.entries()) {
        const name = basename(path, '.mp4');
        const v = saved.find((x) => x.sha256 === fileDigest(path, 'sha256'));
        check(!!v, `${name}: SHA-256 of the file bytes`);
        if (!v) continue;
        check(v.type === 'video' && v.md5 === fileDigest(path, 'md5'), `${name}: type and MD5`);
        check(!('path' in v), `${name}: no path in the object`);
        check(v.fps === 30 && v.width > 0 && v.height > 0, `${name}: fps ${v.fps}, ${v.width}x${v.height}`);
        check(v.frames.every((f) => Array.isArray(f.dihedral) && f.dihedral.length === 8 && f.dihedral[0] === f.pdq),
            `${name}: 8 dihedral hashes per frame, the first the frame's own`);
        const ref = every6th(readVpdqLines(join(VENDORED, 'ref-debian12', name + '.s0.txt')));
        add(totals.browser, compareFrames(name, v.frames, ref, 'ref-debian12 s0, every 6th frame'));
        const decoded = readVpdqLines(join(VENDORED, 'ref-debian12', name + '.s0.txt')).length;
        check(v.duration === Number((decoded / 30).toFixed(3)), `${name}: duration ${v.duration} s = ${decoded} decoded frames / fps`);
        if (cli) {
            const c = cli[k];
            check(c.sha256 === v.sha256 && c.md5 === v.md5, `${name}: digests equal sitr hash's`);
            check(c.fps === v.fps && c.width === v.width && c.height === v.height,
                `${name}: fps/size equal sitr hash's (${c.fps} ${c.width}x${c.height})`);
            check(c.duration === v.duration, `${name}: duration equals sitr hash's (${c.duration})`);
            compareFrames(name, v.frames, c.frames.map((f) => ({ ...f, t: Number(f.t).toFixed(3) })), 'sitr hash');
            const dihedralSame = c.frames.length === v.frames.length &&
                c.frames.every((f, i) => Array.isArray(f.dihedral) && f.dihedral.every((h, j) => h === v.frames[i].dihedral[j]));
            console.log(`# ${name}: dihedral hashes ${dihedralSame ? 'identical to' : 'differ from'} sitr hash's`);
        }
    }

    // Every frame (secondsPerHash 0) against the reference's s0 files.
    const every = await hashInWorker(page, vendored, 0, 'exact');
    for (const [k, path] of vendored.entries()) {
        const name = basename(path, '.mp4');
        const r = every[k];
        check(r.type === 'done', `${name}: every frame hashed (${r.type === 'done' ? r.video.frames.length : r.code})`);
        if (r.type !== 'done') continue;
        compareFrames(name, r.video.frames, readVpdqLines(join(VENDORED, 'ref-debian12', name + '.s0.txt')), 'ref-debian12 s0');
    }

    // The extended corpus, when present.
    const extended = EXTENDED ? videosOf(join(EXTENDED, 'videos')) : [];
    const canvasSet = extended.length ? extended : vendored;
    const canvasRefDir = extended.length ? join(EXTENDED, 'ref-debian12') : join(VENDORED, 'ref-debian12');
    if (!extended.length) {
        console.log('skipped: extended corpus not present');
    } else {
        const results = await hashInWorker(page, extended, 1, 'exact');
        const sum = { exact: 0, frames: 0, sum: 0, max: 0 };
        for (const [k, path] of extended.entries()) {
            const name = basename(path, '.mp4');
            const r = results[k];
            check(r.type === 'done', `extended ${name}: hashed (${r.type === 'done' ? '' : r.code})`);
            if (r.type !== 'done') continue;
            add(sum, compareFrames('extended ' + name, r.video.frames, readVpdqLines(join(canvasRefDir, name + '.s1.txt')), 'ref-debian12 s1'));
        }
        console.log(`# extended corpus, ${extended.length} videos, s1: ${sum.exact}/${sum.frames} exact, mean ${(sum.sum / Math.max(1, sum.frames)).toFixed(2)}, max ${sum.max} bits`);
    }

    // The browser's own YUV to RGB (canvas), measured for docs/HASHING.md.
    const canvas = await hashInWorker(page, canvasSet, 1, 'canvas');
    for (const [k, path] of canvasSet.entries()) {
        const name = basename(path, '.mp4');
        const r = canvas[k];
        check(r.type === 'done', `canvas ${name}: hashed`);
        if (r.type !== 'done') continue;
        add(totals.canvas, compareFrames('canvas ' + name, r.video.frames, readVpdqLines(join(canvasRefDir, name + '.s1.txt')), 'ref-debian12 s1'));
    }
    for (const [what, s] of Object.entries(totals)) {
        console.log(`# ${what}: ${s.exact}/${s.frames} frames exact (${((100 * s.exact) / Math.max(1, s.frames)).toFixed(1)} %), mean ${(s.sum / Math.max(1, s.frames)).toFixed(2)}, max ${s.max} bits`);
    }

    // French and Arabic lines for the videos.
    await page.selectOption('#lang', 'fr');
    check((await page.textContent('#new-summary')).includes(STRINGS.fr.videos_ready.replace('{n}', String(vendored.length))),
        'French: the videos line');
    await page.selectOption('#lang', 'ar');
    check((await page.getAttribute('html', 'dir')) === 'rtl', 'Arabic: dir="rtl"');
    check((await page.textContent('#new-summary')).includes(STRINGS.ar.videos_ready.replace('{n}', String(vendored.length))),
        'Arabic: the videos line');
    check((await page.textContent('#new-videos button.save-video')) === STRINGS.ar.save_video, 'Arabic: the save button');
    await page.selectOption('#lang', 'en');

    // Create the case: the picture, then each video's fingerprints.
    const beforeCreate = requests.length;
    await page.click('#create');
    await page.waitForSelector('#created:not([hidden])');
    const ref = (await page.textContent('#created-case')).trim();
    const posts_ = requests.slice(beforeCreate).filter((r) => r.method() === 'POST');
    const creates = posts_.filter((r) => r.url().endsWith('/v1/cases'));
    check(creates.length === 1, 'one POST /v1/cases');
    const body = creates[0] ? JSON.parse(creates[0].postData()) : { images: [] };
    check(body.images.length === 1 && body.images[0].sha256 === fileDigest(picture, 'sha256') && !body.videos,
        'the case request carries the picture');
    const adds = posts_.filter((r) => r.url().endsWith('/images')).map((r) => JSON.parse(r.postData()));
    check(adds.length === vendored.length && adds.every((b) => Array.isArray(b.videos) && b.videos.length === 1 && !b.images),
        `one request per video (${adds.length})`);
    for (const path of vendored) {
        const sent = adds.find((b) => b.videos && b.videos[0].sha256 === fileDigest(path, 'sha256'));
        check(!!sent && !('path' in sent.videos[0]) && sent.videos[0].frames.length > 0 &&
            sent.videos[0].frames.every((f) => f.dihedral.length === 8),
            `${basename(path)}: its fingerprints were sent (frames with dihedral, no name)`);
    }
    const caseId = psql(db.dbUrl, `SELECT id FROM cases WHERE reference = '${ref.replace(/'/g, '')}'`);
    check(psql(db.dbUrl, `SELECT count(*) FROM case_images WHERE case_id = ${caseId}`) === '1', 'the case holds one picture');
    check(psql(db.dbUrl, `SELECT count(*) FROM case_videos WHERE case_id = ${caseId} AND frame_count > 0`) === String(vendored.length),
        'the case holds the videos');

    // Every request: to sitrd only, no video bytes.
    const index = bytesIndex([...vendored, longVideo]);
    {
        const v = readFileSync(vendored[0]);
        check(carriesBytes(Buffer.concat([Buffer.from('{"a":"'), v.subarray(3001, 3064), Buffer.from('"}')]), index) === 'raw bytes',
            'detector finds 63 raw video bytes');
        check(carriesBytes(Buffer.from(v.subarray(9005, 9103).toString('base64')), index) !== null, 'detector finds base64 video bytes');
    }
    let posts = 0;
    for (const req of requests) {
        const url = new URL(req.url());
        check(url.origin === server.base, `request stays on sitrd: ${req.method()} ${url.pathname}`);
        const b = req.postDataBuffer() || Buffer.alloc(0);
        if (b.length) posts++;
        const bad = carriesBytes(b, index);
        check(!bad, `${req.method()} ${url.pathname}: ${b.length} bytes, no video bytes${bad ? ' (found ' + bad + ')' : ''}`);
    }
    check(posts >= 1, 'the request bodies were checked');
    const scriptErrors = consoleErrors.filter((e) => !/^Failed to load resource/.test(e));
    check(scriptErrors.length === 0, `no script errors: ${scriptErrors.join(' | ')}`);
} catch (e) {
    failures++;
    console.log('FAIL ' + (e && e.stack ? e.stack : e));
} finally {
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
    await server.stop();
    db.drop();
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
