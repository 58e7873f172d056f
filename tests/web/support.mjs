// Shared pieces of the page's browser tests and benchmarks: a fresh
// database on the `pg` CTest fixture, sitrd on a free port, Debian's
// Chromium through playwright-core (no browser download; flags for a
// closed network), and the detector of file bytes in request bodies.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, 'package.json'));
export const { chromium } = require('playwright-core');

export const CHROMIUM = process.env.SITR_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
];
const TEST_KEY = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function psql(url, sql) {
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

// A migrated database of its own on the fixture's server:
// {conninfo, dbUrl, drop()}.
export function freshDatabase(buildDir, prefix) {
    const conninfo = readFileSync(join(buildDir, 'pg', 'conninfo'), 'utf8').trim();
    const name = `${prefix}_${process.pid}_${Date.now() % 100000}`;
    const dbUrl = conninfo.replace(/\/[^/]*$/, '/' + name);
    psql(conninfo, `DROP DATABASE IF EXISTS ${name}`);
    psql(conninfo, `CREATE DATABASE ${name}`);
    execFileSync(join(buildDir, 'tools', 'sitr-admin'), ['--database-url', dbUrl, 'migrate'], { stdio: 'ignore' });
    return {
        conninfo,
        dbUrl,
        drop() {
            try {
                psql(conninfo, `DROP DATABASE IF EXISTS ${name}`);
            } catch {
                // the fixture goes away anyway
            }
        },
    };
}

// sitrd on a free loopback port: {child, base, logPath, stop()}; env adds
// to (or overrides) its environment.
export async function startSitrd(buildDir, dbUrl, tag, env = {}) {
    const port = await freePort();
    const logPath = join(buildDir, 'e2e-logs', `sitrd-${tag}-${process.pid}.log`);
    execFileSync('mkdir', ['-p', dirname(logPath)]);
    const log = openSync(logPath, 'w');
    const child = spawn(join(buildDir, 'service', 'sitrd'), [], {
        env: {
            PATH: process.env.PATH,
            SITR_LISTEN: `127.0.0.1:${port}`,
            SITR_DATABASE_URL: dbUrl,
            SITR_DIGEST_KEY: TEST_KEY,
            SITR_CASE_RATE: '1000',
            ...env,
        },
        stdio: ['ignore', log, log],
    });
    closeSync(log);
    const base = `http://127.0.0.1:${port}`;
    const stop = async () => {
        child.kill('SIGTERM');
        for (let k = 0; k < 200 && child.exitCode === null; k++) await sleep(50);
        if (child.exitCode === null) child.kill('SIGKILL');
    };
    for (let k = 0; k < 400; k++) {
        if (child.exitCode !== null) throw new Error(`sitrd exited (${child.exitCode}); log ${logPath}`);
        try {
            const r = await fetch(base + '/readyz');
            if (r.status === 200) return { child, base, logPath, stop };
        } catch {
            // not listening yet
        }
        await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error(`sitrd not ready; log ${logPath}`);
}

// Index of every 32-byte block of every file at offsets multiple of 32
// (raw and hex) and of every 48-byte block at offsets p + 48k for p = 0,
// 1, 2 (base64, as 64 characters).  Any 63-byte run of a file holds an
// aligned 32-byte block, and any base64 text of a 98-byte run holds one of
// the base64 blocks, so sliding over a body finds either.
export function bytesIndex(files) {
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

// 'raw bytes', 'hex or base64 text' or null.
export function carriesBytes(body, index) {
    const latin = body.toString('latin1');
    for (let i = 0; i + 32 <= latin.length; i++) if (index.raw.has(latin.substr(i, 32))) return 'raw bytes';
    for (let i = 0; i + 64 <= latin.length; i++) {
        const w = latin.substr(i, 64);
        if (index.text.has(w) || index.text.has(w.toLowerCase())) return 'hex or base64 text';
    }
    return null;
}

export function distance(a, b) {
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

// A reference hash file (frameNumber,quality,pdqHex,timestamp per line).
export function readVpdqLines(path) {
    return readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
            const [n, quality, pdq, t] = l.split(',');
            return { n: Number(n), quality: Number(quality), pdq, t };
        });
}

// Debian's Chromium on a fresh profile folder, every request of the page
// and its Workers recorded, console errors and page errors collected, the
// page loaded from base and ready: {context, page, requests, consoleErrors}.
export async function openPage(profile, base, options = {}) {
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        locale: 'en-GB',
        acceptDownloads: true,
        args: CHROMIUM_ARGS,
        ...options,
    });
    const requests = [];
    context.on('request', (req) => requests.push(req));
    const page = context.pages()[0] || (await context.newPage());
    const consoleErrors = [];
    page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(base + '/');
    await page.waitForSelector('body[data-ready="1"]');
    return { context, page, requests, consoleErrors };
}

// The pictures PostgreSQL holds for the case numbered ref: [{sha256, md5,
// pdq ('' when none), quality (null when none), variants: [the other
// dihedral hashes, by variant]}], and the case's id.
export function caseImages(dbUrl, ref) {
    const caseId = psql(dbUrl, `SELECT id FROM cases WHERE reference = '${ref.replace(/'/g, '')}'`);
    if (!/^\d+$/.test(caseId)) return { caseId: null, rows: [] };
    const rows = psql(
        dbUrl,
        `SELECT encode(sha256,'hex'), encode(md5,'hex'), coalesce(encode(pdq,'hex'),''), coalesce(quality::text,''),
                coalesce((SELECT string_agg(encode(v.pdq,'hex'), ',' ORDER BY v.variant)
                          FROM case_image_variants v WHERE v.image_id = ci.id), '')
         FROM case_images ci WHERE case_id = ${caseId}`,
    )
        .split('\n')
        .filter(Boolean)
        .map((l) => {
            const [sha256, md5, pdq, quality, variants] = l.split('|');
            return { sha256, md5, pdq, quality: quality === '' ? null : Number(quality), variants: variants ? variants.split(',') : [] };
        });
    return { caseId, rows };
}
