// Conformance of the browser page's hashers (service/web/pdq.js, md5.js)
// with sitr's C core and Meta's reference: for every luma vector of the
// vendored corpus (tests/data/pdq/luma), and of the extended one
// (SHARED_DIR/testdata/pdq/luma) when present, the same hash, quality and
// eight dihedral hashes, and byte-identical 64x64 and 16x16 intermediates;
// EXIF orientation; then the RFC 1321 MD5 test suite and SHA-256 through
// Web Crypto (what the page uses).
//
// Usage: node pdq_conformance.mjs [SHARED_DIR]   (exit status 0 = all passed)
import { readFileSync } from 'node:fs';
import { createHash, webcrypto } from 'node:crypto';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const web = join(here, '..', '..', 'service', 'web');
const pdq = await import(pathToFileURL(join(web, 'pdq.js')));
const { md5Hex } = await import(pathToFileURL(join(web, 'md5.js')));
const { VENDORED_PDQ, extendedPdq, withExifOrientation } = await import(pathToFileURL(join(here, 'pdq_data.mjs')));

const extended = extendedPdq(process.argv[2]);
if (!extended) console.log('skipped: extended corpus not present (its 15 luma vectors and EXIF-rotated photos)');

let failures = 0;
let checks = 0;
function check(ok, what) {
    checks++;
    if (!ok) {
        failures++;
        console.error('FAIL ' + what);
    }
}

function f32file(path) {
    const buf = readFileSync(path);
    // Copy into an aligned buffer: the file's bytes are float32 little-endian.
    const out = new Float32Array(buf.length / 4);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
    for (let k = 0; k < out.length; k++) out[k] = dv.getFloat32(4 * k, true);
    return out;
}

function sameBits(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
    const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
    for (let k = 0; k < ua.length; k++) if (ua[k] !== ub[k]) return false;
    return true;
}

// All the vectors of one corpus; returns how many.
function lumaVectors(lumaDir) {
    const index = readFileSync(join(lumaDir, 'index.csv'), 'utf8').trim().split('\n');
    const header = index.shift().split(',');
    const col = (name) => header.indexOf(name);
    let vectors = 0;
    for (const line of index) {
        const cells = line.split(',');
        const name = cells[col('name')];
        const width = Number(cells[col('width')]);
        const height = Number(cells[col('height')]);
        const meta = JSON.parse(readFileSync(join(lumaDir, name + '.json'), 'utf8'));
        const exp = meta.expected;
        check(exp.pdq_hex === cells[col('pdq_hex')], `${name}: index.csv and json agree`);
        const luma = f32file(join(lumaDir, meta.luma_file));
        check(luma.length === width * height, `${name}: luma size`);
        const r = pdq.pdqFromLuma(luma, height, width, true);
        check(r.hex === exp.pdq_hex, `${name}: hash ${r.hex} want ${exp.pdq_hex}`);
        check(r.quality === exp.quality, `${name}: quality ${r.quality} want ${exp.quality}`);
        pdq.DIHEDRAL_NAMES.forEach((dn, k) => {
            check(r.dihedral[k] === exp.dihedral[dn], `${name}: ${dn} ${r.dihedral[k]} want ${exp.dihedral[dn]}`);
        });
        if (exp.dihedral_quality !== undefined)
            check(r.dihedralQuality === exp.dihedral_quality, `${name}: dihedral quality`);
        const im = meta.intermediates;
        if (im && im.b64x64_file) {
            const want = f32file(join(lumaDir, im.b64x64_file));
            check(sameBits(r.b64, want), `${name}: 64x64 buffer bits`);
        }
        if (im && im.dct16x16_file) {
            const want = f32file(join(lumaDir, im.dct16x16_file));
            check(sameBits(r.dct, want), `${name}: 16x16 DCT bits`);
        }
        if (exp.median_f32_hex && r.dct) {
            const sorted = Float32Array.from(r.dct).sort();
            const bits = new Uint32Array(sorted.buffer)[127].toString(16).padStart(8, '0');
            check(bits === exp.median_f32_hex, `${name}: median ${bits} want ${exp.median_f32_hex}`);
        }
        vectors++;
    }
    return vectors;
}

let vectors = lumaVectors(join(VENDORED_PDQ, 'luma'));
check(vectors === 11, `vendored luma vectors read: ${vectors}`);
if (extended) {
    const n = lumaVectors(join(extended, 'luma'));
    check(n >= 15, `extended luma vectors read: ${n}`);
    vectors += n;
}

// The front-end: an RGB image whose pixels are all grey takes the grey path
// (luma = value), a coloured one the weighted sum; above 512 a side is
// pre-scaled by nearest neighbour.
{
    const w = 3;
    const h = 2;
    const rgba = new Uint8Array(w * h * 4);
    for (let p = 0; p < w * h; p++) rgba.set([p * 40, p * 40, p * 40, 255], p * 4);
    let l = pdq.lumaFromRgba(rgba, w, h);
    check(l.grey && l.luma[5] === 200, 'grey path keeps the value');
    rgba[1] = 7;
    l = pdq.lumaFromRgba(rgba, w, h);
    const f = Math.fround;
    const want = f(f(f(f(0.299) * 200) + f(f(0.587) * 200)) + f(f(0.114) * 200));
    check(!l.grey && l.luma[5] === want, 'RGB path weights in float32');
    const big = new Uint8Array(1024 * 10 * 4);
    for (let x = 0; x < 1024; x++) for (let y = 0; y < 10; y++) big[(y * 1024 + x) * 4] = x & 255;
    l = pdq.lumaFromRgba(big, 1024, 10);
    check(l.rows === 512 && l.cols === 512, 'pre-scale to 512x512');
    const lumaAt = (x) => f(f(f(0.299) * (x & 255)) + f(f(0.587) * 0)) + 0;
    check(l.luma[511 * 512 + 3] === f(lumaAt(6) + f(f(0.114) * 0)), 'nearest neighbour column x*W/512');
}

// EXIF orientation: read from the file, and undone exactly (every
// orientation applied to a 3x2 image by its definition, then undone).
{
    // Meta's wee.jpg (a big-endian EXIF block, orientation 1) with each
    // orientation set; Meta's phone photos when the extended corpus is here.
    const wee = readFileSync(join(VENDORED_PDQ, 'misc-images', 'wee.jpg'));
    for (let n = 1; n <= 8; n++) {
        const got = pdq.jpegExifOrientation(withExifOrientation(wee, n));
        check(got === n, `EXIF orientation of wee.jpg set to ${n}: ${got}`);
    }
    if (extended) {
        const dir = join(extended, 'reg-test-input', 'exif-rotn');
        for (const n of [1, 3, 6, 8]) {
            const got = pdq.jpegExifOrientation(readFileSync(join(dir, `exif-rotn-${n}.jpg`)));
            check(got === n, `EXIF orientation of exif-rotn-${n}.jpg: ${got}`);
        }
    }
    check(pdq.jpegExifOrientation(readFileSync(join(VENDORED_PDQ, 'bridge-mods', 'aaa-orig.jpg'))) === 1,
        'no EXIF orientation: 1');
    check(pdq.jpegExifOrientation(new Uint8Array([0x89, 0x50, 0x4e, 0x47])) === 1, 'not a JPEG: 1');
    const sw = 3;
    const sh = 2;
    const stored = new Uint8Array(sw * sh * 4);
    for (let k = 0; k < sw * sh; k++) stored.set([k, 10 + k, 20 + k, 255], k * 4);
    // Where stored pixel (x, y) is displayed, per the EXIF definitions.
    const place = {
        1: (x, y) => [x, y], 2: (x, y) => [sw - 1 - x, y], 3: (x, y) => [sw - 1 - x, sh - 1 - y],
        4: (x, y) => [x, sh - 1 - y], 5: (x, y) => [y, x], 6: (x, y) => [sh - 1 - y, x],
        7: (x, y) => [sh - 1 - y, sw - 1 - x], 8: (x, y) => [y, sw - 1 - x],
    };
    for (let o = 1; o <= 8; o++) {
        const dw = o >= 5 ? sh : sw;
        const dh = o >= 5 ? sw : sh;
        const shown = new Uint8Array(dw * dh * 4);
        for (let y = 0; y < sh; y++)
            for (let x = 0; x < sw; x++) {
                const [dx, dy] = place[o](x, y);
                shown.set(stored.subarray((y * sw + x) * 4, (y * sw + x) * 4 + 4), (dy * dw + dx) * 4);
            }
        const back = pdq.undoOrientation(shown, dw, dh, o);
        check(back.width === sw && back.height === sh && Buffer.compare(Buffer.from(back.data), Buffer.from(stored)) === 0,
            `orientation ${o} undone`);
    }
}

// RFC 1321 appendix A.5, plus lengths around the padding boundary checked
// against Node's own MD5.
const rfc = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890',
        '57edf4a22be3c955ac49da2e2107b67a'],
];
for (const [msg, want] of rfc) check(md5Hex(new TextEncoder().encode(msg)) === want, `md5("${msg}")`);
for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 70001]) {
    const bytes = new Uint8Array(n);
    for (let k = 0; k < n; k++) bytes[k] = (k * 131 + 7) & 255;
    const want = createHash('md5').update(bytes).digest('hex');
    check(md5Hex(bytes) === want, `md5 of ${n} bytes`);
    check(md5Hex(bytes.buffer) === want, `md5 of an ArrayBuffer of ${n} bytes`);
}

// SHA-256 as the page computes it (crypto.subtle), FIPS 180-2 "abc".
{
    const d = await webcrypto.subtle.digest('SHA-256', new TextEncoder().encode('abc'));
    const hex = Buffer.from(d).toString('hex');
    check(hex === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'sha256("abc")');
}

console.log(`${checks - failures}/${checks} checks passed over ${vectors} luma vectors`);
process.exit(failures ? 1 : 0);
