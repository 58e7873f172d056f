// The victims' page on a phone (390x844) and a laptop (1280x800), in
// English, French and Arabic, in Debian's Chromium against a real sitrd on
// a fresh database of the `pg` CTest fixture.  For each of the six:
//  * no horizontal scrolling, on every step and on the evidence report
//    (document.scrollingElement.scrollWidth <= innerWidth);
//  * every error (a wrong secret, a secret of spaces only, a mistyped case
//    number, a file that is no picture, a lock-out) is inside the viewport
//    when it appears, holds the focus, and says what the language says;
//  * a lock-out (429) says how long to wait (Retry-After);
//  * times show the zone and the seconds and never break across lines;
//  * "leave this screen" and "withdraw my case" are apart (withdrawal in its
//    own box below the report), and withdrawing first offers the report
//    (a download) and says it will be gone after;
//  * the case says what happens next, which platforms take part and where
//    to get help (Iblagh, the operator's list);
//  * the codes can be saved in a file; no request 404s (favicon);
//  * the report prints to A4 with page numbers (a PDF kept as artefact).
// Then her thumbnails: three pictures (one an iPhone HEIC) and a video
// hashed in the page, two pictures (the JPEG and the HEIC of one photo) and
// the video found on a platform: the case lists exactly those three by
// their numbers, each with her own thumbnail, in the three
// languages; no request carries a thumbnail's bytes (nor a picture's);
// the printed report shows them beside her numbers, the saved one does
// not; nothing is stored, and leaving the screen drops them.
// Screenshots and PDFs go to BUILD_DIR/web-artefacts/.
//
// Usage (CTest does this): node phone_test.mjs BUILD_DIR
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesIndex, carriesBytes, chromium, CHROMIUM, CHROMIUM_ARGS, freshDatabase, startSitrd, sleep } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const [buildDir] = process.argv.slice(2);
if (!buildDir) {
    console.error('usage: phone_test.mjs BUILD_DIR');
    process.exit(2);
}
const { STRINGS } = await import(join(here, '..', '..', 'service', 'web', 'i18n.js'));
const ART = join(buildDir, 'web-artefacts');
mkdirSync(ART, { recursive: true });

let failures = 0;
function check(ok, what) {
    console.log((ok ? 'ok   ' : 'FAIL ') + what);
    if (!ok) failures++;
}

const VIEWPORTS = [
    { name: 'phone', width: 390, height: 844 },
    { name: 'laptop', width: 1280, height: 800 },
];
const LANGS = ['en', 'fr', 'ar'];
const IMAGE = {
    pdq: 'd8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22',
    quality: 100,
    md5: 'd35c785545392755e7e4164457657269',
    sha256: 'b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298',
};

const db = freshDatabase(buildDir, 'web_phone');
// Production mode, with the operator the reports must name.
const keyFile = join(mkdtempSync(join(tmpdir(), 'sitr-phone-key-')), 'report.key');
execFileSync(join(buildDir, 'tools', 'sitr-admin'), ['--key-file', keyFile, 'key', 'generate'], { stdio: 'ignore' });
const OPERATOR = {
    SITR_ENV: 'production',
    SITR_REPORT_KEY_FILE: keyFile,
    SITR_OPERATOR_NAME: 'Association Test Sitr',
    SITR_OPERATOR_CONTACT: 'aide@example.org, +212 5 00 00 00 00',
    SITR_OPERATOR_ADDRESS: '1 rue de l’Exemple, Rabat',
    SITR_HELP: 'Hotline 8350 | Association Exemple: +212 5 22 00 00 00',
};
const server = await startSitrd(buildDir, db.dbUrl, 'phone', OPERATOR);
const profile = mkdtempSync(join(tmpdir(), 'sitr-phone-'));
const notMedia = join(profile, 'notes.txt');
writeFileSync(notMedia, 'not a picture\n'.repeat(50));
let browser;

async function json(method, path, body, auth) {
    const headers = { 'Content-Type': 'application/json' };
    if (auth) headers.Authorization = auth;
    const r = await fetch(server.base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, body: await r.json().catch(() => null), headers: r.headers };
}

// The printed report as a reader holds it, read back with poppler's
// pdftotext (tools/deps.sh installs poppler-utils): every page ends with
// its number and the page count ("k / N"; in Arabic the line reads right to
// left, so only the two numbers are checked), and no page ends with a
// heading whose table went to the next page.
function checkPrintedPages(pdfPath, headings, tag) {
    let text;
    try {
        text = execFileSync('pdftotext', ['-layout', pdfPath, '-'], { encoding: 'utf8' });
    } catch (e) {
        check(false, `${tag}: pdftotext reads the printed report (${e.message})`);
        return;
    }
    const bidi = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
    const pages = text.replace(bidi, '').split('\f').filter((p) => p.trim() !== '');
    const n = pages.length;
    const numbered = pages.every((p, i) => {
        const lines = p.split('\n').map((l) => l.trim()).filter((l) => l !== '');
        const nums = (lines[lines.length - 1].match(/\d+/g) || []).map(Number);
        return nums.length === 2 && nums.includes(i + 1) && nums.includes(n);
    });
    check(n >= 1 && numbered, `${tag}: each of the ${n} printed pages ends with its number and the count`);
    // A heading is a line of its own (or, wrapped, its first lines): a
    // table row that begins with the same words has its figure beside it.
    const heads = headings.map((h) => h.replace(/\s+/g, ' ')).filter((h) => h.length >= 4);
    const orphan = [];
    pages.slice(0, -1).forEach((p, i) => {
        const lines = p.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '');
        for (const l of lines.slice(-3, -1))
            for (const h of heads)
                if (h === l || (l.length >= 8 && h.startsWith(l))) orphan.push(`page ${i + 1}: ${h}`);
    });
    check(orphan.length === 0, `${tag}: no heading left at the foot of a page without its table (${orphan.join('; ') || 'none'})`);
}

// Is the element inside the viewport, and does it (or a child) hold the focus?
function inView(page, sel) {
    return page.evaluate((s) => {
        const el = document.querySelector(s);
        if (!el) return { ok: false, why: 'missing' };
        const r = el.getBoundingClientRect();
        const ok = r.height > 0 && r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth;
        return { ok, why: `top ${Math.round(r.top)} bottom ${Math.round(r.bottom)} of ${innerHeight}`, focused: el.contains(document.activeElement) };
    }, sel);
}

// No sideways scrolling, and nothing sticking out on either side (in
// Arabic an overflow goes to the left, which scrollWidth does not count).
// On a phone a page wider than the screen is zoomed out to fit (its
// layout viewport grows): that counts as too wide too.
function noSideScroll(page) {
    return page.evaluate(() => {
        const width = Math.min(innerWidth, screen.width);
        // The page's frame: what sticks out of it is what widens the page.
        const main = document.querySelector('main');
        const body = (main || document.body).getBoundingClientRect();
        const out = [];
        for (const el of document.body.querySelectorAll('*')) {
            const r = el.getBoundingClientRect();
            if (!r.width || !r.height || el.closest('.visually-hidden, .print-frame, [hidden]') || el.contains(main)) continue;
            if (r.left < Math.max(-1, body.left - 1) || r.right > Math.min(width, body.right) + 1) out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className ? '.' + el.className : ''} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
        }
        const wide = document.scrollingElement.scrollWidth > width;
        const zoomed = innerWidth > screen.width ? ` (laid out ${innerWidth} px wide on a ${screen.width} px screen: zoomed out)` : '';
        return { ok: !wide && !zoomed && out.length === 0, why: `scrollWidth ${document.scrollingElement.scrollWidth} of ${width}${zoomed}; outside: ${out.slice(0, 5).join(' ')}` };
    });
}

async function errorShown(page, tag, want) {
    await page.waitForFunction((w) => document.getElementById('error').textContent === w, want, { timeout: 15000 })
        .catch(() => {});
    const text = await page.textContent('#error');
    check(text === want, `${tag}: error says "${text}"`);
    const v = await inView(page, '#error');
    check(v.ok, `${tag}: error inside the viewport (${v.why})`);
    check(v.focused, `${tag}: error holds the focus`);
}

try {
    // A platform, a case with one picture, an upload of it found and removed:
    // the status and the report have times, a takedown and its history.
    const key = execFileSync(join(buildDir, 'tools', 'sitr-admin'), ['--database-url', db.dbUrl, 'platform', 'add', 'example-social'], {
        encoding: 'utf8',
        env: { ...process.env, SITR_DIGEST_KEY: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f' },
    }).split('\n')[0].trim();
    const created = await json('POST', '/v1/cases', { images: [IMAGE] });
    check(created.status === 201, `case created (${created.status})`);
    const ref = created.body.case;
    const secret = created.body.secret;
    const up = await json('POST', '/v1/uploads', { uploads: [{ id: 'post-77', url: 'https://example.social/p/77', ...IMAGE }] }, 'Bearer ' + key);
    check(up.status === 200 || up.status === 202, `upload reported (${up.status})`);
    let takedown = null;
    for (let k = 0; k < 200 && !takedown; k++) {
        const l = await json('GET', '/v1/takedowns?status=pending', null, 'Bearer ' + key);
        takedown = l.body && l.body.takedowns && l.body.takedowns[0];
        if (!takedown) await sleep(50);
    }
    check(!!takedown, 'the matcher requested a takedown');
    if (takedown) {
        const a = await json('POST', '/v1/takedowns/' + takedown.id, { status: 'removed', note: 'taken down' }, 'Bearer ' + key);
        check(a.status === 200, `takedown answered removed (${a.status})`);
    }

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    for (const vp of VIEWPORTS) {
        for (const lang of LANGS) {
            const S = STRINGS[lang];
            const tag = `${vp.name}/${lang}`;
            const context = await browser.newContext({
                viewport: { width: vp.width, height: vp.height },
                locale: lang === 'ar' ? 'ar-MA' : lang === 'fr' ? 'fr-FR' : 'en-GB',
                timezoneId: 'Africa/Casablanca',
                acceptDownloads: true,
                isMobile: vp.name === 'phone',
                hasTouch: vp.name === 'phone',
            });
            const page = await context.newPage();
            const bad = [];
            page.on('response', (r) => {
                if (r.status() === 404) bad.push(r.url());
            });
            const shot = (step) => page.screenshot({ path: join(ART, `${vp.name}-${lang}-${step}.png`), fullPage: false });
            await page.goto(server.base + '/');
            await page.waitForSelector('body[data-ready="1"]');
            await page.selectOption('#lang', lang);
            check((await page.textContent('#go-new')) === S.start_new, `${tag}: page in ${lang}`);
            let ns = await noSideScroll(page);
            check(ns.ok, `${tag}: intro has no horizontal scroll (${ns.why})`);

            // A file that is no picture: refused with a message where she looks.
            await page.click('#go-new');
            await page.setInputFiles('#files', [notMedia]);
            await errorShown(page, `${tag} not a picture`, S.not_media.replace('{names}', 'notes.txt'));
            check(await page.isDisabled('#create'), `${tag}: nothing to send after a refused file`);
            await shot('not-media');

            // The check form: a secret of spaces only, a mistyped case number,
            // a wrong secret.
            await page.click('#go-check');
            await page.fill('#check-case', ref);
            await page.fill('#check-secret', '     ');
            await page.click('#check-submit');
            await errorShown(page, `${tag} spaces-only secret`, S.err_secret_required);
            await page.fill('#check-case', ref.slice(0, -1) + (ref.endsWith('A') ? 'B' : 'A'));
            await page.fill('#check-secret', secret);
            await page.click('#check-submit');
            await errorShown(page, `${tag} mistyped case number`, S.err_invalid_reference);
            await shot('error');
            ns = await noSideScroll(page);
            check(ns.ok, `${tag}: the form has no horizontal scroll (${ns.why})`);

            // The case.
            await page.fill('#check-case', ref);
            await page.fill('#check-secret', secret);
            await page.click('#check-submit');
            await page.waitForSelector('#case:not([hidden])');
            ns = await noSideScroll(page);
            check(ns.ok, `${tag}: the case has no horizontal scroll (${ns.why})`);
            const times = await page.$$eval('#case time', (els) => els.map((e) => ({ text: e.textContent, lines: e.getClientRects().length, h: e.getBoundingClientRect().height, lh: parseFloat(getComputedStyle(e).lineHeight) || 24 })));
            check(times.length >= 3, `${tag}: ${times.length} times shown`);
            for (const t of times) {
                check(t.lines === 1 && t.h < 1.6 * t.lh, `${tag}: "${t.text}" on one line`);
                check(/\d{2}:\d{2}:\d{2}|[٠-٩]{2}:[٠-٩]{2}:[٠-٩]{2}/.test(t.text), `${tag}: "${t.text}" to the second`);
                check(/GMT|UTC|[+−-]\d/.test(t.text) || /غرينتش/.test(t.text), `${tag}: "${t.text}" names the zone`);
            }
            // "Leave" and "withdraw" are apart: leave at the top of the case,
            // withdrawal in its own box below everything else.
            const pos = await page.evaluate(() => {
                const y = (id) => document.getElementById(id).getBoundingClientRect().top + scrollY;
                return { leave: y('leave'), report: y('report'), withdraw: y('withdraw'), sameBox: document.getElementById('leave').closest('section') === document.getElementById('withdraw').closest('section') };
            });
            check(!pos.sameBox && pos.leave < pos.report && pos.report < pos.withdraw, `${tag}: "leave" above the report, "withdraw" in its own box below it`);
            // What happens next, the platforms taking part and where to get
            // help (Iblagh, the operator's list), on the case screen too.
            const about = await page.evaluate(() => ({
                shown: !document.getElementById('about').hidden,
                text: document.getElementById('about').textContent,
                platforms: [...document.querySelectorAll('#platforms li')].map((li) => li.textContent),
                help: [...document.querySelectorAll('#help-list li')].map((li) => li.textContent),
            }));
            check(about.shown && about.text.includes(S.next_title) && about.text.includes(S.next_text) && about.text.includes(S.evidence_help_police),
                `${tag}: the case says what happens next and how to report to the police`);
            check(about.platforms.join('|') === 'example-social' && about.help.join('|') === 'Hotline 8350|Association Exemple: +212 5 22 00 00 00',
                `${tag}: the platforms taking part and the operator's help list (${about.platforms.join('|')}; ${about.help.join('|')})`);
            check((await page.textContent('#leave')) === S.leave && S.leave !== S.withdraw, `${tag}: "${S.leave}" is not "${S.withdraw}"`);
            await shot('case');

            // Withdrawal offers the report first.
            await page.click('#withdraw');
            const v = await inView(page, '#withdraw-confirm');
            check(v.ok || (await page.evaluate(() => document.getElementById('withdraw-confirm').getBoundingClientRect().top < innerHeight)),
                `${tag}: the confirmation is on screen (${v.why})`);
            check((await page.evaluate(() => document.activeElement.id)) === 'withdraw-save', `${tag}: "save the report first" has the focus`);
            check((await page.textContent('#withdraw-confirm')).includes(S.withdraw_report_first), `${tag}: says the report will be gone after`);
            await shot('withdraw-confirm');
            const dl = page.waitForEvent('download', { timeout: 15000 }).catch(() => null);
            await page.click('#withdraw-save');
            const d = await dl;
            check(!!d && /^sitr-report-.*\.html$/.test(d.suggestedFilename()), `${tag}: the report is saved first (${d && d.suggestedFilename()})`);
            if (d) {
                const html = readFileSync(await d.path(), 'utf8');
                check(html.includes(`lang="${lang}"`), `${tag}: the saved report is in ${lang}`);
                check(html.includes('Association Test Sitr') && html.includes('aide@example.org') && html.includes('Rabat'),
                    `${tag}: the report names the operator, its contact and address`);
                check(html.includes('<li><bdi>Hotline 8350</bdi></li>') && html.includes('<li><bdi>example-social</bdi></li>'),
                    `${tag}: the report lists the help and the platforms taking part`);
                check(html.includes(STRINGS[lang].evidence_item_image.replace('{n}', '1')), `${tag}: the report names her picture No. 1`);
                const local = (html.match(/<span class="local">/g) || []).length;
                const utc = (html.match(/ UTC<\/time>/g) || []).length;
                check(utc >= 5 && local === utc, `${tag}: the saved report gives ${utc} times in UTC, each with her local time (${local})`);
                // The text a reader sees: not the times' machine form nor the signed
                // JSON's data block (which keeps the codes by design).
                const seen = html.replace(/datetime="[^"]*"/g, '').replace(/<script type="application\/json" id="sitr-report">.*?<\/script>/s, '');
                check(!/\d\.\d{3}Z|\(pending\)|\(removed\)/.test(seen), `${tag}: no milliseconds, no status code in the text`);
                check(html.includes('id="sitr-report"'), `${tag}: the saved report carries its signed data`);
                // The report on this screen: no sideways scrolling; printed to A4.
                const rp = await context.newPage();
                await rp.setContent(html);
                ns = await noSideScroll(rp);
                check(ns.ok, `${tag}: the report has no horizontal scroll (${ns.why})`);
                await rp.screenshot({ path: join(ART, `${vp.name}-${lang}-report.png`), fullPage: true });
                if (vp.name === 'phone') {
                    const pdf = await rp.pdf({ preferCSSPageSize: true, path: join(ART, `report-${lang}.pdf`) });
                    const pages = (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
                    check(pages >= 1, `${tag}: report printed to a PDF of ${pages} page(s)`);
                    const mediaBox = /\/MediaBox\s*\[\s*0\s+0\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)/.exec(pdf.toString('latin1'));
                    check(mediaBox && Math.abs(Number(mediaBox[1]) - 595) < 2 && Math.abs(Number(mediaBox[2]) - 842) < 2,
                        `${tag}: the PDF is A4 (${mediaBox && mediaBox.slice(1).join('x')})`);
                    const headings = await rp.$$eval('h1, h2, h3', (els) => els.map((e) => e.textContent.trim()));
                    checkPrintedPages(join(ART, `report-${lang}.pdf`), headings, tag);
                }
                await rp.close();
            }
            await page.click('#withdraw-no');

            // "Print or save as PDF": the report in a frame of the page, its
            // own style allowed by the page's policy (a blocked style would
            // leave its headings without their rule).
            if (lang === 'en') {
                const csp = [];
                page.on('console', (m) => {
                    if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
                });
                await page.click('#report-print');
                await page.waitForSelector('#print-frame', { state: 'attached', timeout: 15000 });
                await page.waitForFunction(() => {
                    const d = document.getElementById('print-frame').contentDocument;
                    return d && d.querySelector('h2');
                }, null, { timeout: 15000 });
                const ruled = await page.evaluate(() => {
                    const d = document.getElementById('print-frame').contentDocument;
                    return getComputedStyle(d.querySelector('h2')).borderBottomStyle;
                });
                check(ruled === 'solid', `${tag}: the report printed from the page keeps its style (${ruled})`);
                check(csp.length === 0, `${tag}: no Content-Security-Policy refusal: ${csp.join(' | ')}`);
                check((await page.textContent('#status')) === S.report_printing, `${tag}: says how to get a PDF`);
            }

            // "Leave" keeps the case.
            if (lang === 'en') {
                await page.click('#leave');
                check(await page.isVisible('#intro'), `${tag}: "leave" goes back to the start, the case stays`);
                const again = await json('GET', '/v1/cases/' + encodeURIComponent(ref), null, 'Case ' + secret);
                check(again.status === 200, `${tag}: the case is still open after "leave"`);
            }
            check(bad.length === 0, `${tag}: no 404 (favicon included): ${bad.join(' ')}`);
            await context.close();
        }
    }

    // Saving the two codes, on a new case made by the page.
    {
        const context = await browser.newContext({ viewport: { width: 390, height: 844 }, acceptDownloads: true });
        const page = await context.newPage();
        await page.goto(server.base + '/');
        await page.waitForSelector('body[data-ready="1"]');
        await page.evaluate(() => {
            document.getElementById('created-case').textContent = 'SITR-TEST';
            document.getElementById('created-secret').textContent = 'SECRET-TEST';
            for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== 'created';
        });
        const dl = page.waitForEvent('download', { timeout: 15000 }).catch(() => null);
        await page.click('#save-codes');
        const d = await dl;
        const text = d ? readFileSync(await d.path(), 'utf8') : '';
        check(text.includes('SITR-TEST') && text.includes('SECRET-TEST'), 'the codes are saved in a file');
        await context.close();
    }

    // Her thumbnails.
    {
        const DATA = join(here, '..', 'data');
        const pictures = [join(DATA, 'pdq', 'bridge-mods', 'aaa-orig.jpg'), join(DATA, 'pdq', 'misc-images', 'wee.jpg'),
            join(DATA, 'heic', 'bridge-512.heic')];
        const video = join(DATA, 'vpdq', 'videos', 'doorknob-hd-no-bar.mp4');
        const context = await browser.newContext({ viewport: { width: 390, height: 844 }, acceptDownloads: true, isMobile: true, hasTouch: true });
        const page = await context.newPage();
        const bodies = [];
        page.on('request', (r) => bodies.push({ url: r.url(), body: r.postDataBuffer() || Buffer.alloc(0) }));
        await page.goto(server.base + '/');
        await page.waitForSelector('body[data-ready="1"]');
        await page.selectOption('#lang', 'en');
        await page.click('#go-new');
        await page.setInputFiles('#files', [...pictures, video]);
        await page.waitForFunction(() => !document.getElementById('create').disabled, null, { timeout: 300000 });
        await page.click('#create');
        await page.waitForSelector('#created:not([hidden])', { timeout: 60000 });
        const tref = await page.textContent('#created-case');
        const tsecret = await page.textContent('#created-secret');
        check(/^SITR-/.test(tref), `thumbnails: the page opened case ${tref}`);
        // The platform: the first and third pictures are the upload post-77
        // already reported (matched against every new case: one removal
        // request naming both); the video is uploaded now.
        const hashed = JSON.parse(execFileSync(join(buildDir, 'hasher', 'cli', 'sitr'), ['hash', '--format', 'jsonl', video], { encoding: 'utf8' }));
        delete hashed.path;
        const vu = await json('POST', '/v1/uploads', { uploads: [{ id: 'clip-9', url: 'https://example.social/v/9', video: hashed }] }, 'Bearer ' + key);
        check(vu.status === 200 || vu.status === 202, `thumbnails: the video upload reported (${vu.status})`);
        let st = null;
        for (let k = 0; k < 300; k++) {
            st = await json('GET', '/v1/cases/' + encodeURIComponent(tref), null, 'Case ' + tsecret);
            if (st.body && st.body.takedowns && st.body.takedowns.requested >= 2) break;
            await sleep(100);
        }
        check(st.body && st.body.takedowns.requested === 2, `thumbnails: two removals requested (${st.body && st.body.takedowns.requested})`);
        await page.click('#written');
        await page.waitForSelector('#found:not([hidden])', { timeout: 15000 });
        const items = await page.$$eval('#found-list > li', (lis) => lis.map((li) => {
            const img = li.querySelector('img.thumb');
            return { item: li.dataset.item, text: li.textContent, thumb: !!img && img.complete && img.naturalWidth > 0, src: img ? img.src : '' };
        }));
        check(items.map((x) => x.item).join(' ') === 'image-1 image-3 video-1', `thumbnails: the found list is pictures No. 1 and 3 and video No. 1 (${items.map((x) => x.item).join(' ')})`);
        for (const x of items) {
            check(x.thumb && x.src.startsWith('blob:'), `thumbnails: ${x.item} has her own thumbnail (${x.src.slice(0, 5)})`);
            check(x.text.includes('example-social') && x.text.includes(STRINGS.en.evidence_st_pending), `thumbnails: ${x.item} says where and what happened ("${x.text}")`);
        }
        check(items.length && items[0].text.includes(STRINGS.en.found_image.replace('{n}', '1')), 'thumbnails: "Picture No. 1" named');
        await page.screenshot({ path: join(ART, 'phone-en-found.png'), fullPage: true });
        for (const lang of ['fr', 'ar']) {
            await page.selectOption('#lang', lang);
            const text = await page.textContent('#found');
            check(text.includes(STRINGS[lang].found_image.replace('{n}', '1')) && text.includes(STRINGS[lang].found_video.replace('{n}', '1')) &&
                text.includes(STRINGS[lang].evidence_st_pending) && text.includes(STRINGS[lang].found_title),
            `thumbnails: the found list in ${lang}`);
            check(!/Picture|Video No|Takedown|found \(/.test(text), `thumbnails: no English word in the ${lang} list`);
            check(await page.$$eval('#found img.thumb', (els) => els.length) === 3, `thumbnails: still three thumbnails in ${lang}`);
            const ns = await noSideScroll(page);
            check(ns.ok, `thumbnails: no horizontal scroll in ${lang} (${ns.why})`);
            await page.screenshot({ path: join(ART, `phone-${lang}-found.png`), fullPage: true });
        }
        await page.selectOption('#lang', 'en');

        // The thumbnails' size as shown (a page's policy keeps even the test
        // from reading blob: bytes back, so what is sent is checked below by
        // what it may hold: fingerprints only).
        const sizes = await page.$$eval('#found img.thumb', (els) => els.map((el) => Math.max(el.naturalWidth, el.naturalHeight)));
        check(sizes.length === 3 && sizes.every((n) => n > 0 && n <= 96), `thumbnails: small (${sizes.join(', ')} px)`);

        // Printed: her thumbnails beside her numbers.
        await page.click('#report-print');
        await page.waitForFunction(() => {
            const f = document.getElementById('print-frame');
            const d = f && f.contentDocument;
            return d && d.querySelector('span[data-image="1"] img') && d.querySelector('span[data-image="3"] img') && d.querySelector('span[data-video="1"] img');
        }, null, { timeout: 15000 }).catch(() => {});
        const printed = await page.evaluate(() => {
            const d = document.getElementById('print-frame').contentDocument;
            const ok = (sel) => {
                const img = d.querySelector(sel);
                return !!img && img.complete && img.naturalWidth > 0;
            };
            return { image: ok('span[data-image="1"] img'), heic: ok('span[data-image="3"] img'), video: ok('span[data-video="1"] img'), all: d.querySelectorAll('img').length };
        });
        check(printed.image && printed.heic && printed.video && printed.all === 3, `thumbnails: the printed report shows the three beside their numbers (${JSON.stringify(printed)})`);
        // Saved: no thumbnail in the file she may hand on.
        const dl = page.waitForEvent('download', { timeout: 15000 }).catch(() => null);
        await page.click('#report');
        const d = await dl;
        const saved = d ? readFileSync(await d.path(), 'utf8') : '';
        check(saved.includes('data-image="1"') && !/<img/i.test(saved), 'thumbnails: the saved report names picture No. 1 and holds no image');

        // Every request body is fingerprints and nothing else: JSON whose
        // names are the API's and whose strings are hex digests (so no
        // thumbnail in any encoding), and none holds a run of a file's bytes.
        const NAMES = new Set(['images', 'videos', 'pdq', 'quality', 'dihedral', 'md5', 'sha256', 'type', 'duration', 'fps',
            'width', 'height', 'frames', 'n', 't', 'trimmed']);
        const onlyHashes = (v) => {
            if (typeof v === 'string') return /^[0-9a-f]{1,64}$/.test(v) || v === 'video';
            if (typeof v === 'number' || v === null || typeof v === 'boolean') return true;
            if (Array.isArray(v)) return v.every(onlyHashes);
            return Object.entries(v).every(([k, x]) => (NAMES.has(k) || /^\d+$/.test(k)) && onlyHashes(x));
        };
        const sent = bodies.filter((b) => b.body.length);
        const odd = sent.filter((b) => {
            try {
                return !onlyHashes(JSON.parse(b.body.toString('utf8')));
            } catch {
                return true;
            }
        });
        check(sent.length >= 2 && odd.length === 0, `thumbnails: ${sent.length} request bodies, each only fingerprints (${odd.map((b) => b.url).join(' ')})`);
        const index = bytesIndex([...pictures, video]);
        const carried = sent.filter((b) => carriesBytes(b.body, index));
        check(carried.length === 0, `thumbnails: no request with a file's bytes (${carried.map((b) => b.url).join(' ')})`);
        const stored = await page.evaluate(async () => ({
            local: Object.keys(localStorage),
            session: Object.keys(sessionStorage),
            idb: indexedDB.databases ? (await indexedDB.databases()).length : 0,
            caches: (await caches.keys()).length,
        }));
        check(stored.local.every((k) => k === 'sitr.lang') && !stored.session.length && !stored.idb && !stored.caches,
            `thumbnails: nothing stored (${JSON.stringify(stored)})`);

        // Leaving the screen drops them: their blob: URLs are revoked.
        const urls = items.map((x) => x.src);
        await page.click('#leave');
        const gone = await page.evaluate((list) => Promise.all(list.map((u) => new Promise((resolve) => {
            const img = new Image();
            img.onload = () => resolve(false);
            img.onerror = () => resolve(true);
            img.src = u;
        }))), urls);
        check(gone.length === 3 && gone.every(Boolean), 'thumbnails: forgotten when she leaves the screen');
        await context.close();
    }

    // A lock-out says how long to wait: spend the failure budget of this
    // address on wrong secrets, then ask through the page.
    // A well-formed secret (its check symbol right) of another case.
    const other = await json('POST', '/v1/cases', { images: [{ md5: '0123456789abcdef0123456789abcdef' }] });
    const wrong = other.body.secret;
    // Until this address is locked out (again: a lock-out lasts a minute).
    async function lockOut() {
        for (let k = 0; k < 200; k++) {
            const r = await fetch(`${server.base}/v1/cases/${encodeURIComponent(ref)}`, { headers: { Authorization: 'Case ' + wrong } });
            if (r.status === 429) return r.headers.get('Retry-After');
        }
        return null;
    }
    const locked = await lockOut();
    check(!!locked, `locked out after wrong secrets (Retry-After ${locked})`);
    for (const vp of VIEWPORTS) {
        for (const lang of LANGS) {
            const tag = `${vp.name}/${lang} lock-out`;
            const context = await browser.newContext({ viewport: { width: vp.width, height: vp.height } });
            const page = await context.newPage();
            await page.goto(server.base + '/');
            await page.waitForSelector('body[data-ready="1"]');
            await page.selectOption('#lang', lang);
            await page.click('#go-check');
            await page.fill('#check-case', ref);
            await page.fill('#check-secret', wrong);
            // The budget refills a little every minute: lock out again just
            // before the page asks, and once more if a refilled try slipped in
            // (then the page says "not found" instead).
            const head = STRINGS[lang].err_rate_limited_wait.split('{wait}')[0];
            let text = '';
            for (let attempt = 0; attempt < 3 && !text.startsWith(head); attempt++) {
                check(!!(await lockOut()), `${tag}: locked out`);
                await page.evaluate(() => (document.getElementById('error').textContent = ''));
                await page.click('#check-submit');
                await page.waitForFunction(() => document.getElementById('error').textContent !== '', null, { timeout: 15000 }).catch(() => {});
                text = await page.textContent('#error');
            }
            check(text.startsWith(head) && /\d/.test(text), `${tag}: "${text}"`);
            const v = await inView(page, '#error');
            check(v.ok && v.focused, `${tag}: inside the viewport and focused (${v.why})`);
            await page.screenshot({ path: join(ART, `${vp.name}-${lang}-lockout.png`) });
            await context.close();
        }
    }
} catch (e) {
    failures++;
    console.log('FAIL ' + (e && e.stack ? e.stack : e));
} finally {
    if (browser) await browser.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    rmSync(dirname(keyFile), { recursive: true, force: true });
    await server.stop();
    db.drop();
}
console.log(`# screenshots and PDFs in ${ART}`);
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
