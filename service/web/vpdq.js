// vPDQ (Meta's video PDQ) for the page, without the decoding: which frames
// are hashed, their timestamps, and one decoded frame (Y, U, V planes) to
// the float32 luma the PDQ core hashes.  See shared/testdata/vpdq/SPEC.md;
// the § numbers below refer to it.
//
// The browser decodes the video (WebCodecs, in video-worker.js) and hands
// over the decoder's own YUV planes; this file converts them to RGB with
// the same integer formula as libswscale's x86 SSSE3 converter, which is
// what Meta's reference uses on an x86-64 machine (§4.1), then to luma as
// the reference (§5: (0.299 R + 0.587 G) + 0.114 B in float32, full
// resolution, no 512 pre-scale, no grey shortcut).  A browser's own
// YUV-to-RGB (drawing the frame on a canvas) differs from it by a few
// levels and the hashes by a few bits; doing it here keeps the browser's
// hashes equal to `sitr hash`'s wherever the decoded planes are equal.
//
// No dependencies; an ES module usable in browsers, workers and Node.

const f = Math.fround;

// Frames hashed: n with n mod m = 0, m = max(1, trunc(secondsPerHash × fps))
// (§3).  secondsPerHash is narrowed to float32 first, as the reference's
// command line parses it.
export function framePeriod(secondsPerHash, fps) {
    const m = Math.trunc(f(secondsPerHash) * fps);
    return m >= 1 ? m : 1;
}

// (float)n / (float)fps in float32 (§3).
export function frameTime(n, fps) {
    return f(f(n) / f(fps));
}

// A timestamp printed as C's "%.3f" prints it (§6): the exact binary value
// rounded to three decimals, ties to even.  A float32 times 1000 is exact
// in double, so ties are seen exactly.
export function formatTime(t) {
    const s = t * 1000;
    let r = Math.floor(s);
    const rest = s - r;
    if (rest > 0.5 || (rest === 0.5 && r % 2 !== 0)) r++;
    const neg = r < 0;
    const a = Math.abs(r);
    return (neg ? '-' : '') + Math.floor(a / 1000) + '.' + String(a % 1000).padStart(3, '0');
}

// §4.1, SSSE3 path: per component value tables, limited and full range.
function makeTables(full) {
    const cY = full ? 8192 : 9539;
    const yOff = full ? 0 : 128;
    const cVR = full ? 11485 : 13075;
    const cUB = full ? 14516 : 16525;
    const cUG = full ? -2819 : -3209;
    const cVG = full ? -5850 : -6660;
    const t = {
        y: new Int32Array(256),
        vr: new Int32Array(256),
        ug: new Int32Array(256),
        vg: new Int32Array(256),
        ub: new Int32Array(256),
    };
    for (let x = 0; x < 256; x++) {
        t.y[x] = ((8 * x - yOff) * cY) >> 16;
        const c = 8 * x - 1024;
        t.vr[x] = (c * cVR) >> 16;
        t.ug[x] = (c * cUG) >> 16;
        t.vg[x] = (c * cVG) >> 16;
        t.ub[x] = (c * cUB) >> 16;
    }
    return t;
}
const TABLES = { limited: makeTables(false), full: makeTables(true) };

// float32 products of the luma weights by 0..255 (§5, PDQ §2.3).
const LR = new Float32Array(256);
const LG = new Float32Array(256);
const LB = new Float32Array(256);
for (let x = 0; x < 256; x++) {
    LR[x] = f(f(0.299) * x);
    LG[x] = f(f(0.587) * x);
    LB[x] = f(f(0.114) * x);
}

// The 8-bit RGB of one pixel, as the SSSE3 converter gives it (exported
// for the tests).
export function rgbFromYuv(Y, U, V, fullRange) {
    const t = fullRange ? TABLES.full : TABLES.limited;
    const y = t.y[Y];
    const clip = (x) => (x < 0 ? 0 : x > 255 ? 255 : x);
    return [clip(y + t.vr[V]), clip(y + t.ug[U] + t.vg[V]), clip(y + t.ub[U])];
}

// Planes of a decoded 8-bit frame to float32 luma (width × height,
// row-major).  planes: {data (Uint8Array), y: {offset, stride},
// u: {offset, stride}, v: {offset, stride}, step (bytes between chroma
// samples of a row: 1 planar, 2 interleaved NV12), sx, sy (chroma
// subsampling shifts: 1,1 for 4:2:0)}.  Chroma is taken from the sample
// covering the pixel, as libswscale's unscaled converter does.
export function lumaFromYuv(planes, width, height, fullRange) {
    const t = fullRange ? TABLES.full : TABLES.limited;
    const ty = t.y;
    const tvr = t.vr;
    const tug = t.ug;
    const tvg = t.vg;
    const tub = t.ub;
    const { data, y: py, u: pu, v: pv, step, sx, sy } = planes;
    const out = new Float32Array(width * height);
    for (let row = 0; row < height; row++) {
        const yRow = py.offset + row * py.stride;
        const uRow = pu.offset + (row >> sy) * pu.stride;
        const vRow = pv.offset + (row >> sy) * pv.stride;
        const o = row * width;
        for (let x = 0; x < width; x++) {
            const c = (x >> sx) * step;
            const U = data[uRow + c];
            const V = data[vRow + c];
            const yy = ty[data[yRow + x]];
            let r = yy + tvr[V];
            let g = yy + tug[U] + tvg[V];
            let b = yy + tub[U];
            r = r < 0 ? 0 : r > 255 ? 255 : r;
            g = g < 0 ? 0 : g > 255 ? 255 : g;
            b = b < 0 ? 0 : b > 255 ? 255 : b;
            out[o + x] = f(f(LR[r] + LG[g]) + LB[b]);
        }
    }
    return out;
}

// RGBA pixels (ImageData layout) to float32 luma at full resolution, with
// no grey shortcut and no pre-scale (§5).  For frames only a canvas can
// give (the browser's own YUV-to-RGB): close to the reference, not equal.
export function lumaFromRgbaFull(rgba, width, height) {
    const out = new Float32Array(width * height);
    for (let k = 0, p = 0; k < out.length; k++, p += 4) out[k] = f(f(LR[rgba[p]] + LG[rgba[p + 1]]) + LB[rgba[p + 2]]);
    return out;
}

// The plane description for a WebCodecs VideoFrame's pixel format and the
// layout copyTo() returned, or null for formats handled elsewhere (high bit
// depth, RGB).
export function planesFor(format, layout, data) {
    const p = (k) => ({ offset: layout[k].offset, stride: layout[k].stride });
    switch (format) {
    case 'I420':
    case 'I420A':
        return { data, y: p(0), u: p(1), v: p(2), step: 1, sx: 1, sy: 1 };
    case 'I422':
        return { data, y: p(0), u: p(1), v: p(2), step: 1, sx: 1, sy: 0 };
    case 'I444':
        return { data, y: p(0), u: p(1), v: p(2), step: 1, sx: 0, sy: 0 };
    case 'NV12': {
        const uv = p(1);
        return { data, y: p(0), u: uv, v: { offset: uv.offset + 1, stride: uv.stride }, step: 2, sx: 1, sy: 1 };
    }
    default:
        return null;
    }
}

// Hamming distance of two 64-hex-digit hashes.
export function hexDistance(a, b) {
    let d = 0;
    for (let k = 0; k < 64; k += 8) {
        let x = (parseInt(a.substr(k, 8), 16) ^ parseInt(b.substr(k, 8), 16)) >>> 0;
        while (x) {
            x &= x - 1;
            d++;
        }
    }
    return d;
}

// Meta's matching rule (§7.3, python-threatexchange): the share (0..100) of
// `query`'s frames of quality >= minQuality, duplicates removed, that have a
// frame of `target` (same filter) within `maxDistance`.  Frames are
// {pdq, quality}.  An empty filtered side gives 0.
export function vpdqMatchPercent(query, target, maxDistance = 31, minQuality = 50) {
    const keep = (list) => {
        const seen = new Set();
        const out = [];
        for (const x of list) {
            if (seen.has(x.pdq)) continue;
            seen.add(x.pdq);
            if (x.quality >= minQuality) out.push(x.pdq);
        }
        return out;
    };
    const q = keep(query);
    const t = keep(target);
    if (!q.length || !t.length) return 0;
    let hit = 0;
    for (const a of q) if (t.some((b) => hexDistance(a, b) <= maxDistance)) hit++;
    return (100 * hit) / q.length;
}
