// The page's HEIC/HEIF decoder, in a dedicated Worker that heic.js starts
// only when a HEIC/HEIF file is picked (a phone downloads the 1 MB decoder
// only then).  The decoder is libheif with libde265 compiled to
// WebAssembly (libheif.js + libheif.wasm: the npm package libheif-js,
// vendored unchanged; see libheif.README), served by sitrd like every other
// file of the page: nothing is fetched from anywhere else.
//
// It is asked for the pixels exactly as `sitr hash` gets them from libvips'
// HEIF loader (libvips 8.14 over libheif): the primary image with its
// transformations (irot, imir, clap) applied, as libvips applies them (so
// an iPhone photo is hashed upright, unlike a JPEG, whose EXIF orientation
// sitr ignores; the Exif orientation of a HEIF file is ignored by both, as
// HEIF says it must be); YCbCr to RGB by libheif
// with nearest-neighbour chroma upsampling (what libheif 1.15 does);
// samples deeper than 8 bits reduced to their high 8 bits (libvips shifts
// them to 16 bits and sitr keeps the high byte); alpha dropped without
// compositing.  docs/HASHING.md says how close this comes to `sitr hash`.
//
// Message in: {id, bytes: ArrayBuffer, maxPixels}.  Message out: {id,
// width, height, rgba: ArrayBuffer (transferred; alpha 255)} or {id, code}
// with code 'unreadable' (not a HEIF image libheif can decode),
// 'too_large' (more than maxPixels) or 'no_decoder' (the decoder could not
// be loaded or compiled).  The bytes and pixels stay in this Worker and the
// page; nothing is sent anywhere.
'use strict';

// heif_colorspace / heif_chroma / heif_channel values of libheif's C API.
const COLORSPACE_RGB = 1;
const CHROMA_RGB = 10;
const CHROMA_RRGGBB_LE = 14;
const CHANNEL_INTERLEAVED = 10;
const UPSAMPLING_NEAREST = 1;
// Offsets in struct heif_decoding_options (wasm32: 4-byte pointers and
// enums) of color_conversion_options' preferred_chroma_upsampling_algorithm
// and only_use_preferred_chroma_algorithm.
const OPT_UPSAMPLING = 36;
const OPT_ONLY_PREFERRED = 40;

let modulePromise = null;

function loadDecoder() {
    if (!modulePromise) {
        modulePromise = (async () => {
            importScripts('/static/libheif.js');
            // libheif.js defines the global factory `libheif`; the wasm file is
            // fetched from the same folder (/static/).
            // eslint-disable-next-line no-undef
            return libheif({ locateFile: (name) => '/static/' + name });
        })();
    }
    return modulePromise;
}

class HeifError extends Error {
    constructor(code) {
        super(code);
        this.code = code;
    }
}

// Decodes bytes with the module M; returns {width, height, rgba}.
function decode(M, bytes, maxPixels) {
    const owned = [];
    const alloc = (n) => {
        const p = M._malloc(n);
        if (!p) throw new HeifError('too_large');
        owned.push(p);
        return p;
    };
    const err = alloc(16); // struct heif_error {code, subcode, message}
    const check = () => {
        if (M.HEAP32[err >> 2] !== 0) throw new HeifError('unreadable');
    };
    let ctx = 0;
    let handle = 0;
    let options = 0;
    let image = 0;
    try {
        const data = alloc(bytes.byteLength);
        M.HEAPU8.set(new Uint8Array(bytes), data);
        ctx = M._heif_context_alloc();
        if (!ctx) throw new HeifError('unreadable');
        M._heif_context_read_from_memory_without_copy(err, ctx, data, bytes.byteLength, 0);
        check();
        const out = alloc(4);
        M._heif_context_get_primary_image_handle(err, ctx, out);
        check();
        handle = M.HEAP32[out >> 2];
        const width = M._heif_image_handle_get_width(handle);
        const height = M._heif_image_handle_get_height(handle);
        if (!(width > 0 && height > 0)) throw new HeifError('unreadable');
        if (width * height > maxPixels) throw new HeifError('too_large');
        const deep = M._heif_image_handle_get_luma_bits_per_pixel(handle) > 8;
        options = M._heif_decoding_options_alloc();
        M.HEAP32[(options + OPT_UPSAMPLING) >> 2] = UPSAMPLING_NEAREST;
        M.HEAPU8[options + OPT_ONLY_PREFERRED] = 1;
        M._heif_decode_image(err, handle, out, COLORSPACE_RGB, deep ? CHROMA_RRGGBB_LE : CHROMA_RGB, options);
        check();
        image = M.HEAP32[out >> 2];
        const w = M._heif_image_get_width(image, CHANNEL_INTERLEAVED);
        const h = M._heif_image_get_height(image, CHANNEL_INTERLEAVED);
        const plane = M._heif_image_get_plane_readonly(image, CHANNEL_INTERLEAVED, out);
        const stride = M.HEAP32[out >> 2];
        if (!plane || w !== width || h !== height) throw new HeifError('unreadable');
        const rgba = new Uint8ClampedArray(w * h * 4);
        const heap = M.HEAPU8;
        if (deep) {
            // Little-endian samples of `range` bits: the high 8 bits.
            const shift = M._heif_image_get_bits_per_pixel_range(image, CHANNEL_INTERLEAVED) - 8;
            if (shift < 1 || shift > 8) throw new HeifError('unreadable');
            for (let y = 0; y < h; y++) {
                let s = plane + y * stride;
                let d = y * w * 4;
                for (let x = 0; x < w; x++, s += 6, d += 4) {
                    rgba[d] = (heap[s] | (heap[s + 1] << 8)) >> shift;
                    rgba[d + 1] = (heap[s + 2] | (heap[s + 3] << 8)) >> shift;
                    rgba[d + 2] = (heap[s + 4] | (heap[s + 5] << 8)) >> shift;
                    rgba[d + 3] = 255;
                }
            }
        } else {
            for (let y = 0; y < h; y++) {
                let s = plane + y * stride;
                let d = y * w * 4;
                for (let x = 0; x < w; x++, s += 3, d += 4) {
                    rgba[d] = heap[s];
                    rgba[d + 1] = heap[s + 1];
                    rgba[d + 2] = heap[s + 2];
                    rgba[d + 3] = 255;
                }
            }
        }
        return { width: w, height: h, rgba };
    } finally {
        if (image) M._heif_image_release(image);
        if (options) M._heif_decoding_options_free(options);
        if (handle) M._heif_image_handle_release(handle);
        if (ctx) M._heif_context_free(ctx);
        for (const p of owned) M._free(p);
    }
}

self.onmessage = async (e) => {
    const { id, bytes, maxPixels } = e.data || {};
    let M;
    try {
        M = await loadDecoder();
    } catch {
        self.postMessage({ id, code: 'no_decoder' });
        return;
    }
    try {
        const r = decode(M, bytes, maxPixels);
        self.postMessage({ id, width: r.width, height: r.height, rgba: r.rgba.buffer }, [r.rgba.buffer]);
    } catch (err) {
        // Anything but a HeifError (an abort inside the module, e.g. out of
        // memory) may have left the module unusable: the next file loads a
        // fresh one.
        if (!(err instanceof HeifError)) modulePromise = null;
        self.postMessage({ id, code: err instanceof HeifError ? err.code : 'unreadable' });
    }
};
