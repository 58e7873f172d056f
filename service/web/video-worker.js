// The page's video hasher, in a dedicated Worker so that the page stays
// responsive: one message {file, secondsPerHash} in, progress messages and
// one result out.  The page cancels by terminating the worker.
//
// Steps: MD5 and SHA-256 of the file's bytes, read 8 MB at a time (a big
// video is never held whole); the MP4 index (mp4.js); every frame decoded
// by the browser's own decoder (WebCodecs VideoDecoder, software) in
// order, because vPDQ numbers frames by decoding order of output; every
// m-th frame (vpdq.js) copied out as YUV planes, converted to luma as
// Meta's reference does, and hashed with PDQ at full resolution with its
// eight dihedral variants (pdq.js).  Only hashes leave this worker: the
// result is the object `sitr hash --format jsonl --dihedral` prints for a
// video, without the path; beside it (never inside it) a thumbnail of one
// frame for the victim's own eyes (thumb.js: shown on her screen only).
//
// Memory: the MP4 index, a window of compressed samples (at most
// SAMPLE_WINDOW bytes), the frames the decoder holds (its queue is kept
// short) and one frame being hashed.
//
// Errors are VideoError codes (mp4.js) the page turns into words:
// too_big, not_supported (a container or codec this page cannot decode),
// fragmented, no_video, no_fps, too_long, truncated, mp4_invalid,
// decode_failed, no_frames.

import { MP4_LIMITS, VideoError, readMp4, sniffVideo } from './mp4.js';
import { Md5 } from './md5.js';
import { pdqFromLuma } from './pdq.js';
import { Sha256 } from './sha256.js';
import { thumbnail } from './thumb.js';
import { formatTime, framePeriod, frameTime, lumaFromRgbaFull, lumaFromYuv, planesFor } from './vpdq.js';

// As `sitr hash` (sitr_video_limits_t.max_file_bytes).  Nothing here holds
// the file: the limit is the time a phone would take, not memory.
export const MAX_VIDEO_BYTES = 4 * 1024 * 1024 * 1024;
const READ_CHUNK = 8 * 1024 * 1024;
const SAMPLE_WINDOW = 8 * 1024 * 1024;
const DECODE_QUEUE = 8; // compressed frames handed to the decoder ahead
const HELD_FRAMES = 2; // selected frames waiting to be hashed

async function readBytes(file, offset, length) {
    return new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
}

let lastProgress = -1;
function progress(fraction) {
    const pct = Math.floor(fraction * 100);
    if (pct !== lastProgress) {
        lastProgress = pct;
        postMessage({ type: 'progress', fraction });
    }
}

// Digests take a small share of the bar; decoding the rest.
const DIGEST_SHARE = 0.1;

async function digests(file) {
    const md5 = new Md5();
    const sha = new Sha256();
    for (let off = 0; off < file.size; off += READ_CHUNK) {
        const chunk = await readBytes(file, off, Math.min(READ_CHUNK, file.size - off));
        md5.update(chunk);
        sha.update(chunk);
        progress((DIGEST_SHARE * (off + chunk.length)) / file.size);
    }
    return { md5: md5.hex(), sha256: sha.hex() };
}

// One decoded frame to its luma: the decoder's planes converted here
// (exact), or, for frames whose pixels the browser will not hand out as
// 8-bit YUV, the browser's own conversion through a canvas (close).
async function frameLuma(frame, convert) {
    const width = frame.visibleRect ? frame.visibleRect.width : frame.displayWidth;
    const height = frame.visibleRect ? frame.visibleRect.height : frame.displayHeight;
    if (convert !== 'canvas' && frame.format) {
        const data = new Uint8Array(frame.allocationSize());
        const layout = await frame.copyTo(data);
        const planes = planesFor(frame.format, layout, data);
        if (planes) {
            const full = !!(frame.colorSpace && frame.colorSpace.fullRange);
            return { luma: lumaFromYuv(planes, width, height, full), width, height };
        }
    }
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(frame, 0, 0, width, height);
    const rgba = ctx.getImageData(0, 0, width, height).data;
    return { luma: lumaFromRgbaFull(rgba, width, height), width, height };
}

async function hashVideo(file, secondsPerHash, convert) {
    if (file.size > MAX_VIDEO_BYTES) throw new VideoError('too_big', `${file.size} bytes`);
    const kind = sniffVideo(await readBytes(file, 0, Math.min(512, file.size)));
    if (kind !== 'mp4') throw new VideoError('not_supported', kind || 'unknown container');
    if (typeof VideoDecoder === 'undefined') throw new VideoError('not_supported', 'no WebCodecs');
    const mp4 = await readMp4((o, l) => readBytes(file, o, l), file.size);
    if (!mp4.codec) throw new VideoError('not_supported', mp4.format);
    const config = {
        codec: mp4.codec,
        codedWidth: mp4.width,
        codedHeight: mp4.height,
        hardwareAcceleration: 'prefer-software',
        optimizeForLatency: false,
    };
    if (mp4.description) config.description = mp4.description;
    let supported = false;
    try {
        supported = (await VideoDecoder.isConfigSupported(config)).supported;
    } catch {
        supported = false;
    }
    if (!supported) throw new VideoError('not_supported', mp4.codec);

    const { md5, sha256 } = await digests(file);

    const fps = mp4.fps;
    const m = framePeriod(secondsPerHash, fps);
    const frames = [];
    // The first hashed frame with detail (quality 50 or more: not a black
    // or plain opening frame), else the first one.
    let thumb = null;
    let thumbGood = false;
    const held = []; // [{n, frame}] selected, waiting to be hashed
    let decoded = 0;
    let failure = null;
    let width = 0;
    let height = 0;
    let wake = null;
    const signal = () => {
        if (wake) {
            const w = wake;
            wake = null;
            w();
        }
    };
    // Waits for the decoder or the hasher to make room (or 50 ms, in case a
    // browser fires no 'dequeue' event).
    const pause = () =>
        new Promise((resolve) => {
            wake = resolve;
            setTimeout(signal, 50);
        });

    const decoder = new VideoDecoder({
        output: (frame) => {
            const n = decoded++;
            if (n % m !== 0 || failure) {
                frame.close();
            } else {
                held.push({ n, frame });
            }
            signal();
        },
        error: (e) => {
            failure = failure || new VideoError('decode_failed', e && e.message);
            signal();
        },
    });
    decoder.addEventListener('dequeue', signal);
    decoder.configure(config);

    // Hashes the held frames, oldest first.
    let hashing = null;
    const hashHeld = async () => {
        while (held.length && !failure) {
            const { n, frame } = held.shift();
            try {
                const { luma, width: w, height: h } = await frameLuma(frame, convert);
                if (!width) {
                    width = w;
                    height = h;
                    if (w * h > MP4_LIMITS.maxPixels) throw new VideoError('too_big', `${w}x${h}`);
                } else if (w !== width || h !== height) {
                    throw new VideoError('decode_failed', 'frame size changed');
                }
                if (w < 5 || h < 5) throw new VideoError('decode_failed', 'frame smaller than 5x5');
                const r = pdqFromLuma(luma, h, w, true);
                const t = frameTime(n, fps);
                if (!thumbGood) {
                    const good = r.quality >= 50;
                    if (good || !thumb) {
                        thumb = (await thumbnail(frame, frame.displayWidth, frame.displayHeight)) || thumb;
                        thumbGood = good;
                    }
                }
                frames.push({ n, t: Number(formatTime(t)), pdq: r.hex, quality: r.quality, dihedral: r.dihedral });
            } catch (e) {
                failure = failure || (e instanceof VideoError ? e : new VideoError('decode_failed', e && e.message));
            } finally {
                frame.close();
            }
            progress(DIGEST_SHARE + ((1 - DIGEST_SHARE) * decoded) / mp4.count);
            signal();
        }
    };
    const kick = () => {
        if (!hashing && held.length) hashing = hashHeld().finally(() => (hashing = null));
    };

    try {
        for (let k = 0; k < mp4.count && !failure; ) {
            // A window of samples that lie one after another in the file.
            const start = mp4.offsets[k];
            let end = start + mp4.sizes[k];
            let j = k + 1;
            while (j < mp4.count && mp4.offsets[j] >= start && mp4.offsets[j] + mp4.sizes[j] - start <= SAMPLE_WINDOW) {
                end = Math.max(end, mp4.offsets[j] + mp4.sizes[j]);
                j++;
            }
            const window = await readBytes(file, start, end - start);
            for (; k < j && !failure; k++) {
                kick();
                while (!failure && (decoder.decodeQueueSize >= DECODE_QUEUE || held.length >= HELD_FRAMES)) {
                    kick();
                    await pause();
                }
                if (failure) break;
                const at = mp4.offsets[k] - start;
                decoder.decode(
                    new EncodedVideoChunk({
                        type: mp4.keys[k] || k === 0 ? 'key' : 'delta',
                        timestamp: Math.round((mp4.cts[k] * 1e6) / mp4.timescale),
                        data: window.subarray(at, at + mp4.sizes[k]),
                    }),
                );
            }
        }
        if (!failure) await decoder.flush().catch((e) => {
            failure = failure || new VideoError('decode_failed', e && e.message);
        });
        kick();
        while (hashing) await hashing.then(kick);
    } finally {
        for (const h of held) h.frame.close();
        if (decoder.state !== 'closed') decoder.close();
    }
    if (failure) throw failure;
    if (!frames.length) throw new VideoError('no_frames');
    const video = {
        type: 'video',
        md5,
        sha256,
        duration: Number((decoded / fps).toFixed(3)), // seconds, three decimals as sitr hash prints it
        fps,
        width,
        height,
        frames,
    };
    return { video, thumb };
}

self.onmessage = (e) => {
    const { file, secondsPerHash = 1, convert = 'exact' } = e.data || {};
    const started = performance.now();
    hashVideo(file, secondsPerHash, convert).then(
        ({ video, thumb }) => postMessage({ type: 'done', video, thumb, ms: performance.now() - started }),
        (err) =>
            postMessage({
                type: 'error',
                code: (err && err.code) || 'decode_failed',
                detail: String((err && err.message) || err),
            }),
    );
};
