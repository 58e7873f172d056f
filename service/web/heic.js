// HEIC/HEIF photos (an iPhone's default) in the victims' page: Chromium
// and Firefox cannot decode them, so they are decoded here by libheif
// compiled to WebAssembly, in a Worker (heic-worker.js) started only when
// the first HEIC/HEIF file is picked and kept for the next ones.  Returns
// the pixels for pdq.js; never sends anything.

let worker = null;
let nextId = 1;
const waiting = new Map(); // id -> resolve

function failAll(code) {
    for (const resolve of waiting.values()) resolve({ code });
    waiting.clear();
    if (worker) worker.terminate();
    worker = null;
}

function start() {
    if (worker) return worker;
    // A classic Worker: it loads the decoder with importScripts.
    worker = new Worker('/static/heic-worker.js');
    worker.onmessage = (e) => {
        const m = e.data || {};
        const resolve = waiting.get(m.id);
        if (!resolve) return;
        waiting.delete(m.id);
        if (m.code) resolve({ code: m.code });
        else resolve({ width: m.width, height: m.height, data: new Uint8ClampedArray(m.rgba) });
    };
    worker.onerror = (e) => {
        e.preventDefault();
        failAll('no_decoder');
    };
    return worker;
}

// Decodes a HEIC/HEIF file's bytes (an ArrayBuffer, copied to the Worker)
// into {width, height, data: RGBA in the stored pixel order}, or {code}
// ('unreadable', 'too_large', 'no_decoder').
export function decodeHeif(bytes, maxPixels) {
    return new Promise((resolve) => {
        let w;
        try {
            w = start();
        } catch {
            resolve({ code: 'no_decoder' });
            return;
        }
        const id = nextId++;
        waiting.set(id, resolve);
        w.postMessage({ id, bytes: bytes.slice(0), maxPixels });
    });
}
