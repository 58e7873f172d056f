// Unit checks of the page's video pieces in Node (no browser): sha256.js
// and the incremental MD5 against Node's digests, vpdq.js (frame period,
// float32 timestamps and their "%.3f" printing, the SSSE3 YUV->RGB formula
// of SPEC.md §4.1), and mp4.js on the vendored sample videos (frame count,
// fps, key frames) and on hostile variants of them (truncated, bit flips,
// huge declared sizes): a VideoError with a code, never another exception.
//
// Usage: node video_units.mjs   (exit status 0 = all passed)
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const web = join(here, '..', '..', 'service', 'web');
const load = (name) => import(pathToFileURL(join(web, name)));
const { Sha256, sha256Hex } = await load('sha256.js');
const { Md5 } = await load('md5.js');
const vpdq = await load('vpdq.js');
const mp4 = await load('mp4.js');
const DATA = join(here, '..', 'data', 'vpdq');

let failures = 0;
let checks = 0;
function check(ok, what) {
    checks++;
    if (!ok) {
        failures++;
        console.error('FAIL ' + what);
    }
}

// ---- digests ----
const enc = (s) => new TextEncoder().encode(s);
check(sha256Hex(enc('abc')) === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'sha256("abc")');
check(sha256Hex(enc('')) === 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'sha256("")');
check(sha256Hex(enc('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')) ===
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1', 'sha256 of the 448-bit FIPS message');
{
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 255;
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 70001, 300000]) {
        const bytes = new Uint8Array(n);
        for (let k = 0; k < n; k++) bytes[k] = rnd();
        const sha = new Sha256();
        const md5 = new Md5();
        // Uneven chunks, across block boundaries.
        for (let o = 0, step = 1; o < n; o += step, step = (step * 7 + 3) % 200 + 1) {
            sha.update(bytes.subarray(o, o + step));
            md5.update(bytes.subarray(o, o + step));
        }
        check(sha.hex() === createHash('sha256').update(bytes).digest('hex'), `incremental sha256 of ${n} bytes`);
        check(md5.hex() === createHash('md5').update(bytes).digest('hex'), `incremental md5 of ${n} bytes`);
    }
}

// ---- frame selection and time (SPEC.md §3) ----
const period = [
    [1, 30, 30], [1, 25, 25], [1, 30000 / 1001, 29], [1, 24000 / 1001, 23], [0.5, 30, 15],
    [0.7, 30, 20], [1, 0.5, 1], [0, 30, 1], [0, 60, 1],
];
for (const [s, fps, m] of period) check(vpdq.framePeriod(s, fps) === m, `period for ${s} s at ${fps} fps: ${vpdq.framePeriod(s, fps)} want ${m}`);
check(vpdq.frameTime(1, 30) === Math.fround(0.033333335), 'frame 1 at 30 fps is 0.033333335f');
check(vpdq.formatTime(vpdq.frameTime(1, 30)) === '0.033', '"%.3f" of frame 1 at 30 fps');
check(vpdq.formatTime(vpdq.frameTime(30, 30)) === '1.000', '"%.3f" of frame 30 at 30 fps');
check(vpdq.formatTime(0.0625) === '0.062' && vpdq.formatTime(0.1875) === '0.188', '"%.3f" ties to even on the exact value');
check(vpdq.formatTime(vpdq.frameTime(107892, 30000 / 1001)) === '3599.996', '"%.3f" of a late frame at 29.97 fps');

// ---- YUV -> RGB, SSSE3 path (SPEC.md §4.1) ----
const eq = (a, b) => a.length === b.length && a.every((x, k) => x === b[k]);
check(eq(vpdq.rgbFromYuv(235, 128, 128, false), [255, 255, 255]), 'limited white is 255 (SSSE3 path)');
check(eq(vpdq.rgbFromYuv(16, 128, 128, false), [0, 0, 0]), 'limited black is 0');
check(eq(vpdq.rgbFromYuv(255, 128, 128, true), [255, 255, 255]) && eq(vpdq.rgbFromYuv(0, 128, 128, true), [0, 0, 0]), 'full range white and black');
{
    // The closed form, written out again from SPEC.md for a few thousand triples.
    const clip = (x) => Math.max(0, Math.min(255, x));
    let same = true;
    for (let Y = 0; Y < 256; Y += 3)
        for (let U = 0; U < 256; U += 17)
            for (let V = 0; V < 256; V += 13) {
                const y = ((8 * Y - 128) * 9539) >> 16;
                const u = 8 * U - 1024;
                const v = 8 * V - 1024;
                const want = [clip(y + ((v * 13075) >> 16)), clip(y + ((u * -3209) >> 16) + ((v * -6660) >> 16)), clip(y + ((u * 16525) >> 16))];
                if (!eq(vpdq.rgbFromYuv(Y, U, V, false), want)) same = false;
            }
    check(same, 'limited range formula on a grid of (Y, U, V)');
    // lumaFromYuv on a 3x2 I420 frame equals the per-pixel formula and luma.
    const f = Math.fround;
    const data = new Uint8Array([50, 100, 200, 0, 16, 235, 90, 160, 20, 240]); // Y 3x2, U 2x1, V 2x1
    const planes = { data, y: { offset: 0, stride: 3 }, u: { offset: 6, stride: 2 }, v: { offset: 8, stride: 2 }, step: 1, sx: 1, sy: 1 };
    const luma = vpdq.lumaFromYuv(planes, 3, 2, false);
    let ok = true;
    for (let row = 0; row < 2; row++)
        for (let x = 0; x < 3; x++) {
            const [r, g, b] = vpdq.rgbFromYuv(data[row * 3 + x], data[6 + (x >> 1)], data[8 + (x >> 1)], false);
            const want = f(f(f(f(0.299) * r) + f(f(0.587) * g)) + f(f(0.114) * b));
            if (luma[row * 3 + x] !== want) ok = false;
        }
    check(ok, 'lumaFromYuv: nearest chroma, SSSE3 RGB, float32 luma');
}

// ---- the MP4 reader ----
const read = (buf) => async (o, l) => buf.subarray(o, o + l);
for (const name of readdirSync(join(DATA, 'videos')).filter((n) => n.endsWith('.mp4')).sort()) {
    const buf = new Uint8Array(readFileSync(join(DATA, 'videos', name)));
    const frames = readFileSync(join(DATA, 'ref-debian12', name.replace(/\.mp4$/, '.s0.txt')), 'utf8').trim().split('\n').length;
    check(mp4.sniffVideo(buf.subarray(0, 512)) === 'mp4', `${name}: sniffed as MP4`);
    const v = await mp4.readMp4(read(buf), buf.length);
    check(v.count === frames, `${name}: ${v.count} samples, the reference decodes ${frames} frames`);
    check(v.fps === 30 && /^avc1\./.test(v.codec) && v.description.length > 7, `${name}: 30 fps, ${v.codec}`);
    check(v.keys[0] === 1, `${name}: first sample is a key frame`);
    let inside = true;
    for (let k = 0; k < v.count; k++) if (v.offsets[k] + v.sizes[k] > buf.length) inside = false;
    check(inside, `${name}: every sample inside the file`);

    // Hostile variants: always a VideoError (or, for a harmless flip, a result).
    const attempt = async (bytes, what) => {
        try {
            await mp4.readMp4(read(bytes), bytes.length);
        } catch (e) {
            check(e instanceof mp4.VideoError && typeof e.code === 'string', `${name}, ${what}: ${e.code || e}`);
        }
    };
    for (const cut of [0, 8, 100, buf.length >> 1, buf.length - 1]) await attempt(buf.subarray(0, cut), `cut at ${cut}`);
    let seed = 7;
    const rnd = (n) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const moovAt = (() => {
        for (let p = 0; p + 8 <= buf.length;) {
            const size = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
            if (String.fromCharCode(...buf.subarray(p + 4, p + 8)) === 'moov') return [p, size];
            if (size < 8) break;
            p += size;
        }
        return [0, buf.length];
    })();
    for (let k = 0; k < 200; k++) {
        const bad = buf.slice();
        const at = moovAt[0] + rnd(moovAt[1]);
        bad[at] ^= 1 << rnd(8);
        if (k % 4 === 0) bad.set([0xff, 0xff, 0xff, 0xf0], Math.max(moovAt[0], at - (at % 4)));
        await attempt(bad, `bit flip ${k}`);
    }
}
check(mp4.sniffVideo(new Uint8Array([0, 0, 0, 24, 0x66, 0x74, 0x79, 0x70, 0x68, 0x65, 0x69, 0x63, 0, 0, 0, 0, 0x6d, 0x69, 0x66, 0x31, 0x68, 0x65, 0x69, 0x63])) === null,
    'HEIC is a picture, not a video');
check(mp4.sniffVideo(new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0, 0, 0, 0])) === 'matroska', 'EBML is Matroska/WebM');
check(mp4.sniffVideo(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])) === null, 'JPEG is not a video');

console.log(`${checks - failures}/${checks} checks passed`);
process.exit(failures ? 1 : 0);
