// A small reader of MP4 / MOV / 3GP files (ISO base media file format),
// hand-written for the page's video hasher: it finds the first video track
// and gives its codec configuration (for WebCodecs' VideoDecoder), its
// frame rate computed as FFmpeg's MP4 demuxer computes avg_frame_rate (what
// Meta's vPDQ reference uses to pick frames), and where each sample
// (compressed frame) lies in the file.  It never holds more than the 'moov'
// box: the samples are read later, a few megabytes at a time.
//
// Input is untrusted: every box size, count and offset is checked against
// the file and against the limits below; a malformed file is an error with
// a code (VideoError), never a partial answer.
//
// What it does not do (and the page says so): fragmented MP4 (samples in
// 'moof' boxes, as made by some recorders and streaming tools), edit lists
// (FFmpeg drops samples an edit list cuts away; ordinary camera and encoder
// output has none, or one that only shifts time), cover art stored as a
// video stream before the real one.  No dependencies; an ES module.

export const MP4_LIMITS = {
    maxMoovBytes: 256 * 1024 * 1024, // the index of a 4-hour 60-fps video is about 30 MB
    maxSamples: 1000000, // as sitr hash (sitr_video_limits_t.max_frames)
    maxPixels: 8192 * 4352, // 8K, as sitr hash
    maxDuration: 4 * 3600, // seconds, as sitr hash
};

export class VideoError extends Error {
    constructor(code, detail) {
        super(detail ? `${code}: ${detail}` : code);
        this.code = code;
    }
}

const fourcc = (b, p) => String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3]);
const u16 = (b, p) => (b[p] << 8) | b[p + 1];
const u32 = (b, p) => ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
const i32 = (b, p) => (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
const u64 = (b, p) => u32(b, p) * 4294967296 + u32(b, p + 4); // exact below 2^53

// HEIF/AVIF still images are ISO files too; they are pictures, not videos.
const STILL_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1', 'avif', 'avis', 'avci', 'jpeg', 'jpgs']);

// What kind of video container the first bytes of a file are, by content:
// 'mp4' (MP4/MOV/3GP), 'matroska' (Matroska/WebM), 'avi', 'mpegts', or null.
export function sniffVideo(head) {
    const b = head instanceof Uint8Array ? head : new Uint8Array(head);
    if (b.length >= 12 && fourcc(b, 4) === 'ftyp') {
        const size = Math.min(u32(b, 0), b.length);
        const brands = [fourcc(b, 8)];
        for (let p = 16; p + 4 <= size; p += 4) brands.push(fourcc(b, p));
        if (STILL_BRANDS.has(brands[0])) return null;
        return 'mp4';
    }
    if (b.length >= 8 && ['moov', 'mdat', 'wide', 'free', 'skip'].includes(fourcc(b, 4)) && u32(b, 0) >= 8) return 'mp4';
    if (b.length >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'matroska';
    if (b.length >= 12 && fourcc(b, 0) === 'RIFF' && fourcc(b, 8) === 'AVI ') return 'avi';
    if (b.length >= 377 && b[0] === 0x47 && b[188] === 0x47 && b[376] === 0x47) return 'mpegts';
    return null;
}

// The child boxes of b[start, end): [{type, start (of the payload), end}].
function boxes(b, start, end) {
    const out = [];
    let p = start;
    while (p + 8 <= end) {
        let size = u32(b, p);
        const type = fourcc(b, p + 4);
        let head = 8;
        if (size === 1) {
            if (p + 16 > end) throw new VideoError('mp4_invalid', 'box header');
            size = u64(b, p + 8);
            head = 16;
        } else if (size === 0) {
            size = end - p;
        }
        if (size < head || p + size > end) throw new VideoError('mp4_invalid', `box ${type} size`);
        out.push({ type, start: p + head, end: p + size });
        p += size;
    }
    return out;
}

const child = (b, box, type) => (box ? boxes(b, box.start, box.end).find((x) => x.type === type) : undefined);

function need(box, n) {
    if (!box || box.end - box.start < n) throw new VideoError('mp4_invalid', `${box ? box.type : 'box'} too short`);
}

// A full box's entry count at start+4, checked against the bytes that hold
// the entries (entry bytes each, after `before` bytes).
function entries(b, box, before, bytes) {
    need(box, before);
    const n = u32(b, box.start + 4);
    if (n > (box.end - box.start - before) / bytes) throw new VideoError('mp4_invalid', `${box.type} count`);
    return n;
}

// Finds the top-level boxes and reads 'moov'.  read(offset, length) returns
// a Promise of a Uint8Array of exactly those bytes.
async function readMoov(read, size) {
    let p = 0;
    let moov = null;
    let fragmented = false;
    while (p + 8 <= size) {
        const h = await read(p, Math.min(16, size - p));
        let len = u32(h, 0);
        const type = fourcc(h, 4);
        let head = 8;
        if (len === 1) {
            if (h.length < 16) throw new VideoError('mp4_invalid', 'box header');
            len = u64(h, 8);
            head = 16;
        } else if (len === 0) {
            len = size - p;
        }
        if (len < head || p + len > size) throw new VideoError('mp4_invalid', `top-level box ${type}`);
        if (type === 'moov') {
            if (len > MP4_LIMITS.maxMoovBytes) throw new VideoError('too_big', 'moov');
            moov = { bytes: await read(p + head, len - head) };
        } else if (type === 'moof') {
            fragmented = true;
        }
        p += len;
    }
    if (!moov) throw new VideoError('mp4_invalid', 'no moov box');
    return { moov: moov.bytes, fragmented };
}

function hex2(x) {
    return x.toString(16).padStart(2, '0');
}

// The codec string WebCodecs wants and the decoder configuration record,
// from the first sample entry of 'stsd'.
function sampleEntry(b, stsd) {
    entries(b, stsd, 8, 8);
    const list = boxes(b, stsd.start + 8, stsd.end);
    if (!list.length) throw new VideoError('mp4_invalid', 'empty stsd');
    const e = list[0];
    need(e, 78);
    const width = u16(b, e.start + 24);
    const height = u16(b, e.start + 26);
    const kids = boxes(b, e.start + 78, e.end);
    const find = (t) => kids.find((x) => x.type === t);
    const payload = (x) => b.slice(x.start, x.end);
    let codec = null;
    let description;
    if (e.type === 'avc1' || e.type === 'avc3') {
        const c = find('avcC');
        need(c, 4);
        codec = `${e.type}.${hex2(b[c.start + 1])}${hex2(b[c.start + 2])}${hex2(b[c.start + 3])}`;
        description = payload(c);
    } else if (e.type === 'vp09') {
        const c = find('vpcC');
        need(c, 7);
        const bitDepth = b[c.start + 6] >> 4;
        codec = `vp09.${String(b[c.start + 4]).padStart(2, '0')}.${String(b[c.start + 5]).padStart(2, '0')}.${String(bitDepth).padStart(2, '0')}`;
    } else if (e.type === 'av01') {
        const c = find('av1C');
        need(c, 4);
        const profile = b[c.start + 1] >> 5;
        const level = b[c.start + 1] & 31;
        const tier = b[c.start + 2] >> 7 ? 'H' : 'M';
        const high = (b[c.start + 2] >> 6) & 1;
        const twelve = (b[c.start + 2] >> 5) & 1;
        const depth = high ? (twelve ? 12 : 10) : 8;
        codec = `av01.${profile}.${String(level).padStart(2, '0')}${tier}.${String(depth).padStart(2, '0')}`;
        description = payload(c);
    }
    return { format: e.type, codec, description, width, height };
}

// The first video track of an MP4 file of `size` bytes, as
// {format, codec, description, width, height, timescale, fps,
//  count, offsets, sizes, cts, keys}.
// Sample k is at offsets[k], sizes[k] bytes, presented at cts[k] (timescale
// units), a key frame when keys[k]; samples are in decoding order.
export async function readMp4(read, size) {
    const { moov: b, fragmented } = await readMoov(read, size);
    if (fragmented) throw new VideoError('fragmented', 'samples in moof boxes');
    const traks = boxes(b, 0, b.length).filter((x) => x.type === 'trak');
    let trak = null;
    let mdia = null;
    for (const t of traks) {
        const m = child(b, t, 'mdia');
        const hdlr = child(b, m, 'hdlr');
        if (hdlr && hdlr.end - hdlr.start >= 12 && fourcc(b, hdlr.start + 8) === 'vide') {
            trak = t;
            mdia = m;
            break;
        }
    }
    if (!trak) throw new VideoError('no_video', 'no video track');
    const mdhd = child(b, mdia, 'mdhd');
    need(mdhd, 24);
    const timescale = b[mdhd.start] === 1 ? (need(mdhd, 32), u32(b, mdhd.start + 20)) : u32(b, mdhd.start + 12);
    if (!timescale) throw new VideoError('mp4_invalid', 'timescale 0');
    const stbl = child(b, child(b, mdia, 'minf'), 'stbl');
    if (!stbl) throw new VideoError('mp4_invalid', 'no stbl');
    const get = (t) => child(b, stbl, t);
    const entry = sampleEntry(b, get('stsd'));

    // Sample sizes ('stsz', or the compact 'stz2').
    let count;
    let sizes;
    const stsz = get('stsz');
    const stz2 = get('stz2');
    if (stsz) {
        need(stsz, 12);
        const fixed = u32(b, stsz.start + 4);
        count = u32(b, stsz.start + 8);
        if (count > MP4_LIMITS.maxSamples) throw new VideoError('too_long', `${count} frames`);
        if (!fixed && count > (stsz.end - stsz.start - 12) / 4) throw new VideoError('mp4_invalid', 'stsz count');
        sizes = new Uint32Array(count);
        for (let k = 0; k < count; k++) sizes[k] = fixed || u32(b, stsz.start + 12 + 4 * k);
    } else if (stz2) {
        need(stz2, 12);
        const field = b[stz2.start + 7];
        count = u32(b, stz2.start + 8);
        if (count > MP4_LIMITS.maxSamples) throw new VideoError('too_long', `${count} frames`);
        if (![4, 8, 16].includes(field) || count * field > (stz2.end - stz2.start - 12) * 8)
            throw new VideoError('mp4_invalid', 'stz2');
        sizes = new Uint32Array(count);
        for (let k = 0; k < count; k++) {
            const p = stz2.start + 12;
            if (field === 4) sizes[k] = (b[p + (k >> 1)] >> (k & 1 ? 0 : 4)) & 15;
            else if (field === 8) sizes[k] = b[p + k];
            else sizes[k] = u16(b, p + 2 * k);
        }
    } else {
        throw new VideoError('mp4_invalid', 'no stsz');
    }
    if (count === 0) throw new VideoError('no_frames', 'no samples');

    // Chunk offsets, and which samples each chunk holds ('stsc' runs).
    const stco = get('stco');
    const co64 = get('co64');
    const chunkBox = stco || co64;
    if (!chunkBox) throw new VideoError('mp4_invalid', 'no stco');
    const chunks = entries(b, chunkBox, 8, stco ? 4 : 8);
    const chunkAt = (c) => (stco ? u32(b, stco.start + 8 + 4 * c) : u64(b, co64.start + 8 + 8 * c));
    const stsc = get('stsc');
    const runs = entries(b, stsc, 8, 12);
    const offsets = new Float64Array(count);
    let k = 0;
    for (let r = 0; r < runs && k < count; r++) {
        const p = stsc.start + 8 + 12 * r;
        const first = u32(b, p) - 1;
        const per = u32(b, p + 4);
        const next = r + 1 < runs ? u32(b, p + 12) - 1 : chunks;
        if (first < 0 || next > chunks || next < first) throw new VideoError('mp4_invalid', 'stsc');
        for (let c = first; c < next && k < count; c++) {
            let off = chunkAt(c);
            for (let s = 0; s < per && k < count; s++, k++) {
                offsets[k] = off;
                off += sizes[k];
            }
        }
    }
    if (k !== count) throw new VideoError('mp4_invalid', 'samples without a chunk');
    for (let s = 0; s < count; s++)
        if (offsets[s] + sizes[s] > size) throw new VideoError('truncated', `sample ${s} beyond the end`);

    // Decoding times ('stts') and, as FFmpeg's demuxer, the frame rate from
    // the same table: avg_frame_rate = timescale * frames / duration, where
    // a last single sample much longer than the average counts as average.
    const stts = get('stts');
    const nStts = entries(b, stts, 8, 8);
    const cts = new Float64Array(count);
    let dts = 0;
    let duration = 0;
    let total = 0;
    k = 0;
    for (let e = 0; e < nStts; e++) {
        const n = u32(b, stts.start + 8 + 8 * e);
        let d = u32(b, stts.start + 12 + 8 * e);
        if (d > 0x7fffffff) d = 1; // FFmpeg: a negative duration counts as 1
        if (e + 1 === nStts && e && n === 1 && total > 100 && Math.floor(d / 10) > Math.floor(duration / total))
            d = Math.floor(duration / total);
        duration += d * n;
        total += n;
        for (let s = 0; s < n && k < count; s++, k++) {
            cts[k] = dts;
            dts += d;
        }
    }
    for (; k < count; k++) cts[k] = dts;
    if (!(duration > 0) || !(total > 0)) throw new VideoError('no_fps', 'no frame durations');
    // Both products are below 2^53, so the double quotient is the correctly
    // rounded value of the reduced fraction FFmpeg holds.
    const fps = (timescale * total) / duration;
    if (total / fps > MP4_LIMITS.maxDuration) throw new VideoError('too_long', 'duration');

    // Presentation offsets ('ctts'; read as signed, as FFmpeg does).
    const ctts = get('ctts');
    if (ctts) {
        const n = entries(b, ctts, 8, 8);
        k = 0;
        for (let e = 0; e < n && k < count; e++) {
            const c = u32(b, ctts.start + 8 + 8 * e);
            const off = i32(b, ctts.start + 12 + 8 * e);
            for (let s = 0; s < c && k < count; s++, k++) cts[k] += off;
        }
    }

    // Key frames ('stss'; without it every sample is one).
    const keys = new Uint8Array(count);
    const stss = get('stss');
    if (stss) {
        const n = entries(b, stss, 8, 4);
        for (let e = 0; e < n; e++) {
            const s = u32(b, stss.start + 8 + 4 * e) - 1;
            if (s >= 0 && s < count) keys[s] = 1;
        }
    } else {
        keys.fill(1);
    }
    return { ...entry, timescale, fps, count, offsets, sizes, cts, keys };
}
