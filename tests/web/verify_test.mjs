// Signed evidence reports end to end: sitrd signs with a key made by
// `sitr-admin key generate`; `sitr report verify` and the page at /verify
// (in Chromium, with the network cut after it loaded) accept the report as
// JSON and as the HTML page, refuse it after one changed byte, refuse
// another operator's key when the operator's key is given, and show the
// verification code printed on the report.
//
// Usage (CTest does this): node verify_test.mjs BUILD_DIR
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, CHROMIUM, CHROMIUM_ARGS, freshDatabase, startSitrd } from './support.mjs';

const [buildDir] = process.argv.slice(2);
if (!buildDir) {
    console.error('usage: verify_test.mjs BUILD_DIR');
    process.exit(2);
}
let failures = 0;
function check(ok, what) {
    console.log((ok ? 'ok   ' : 'FAIL ') + what);
    if (!ok) failures++;
}

const tmp = mkdtempSync(join(tmpdir(), 'sitr-verify-'));
const admin = join(buildDir, 'tools', 'sitr-admin');
const sitr = join(buildDir, 'hasher', 'cli', 'sitr');
const keyFile = join(tmp, 'report.key');
const otherFile = join(tmp, 'other.key');
const publicOf = (out) => /public key: (\S+)/.exec(out)[1];
const pub = publicOf(execFileSync(admin, ['--key-file', keyFile, 'key', 'generate'], { encoding: 'utf8' }));
const otherPub = publicOf(execFileSync(admin, ['--key-file', otherFile, 'key', 'generate'], { encoding: 'utf8' }));
check(pub.length === 44 && pub !== otherPub, `two keys made (${pub})`);
const shown = execFileSync(admin, ['--key-file', keyFile, 'key', 'show'], { encoding: 'utf8' });
check(shown.includes(pub), 'key show prints the same public key');

const db = freshDatabase(buildDir, 'web_verify');
const server = await startSitrd(buildDir, db.dbUrl, 'verify', { SITR_REPORT_KEY_FILE: keyFile });
let browser;

// The command in the language of locale (English by default, whatever
// the environment of the test says).
function verifyCli(file, key, locale = 'C.UTF-8') {
    const args = ['report', 'verify', file];
    if (key) args.push('--public-key', key);
    const env = { ...process.env, LANG: locale };
    delete env.LANGUAGE;
    delete env.LC_ALL;
    delete env.LC_MESSAGES;
    const r = spawnSync(sitr, args, { encoding: 'utf8', env });
    return { status: r.status, out: r.stdout + r.stderr };
}

// One changed byte inside the signed data: the first "images":N digit.
function tamper(text) {
    const at = text.indexOf('"images":') + '"images":'.length;
    const digit = text[at];
    return text.slice(0, at) + (digit === '9' ? '8' : String(Number(digit) + 1)) + text.slice(at + 1);
}

try {
    const created = await fetch(server.base + '/v1/cases', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ images: [{ md5: '0123456789abcdef0123456789abcdef' }] }),
    }).then((r) => r.json());
    const auth = { Authorization: 'Case ' + created.secret };
    const url = `${server.base}/v1/cases/${encodeURIComponent(created.case)}/report`;
    const json = await fetch(url, { headers: auth }).then((r) => r.text());
    const html = await fetch(url + '?format=html&lang=fr', { headers: auth }).then((r) => r.text());
    const report = JSON.parse(json);
    check(report.signature && report.signature.alg === 'Ed25519' && report.signature.public_key === pub,
        'the JSON report is signed with the operator key');
    const code = report.signature.code;
    check(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/.test(code), `verification code ${code}`);
    check(html.includes('id="sitr-report"') && html.includes('Code de vérification'), 'the HTML report carries the signed JSON and the code');
    // The page was made by its own request: its own time, signature and code.
    const htmlCode = JSON.parse(/id="sitr-report">(.*?)<\/script>/s.exec(html)[1]).signature.code;
    check(html.includes(`>${htmlCode}</strong>`), `the HTML page prints its code ${htmlCode}`);
    const codes = { JSON: code, HTML: htmlCode };
    const files = {
        json: join(tmp, 'report.json'),
        html: join(tmp, 'report.html'),
        jsonBad: join(tmp, 'report-changed.json'),
        htmlBad: join(tmp, 'report-changed.html'),
    };
    writeFileSync(files.json, json);
    writeFileSync(files.html, html);
    writeFileSync(files.jsonBad, tamper(json));
    writeFileSync(files.htmlBad, tamper(html));
    check(tamper(html) !== html && tamper(html).length === html.length, 'the changed copy differs by one byte');

    // The command line.
    for (const [name, file] of [['JSON', files.json], ['HTML', files.html]]) {
        let r = verifyCli(file);
        check(r.status === 0 && r.out.includes('GENUINE') && r.out.includes(codes[name]), `sitr report verify: ${name} genuine (${r.status})`);
        r = verifyCli(file, pub);
        check(r.status === 0, `sitr report verify --public-key: ${name} genuine`);
        r = verifyCli(file, otherPub);
        check(r.status === 1 && r.out.includes('another key'), `sitr report verify: ${name} refused with another operator's key`);
    }
    for (const [name, file] of [['JSON', files.jsonBad], ['HTML', files.htmlBad]]) {
        const r = verifyCli(file);
        check(r.status === 1 && r.out.includes('NOT VERIFIED'), `sitr report verify: ${name} with one changed byte refused (${r.out.trim()})`);
    }

    // The command in French and in Arabic, as LANG asks: the verdict, the
    // labels and the reason for a refusal in that language, no English word.
    const spoken = {
        'fr_FR.UTF-8': { genuine: 'AUTHENTIQUE : ce rapport a été signé avec la clé', code: 'code de vérification :',
            changed: 'NON VÉRIFIÉ : la signature ne correspond pas', other: 'NON VÉRIFIÉ : ce rapport a été signé avec une autre clé' },
        'ar_MA.UTF-8': { genuine: 'أصلي: وُقّع هذا التقرير بالمفتاح', code: 'رمز التحقق:',
            changed: 'لم يتم التحقق: التوقيع غير مطابق', other: 'لم يتم التحقق: وُقّع هذا التقرير بمفتاح آخر' },
    };
    const english = /GENUINE|VERIFIED|signed|changed|operator|case:/;
    for (const [locale, words] of Object.entries(spoken)) {
        for (const [name, file, bad] of [['JSON', files.json, files.jsonBad], ['HTML', files.html, files.htmlBad]]) {
            let r = verifyCli(file, null, locale);
            check(r.status === 0 && r.out.includes(words.genuine) && new RegExp(`${words.code}\\s+${codes[name]}`).test(r.out) &&
                !english.test(r.out), `${locale} sitr report verify: ${name} genuine, in that language`);
            r = verifyCli(bad, null, locale);
            check(r.status === 1 && r.out.includes(words.changed) && !english.test(r.out),
                `${locale} sitr report verify: ${name} with one changed byte refused, in that language (${r.out.trim()})`);
            r = verifyCli(file, otherPub, locale);
            check(r.status === 1 && r.out.includes(words.other) && !english.test(r.out),
                `${locale} sitr report verify: ${name} refused with another operator's key, in that language`);
        }
    }

    // The page, offline once loaded.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    for (const lang of ['en', 'fr', 'ar']) {
        const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
        const page = await context.newPage();
        await page.goto(server.base + '/verify');
        await page.waitForSelector('body[data-ready="1"]');
        await page.selectOption('#lang', lang);
        await context.setOffline(true);
        const verdict = async () => {
            await page.waitForSelector('#verdict:not([hidden])');
            const r = { cls: await page.getAttribute('#verdict', 'class'), text: await page.textContent('#verdict') };
            await page.evaluate(() => (document.getElementById('verdict').hidden = true));
            return r;
        };
        await page.setInputFiles('#verify-file', files.html);
        let v = await verdict();
        check(v.cls.includes('good') && v.text.includes(htmlCode), `${lang} /verify offline: the HTML report is genuine, code shown`);
        await page.setInputFiles('#verify-file', files.htmlBad);
        v = await verdict();
        check(v.cls.includes('bad'), `${lang} /verify offline: one changed byte is refused`);
        await page.setInputFiles('#verify-file', []);
        await page.fill('#verify-text', json);
        await page.fill('#verify-key', otherPub);
        await page.click('#verify-go');
        v = await verdict();
        check(v.cls.includes('bad'), `${lang} /verify: another operator's key is refused`);
        await page.fill('#verify-key', pub);
        await page.click('#verify-go');
        v = await verdict();
        check(v.cls.includes('good'), `${lang} /verify: the pasted JSON is genuine with the operator's key`);
        const wide = await page.evaluate(() => document.scrollingElement.scrollWidth <= innerWidth);
        check(wide, `${lang} /verify: no horizontal scroll on a phone`);
        await context.close();
    }
} catch (e) {
    failures++;
    console.log('FAIL ' + (e && e.stack ? e.stack : e));
} finally {
    if (browser) await browser.close().catch(() => {});
    await server.stop();
    db.drop();
    rmSync(tmp, { recursive: true, force: true });
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
