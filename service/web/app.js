// The victims' page: pick pictures, fingerprint them here (PDQ with its
// eight dihedral variants, MD5, SHA-256), send only the fingerprints to
// open a case, then check, extend, report on or withdraw it.
//
// Videos are fingerprinted here too, in a Worker (video-worker.js: the
// browser's own decoder, vPDQ frames at 5 a second with their dihedral
// variants, MD5, SHA-256), with a progress bar and a Cancel button, and
// their fingerprints (never their bytes) are sent in "videos", one video a
// request; they can also be saved on this device.
//
// Privacy rules this file keeps: a picture's or video's bytes and pixels
// stay in this tab's memory and are dropped after hashing (no upload, no preview sent
// anywhere, nothing in storage); the case number and secret live only in
// variables of this page (never in localStorage, URLs or history); the only
// thing stored is the chosen language.  Requests go to this origin only
// (the Content-Security-Policy enforces it too).
//
// Thumbnails: so that she sees which of her pictures was found, the page
// keeps a small thumbnail (thumb.js) of each picture and video she hashed
// in this visit, in memory only, beside (never inside) the fingerprints it
// sends, and shows it next to the picture's number in her case and in the
// report she prints.  They are never sent and never stored, and they are
// dropped when she leaves the case screen or withdraws: the page may be
// open on a shared phone.

import { jpegExifOrientation, pdqFromRgba, undoOrientation } from './pdq.js';
import { md5Hex } from './md5.js';
import { decodeHeif } from './heic.js';
import { sniffVideo } from './mp4.js';
import { ERROR_TEXTS, LANGS, STRINGS, pickLanguage, t } from './i18n.js';
import { thumbnail, thumbnailOfRgba } from './thumb.js';
import { parseToken } from './token.js';

const MIN_QUALITY = 50; // below this the service refuses a PDQ (featureless image)
const BATCH = 100; // images per request (SITR_MAX_IMAGES_PER_REQUEST default)
// A case video is fingerprinted 5 times a second, as `sitr case` does: at
// 30/25/24/60 fps that divides the platforms' one-a-second sampling, so a
// re-encode or an excerpt of it finds its own frames (docs/VIDEO_MATCHING.md).
const CASE_SECONDS_PER_HASH = 0.2;
const MAX_PIXELS = 100e6; // beyond this, decoding on a phone risks running out of memory
const LANG_KEY = 'sitr.lang';

const $ = (id) => document.getElementById(id);

let lang = 'en';
let session = null; // {ref, secret} of the case shown, in memory only
let lastStatus = null; // the last GET /v1/cases answer, re-rendered on language change
let lastAction = null; // the control used last: messages appear right after it
let lastMessage = null; // {box, key, params} of the message shown, re-said on language change
const picked = { new: [], add: [] }; // fingerprints ready to send
// This visit's thumbnails of the case on screen, by the numbers the service
// gave her pictures and videos ("picture No. 2"): {ref, images: Map(n ->
// Blob), videos: Map(n -> Blob), keys: Set of the fingerprints sent, urls:
// Map(Blob -> object URL)}.  Memory only; forgetThumbs() drops them.
let local = null;
let lastReport = null; // the last JSON report read: found list, platforms, help
const running = { new: null, add: null }; // the hashing under way: {cancelled, worker}

// ---- language ----

function storedLanguage() {
    try {
        return localStorage.getItem(LANG_KEY);
    } catch {
        return null;
    }
}

function setLanguage(code, remember) {
    lang = STRINGS[code] ? code : 'en';
    document.documentElement.lang = lang;
    document.documentElement.dir = LANGS[lang].dir;
    $('lang').value = lang;
    document.title = t(lang, 'title');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(lang, el.dataset.i18n);
    if (remember) {
        try {
            localStorage.setItem(LANG_KEY, lang);
        } catch {
            // Private browsing may refuse storage; the choice then lasts for this visit.
        }
    }
    if (lastStatus) renderStatus(lastStatus);
    renderFound(lastReport);
    renderAbout(lastReport);
    for (const which of ['new', 'add']) renderSummary(which);
    if (lastMessage) $(lastMessage.box).textContent = t(lang, lastMessage.key, lastMessage.params);
}

// ---- messages ----

// A message goes where the eye is: right after the control the person used
// (or at the top of the step on screen), scrolled into view; an error also
// takes the focus, so a screen reader reads it and a phone shows it even
// when the keyboard covered half the screen.  Both boxes are live regions.
function place(box) {
    const el = $(box);
    const anchor = lastAction && lastAction.isConnected && lastAction.getClientRects().length ? lastAction : null;
    let after = anchor && anchor.closest('.choices, .code-actions, .report-actions, .case-head, .progress, label');
    if (!after && anchor) after = anchor;
    if (after) {
        if (after.nextElementSibling !== el) after.after(el);
    } else {
        const step = document.querySelector('main > section:not([hidden])');
        const head = step && step.querySelector('h2');
        if (head) head.after(el);
        else $('main').prepend(el);
    }
    return el;
}

function visible(el) {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= (window.innerHeight || document.documentElement.clientHeight);
}

function say(key, params) {
    $('error').textContent = '';
    const el = $('status');
    lastMessage = key ? { box: 'status', key, params } : null;
    el.textContent = key ? t(lang, key, params) : '';
    if (key) {
        place('status');
        if (!visible(el)) el.scrollIntoView({ block: 'nearest' });
    }
}

function fail(key, params) {
    $('status').textContent = '';
    const el = place('error');
    lastMessage = { box: 'error', key, params };
    el.textContent = t(lang, key, params);
    el.scrollIntoView({ block: 'center' });
    el.focus({ preventScroll: true });
}

// One step at a time; the introduction (with its two choices) stays above
// the first steps, and goes away once a case is on screen.
function show(sectionId) {
    for (const id of ['new', 'created', 'check', 'case', 'withdrawn']) $(id).hidden = id !== sectionId;
    $('danger').hidden = sectionId !== 'case';
    $('intro').hidden = !['intro', 'new', 'check'].includes(sectionId);
}

function focusHeading(id) {
    const h = $(id);
    if (h) h.focus();
}

// ---- fingerprints ----

function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

// Decodes the picture in the browser and returns its RGBA pixels in the
// order stored in the file (as the reference hashes them: EXIF orientation
// undone for JPEG, no colour management), or null when this
// browser cannot decode it.  Browsers that know 'from-image' apply the
// orientation, which is then undone from the file's own EXIF; older ones
// take 'none', which for them means "not applied".  A 2D canvas always
// premultiplies alpha, so the colour under fully transparent pixels is lost:
// such images can hash differently here than with `sitr hash`.
// out.thumb gets the picture's thumbnail, as it is displayed (thumb.js).
async function pixels(file, bytes, out) {
    let bitmap;
    let applied = true;
    const options = { colorSpaceConversion: 'none', premultiplyAlpha: 'none' };
    try {
        bitmap = await createImageBitmap(file, { ...options, imageOrientation: 'from-image' });
    } catch (e) {
        if (!(e instanceof TypeError)) return null;
        applied = false;
        try {
            bitmap = await createImageBitmap(file, { ...options, imageOrientation: 'none' });
        } catch {
            return null;
        }
    }
    try {
        const { width, height } = bitmap;
        out.thumb = await thumbnail(bitmap, width, height);
        if (!width || !height || width * height > MAX_PIXELS) return null;
        let ctx;
        if (typeof OffscreenCanvas !== 'undefined') {
            ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
        } else {
            const canvas = document.createElement('canvas');
            canvas.width = width;
            canvas.height = height;
            ctx = canvas.getContext('2d', { willReadFrequently: true });
        }
        if (!ctx) return null;
        ctx.drawImage(bitmap, 0, 0);
        const data = ctx.getImageData(0, 0, width, height).data;
        return undoOrientation(data, width, height, applied ? jpegExifOrientation(bytes) : 1);
    } catch {
        return null;
    } finally {
        bitmap.close();
    }
}

// One picked file to the image object the API takes.  A HEIC/HEIF file
// (heif) is decoded by the page's own decoder (heic.js), whatever the
// browser could do with it, so that every browser hashes it alike.
async function fingerprint(file, heif) {
    const bytes = await file.arrayBuffer();
    const image = {
        md5: md5Hex(bytes),
        sha256: hex(await crypto.subtle.digest('SHA-256', bytes)),
    };
    const shown = { thumb: null };
    let px;
    if (heif) {
        const r = await decodeHeif(bytes, MAX_PIXELS);
        px = r.code ? null : r;
        if (px) shown.thumb = await thumbnailOfRgba(px.data, px.width, px.height);
    } else {
        px = await pixels(file, new Uint8Array(bytes), shown);
    }
    let kind = 'digests';
    if (px) {
        const h = pdqFromRgba(px.data, px.width, px.height);
        if (h.quality >= MIN_QUALITY) {
            image.pdq = h.pdq;
            image.quality = h.quality;
            image.dihedral = h.dihedral;
            kind = 'pdq';
        } else {
            kind = 'low';
        }
    } else {
        kind = 'undecoded';
    }
    return { image, kind, thumb: shown.thumb };
}

// What a file is by its first bytes: 'video' (a container sitr knows),
// 'heic' (an iPhone photo: HEIC/HEIF), 'image' (JPEG, PNG, GIF, WebP, BMP,
// TIFF, AVIF), or null (unknown: then only what the system calls it and
// whether this browser can open it decide; see fingerprintAll).
const HEIF_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1']);
export function sniffMedia(head) {
    const b = head;
    const ascii = (o, n) => String.fromCharCode(...b.subarray(o, o + n));
    if (b.length >= 12 && ascii(4, 4) === 'ftyp') {
        const major = ascii(8, 4);
        if (HEIF_BRANDS.has(major)) return 'heic';
        if (major === 'avif' || major === 'avis') return 'image';
    }
    if (sniffVideo(b)) return 'video';
    if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image';
    if (b.length >= 8 && b[0] === 0x89 && ascii(1, 3) === 'PNG') return 'image';
    if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'image';
    if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'image';
    if (b.length >= 2 && ascii(0, 2) === 'BM') return 'image';
    if (b.length >= 4 && (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*')) return 'image';
    return null;
}

async function mediaKind(file) {
    try {
        return sniffMedia(new Uint8Array(await file.slice(0, 512).arrayBuffer()));
    } catch {
        return null; // unreadable: the image path reports it
    }
}

// One video in a Worker: resolves {video} or {code} (the worker's error
// code, or 'cancelled').  onProgress gets 0..1.
function fingerprintVideo(file, run, onProgress) {
    return new Promise((resolve) => {
        let worker;
        try {
            worker = new Worker('/static/video-worker.js', { type: 'module' });
        } catch {
            resolve({ code: 'not_supported' });
            return;
        }
        const done = (r) => {
            worker.terminate();
            run.worker = null;
            run.stop = null;
            resolve(r);
        };
        run.worker = worker;
        run.stop = () => done({ code: 'cancelled' });
        worker.onmessage = (e) => {
            const m = e.data || {};
            if (m.type === 'progress') onProgress(m.fraction);
            else if (m.type === 'done') done({ video: m.video, thumb: m.thumb || null });
            else if (m.type === 'error') done({ code: m.code || 'decode_failed' });
        };
        worker.onerror = () => done({ code: 'not_supported' });
        worker.postMessage({ file, secondsPerHash: CASE_SECONDS_PER_HASH });
    });
}

function setProgress(which, fraction) {
    const bar = $(which + '-bar');
    if (fraction === null) {
        $(which + '-progress').hidden = true;
        bar.value = 0;
        return;
    }
    $(which + '-progress').hidden = false;
    bar.value = Math.max(0, Math.min(1, fraction));
}

function cancelHashing(which) {
    const run = running[which];
    if (!run) return;
    run.cancelled = true;
    if (run.stop) run.stop();
}

async function fingerprintAll(files, which) {
    cancelHashing(which);
    picked[which] = [];
    renderSummary(which);
    if (!crypto || !crypto.subtle) {
        fail('err_no_crypto');
        return;
    }
    const run = { cancelled: false, worker: null, stop: null };
    running[which] = run;
    const list = Array.from(files);
    const out = [];
    setProgress(which, 0);
    for (let k = 0; k < list.length && !run.cancelled; k++) {
        const file = list[k];
        try {
            const kind = await mediaKind(file);
            const type = file.type || '';
            if (kind === 'video' || (!kind && type.startsWith('video/'))) {
                say('hashing_video', { n: k + 1, total: list.length, pct: 0 });
                const r = await fingerprintVideo(file, run, (fraction) => {
                    if (run.cancelled) return;
                    setProgress(which, (k + fraction) / list.length);
                    say('hashing_video', { n: k + 1, total: list.length, pct: Math.floor(fraction * 100) });
                });
                if (r.code === 'cancelled') break;
                out.push(r.video ? { kind: 'video', name: file.name, video: r.video, thumb: r.thumb } : { kind: 'video_failed', code: r.code });
            } else if (kind || type.startsWith('image/')) {
                say('hashing', { n: k + 1, total: list.length });
                const f = await fingerprint(file, kind === 'heic');
                // Neither its bytes nor this browser say it is a picture: a
                // document, a text, an archive... refused, never sent.
                if (!kind && f.kind === 'undecoded') out.push({ kind: 'refused', name: file.name });
                else out.push(kind === 'heic' && f.kind === 'undecoded' ? { ...f, kind: 'heic' } : f);
            } else {
                out.push({ kind: 'refused', name: file.name });
            }
        } catch {
            out.push(null);
        }
        setProgress(which, (k + 1) / list.length);
    }
    // A newer choice of files replaced this one: it owns the page now.
    if (running[which] !== run) return;
    running[which] = null;
    setProgress(which, null);
    if (run.cancelled) {
        // Nothing half done is kept: the choice starts again from nothing.
        $(which === 'new' ? 'files' : 'add-files').value = '';
        say('cancelled');
        return;
    }
    picked[which] = out.filter(Boolean);
    say('');
    renderSummary(which);
    const refused = picked[which].filter((x) => x.kind === 'refused');
    if (refused.length) fail('not_media', { n: refused.length, names: refused.map((x) => x.name).join(', ') });
}

const isImage = (x) => x.kind !== 'video' && x.kind !== 'video_failed' && x.kind !== 'refused';

// The pictures to send ({image, thumb} items).
function imagesOf(which) {
    return picked[which].filter(isImage);
}

// The videos to send ({video, thumb} items): the fingerprints as `sitr hash
// --format jsonl --dihedral` prints them, without any name.
function videosOf(which) {
    return picked[which].filter((x) => x.kind === 'video');
}

// ---- thumbnails (memory only, see the top of this file) ----

function forgetThumbs() {
    if (local) for (const url of local.urls.values()) URL.revokeObjectURL(url);
    local = null;
}

function thumbsFor(ref) {
    if (!local || local.ref !== ref) {
        forgetThumbs();
        local = { ref, images: new Map(), videos: new Map(), keys: new Set(), urls: new Map() };
    }
    return local;
}

function thumbUrl(blob) {
    let url = local.urls.get(blob);
    if (!url) {
        url = URL.createObjectURL(blob);
        local.urls.set(blob, url);
    }
    return url;
}

// The service numbers a case's pictures 1, 2, ... in the order it stores
// them, skipping a picture whose fingerprints the case already holds (the
// same pdq, md5 and sha256), and its videos likewise.
const imageKey = (im) => `${im.pdq || ''}|${im.md5 || ''}|${im.sha256 || ''}`;

// After the service stored a batch of pictures (stored of them, the case
// now holding total): the numbers go to the new ones in the order sent.
// Only when the count agrees with what this page expected; otherwise (the
// case held some of them from another visit) no number is guessed, and
// those pictures go without a thumbnail.
function numberImages(l, items, stored, total) {
    const fresh = [];
    for (const x of items) {
        const key = imageKey(x.image);
        if (l.keys.has(key)) continue;
        l.keys.add(key);
        fresh.push(x);
    }
    if (fresh.length !== stored) return;
    fresh.forEach((x, i) => {
        if (x.thumb) l.images.set(total - stored + 1 + i, x.thumb);
    });
}

// Sends pictures (in batches) and videos (one a request) to the case at ref
// with secret; the first request creates the case when ref is null.
// Returns {ok, key, first, added, duplicates, videosAdded}.
async function sendAll(ref, secret, images, videos) {
    const out = { ok: true, first: null, added: 0, duplicates: 0, videosAdded: 0 };
    const batches = [];
    for (let k = 0; k < images.length; k += BATCH) batches.push({ images: images.slice(k, k + BATCH) });
    for (const v of videos) batches.push({ videos: [v] });
    for (const batch of batches) {
        const body = batch.images ? { images: batch.images.map((x) => x.image) } : { videos: [batch.videos[0].video] };
        const r = ref
            ? await api('POST', caseUrl(ref, '/images'), body, secret)
            : await api('POST', '/v1/cases', body);
        if (!r.ok) return { ...out, ok: false, key: r.key, params: r.params };
        const l = thumbsFor(ref || r.json.case);
        if (batch.images) {
            const stored = ref ? r.json.added : r.json.images;
            numberImages(l, batch.images, stored || 0, r.json.images || 0);
        } else if ((ref ? r.json.videos_added : r.json.videos) === 1 && batch.videos[0].thumb) {
            l.videos.set(r.json.videos, batch.videos[0].thumb);
        }
        if (!ref) {
            out.first = r.json;
            ref = r.json.case;
            secret = r.json.secret;
            session = { ref, secret };
            continue;
        }
        out.added += r.json.added || 0;
        out.duplicates += r.json.duplicates || 0;
        out.videosAdded += r.json.videos_added || 0;
    }
    return out;
}

function renderSummary(which) {
    const el = $(which === 'new' ? 'new-summary' : 'add-summary');
    const button = $(which === 'new' ? 'create' : 'add');
    const ul = $(which === 'new' ? 'new-videos' : 'add-videos');
    const list = picked[which];
    const images = list.filter(isImage);
    const videos = list.filter((x) => x.kind === 'video');
    const failed = list.filter((x) => x.kind === 'video_failed').length;
    el.textContent = '';
    ul.textContent = '';
    button.disabled = images.length === 0 && videos.length === 0;
    if (!list.length) return;
    const lines = [];
    if (images.length) lines.push(t(lang, 'ready', { n: images.length }));
    const low = images.filter((x) => x.kind === 'low').length;
    const undecoded = images.filter((x) => x.kind === 'undecoded').length;
    const heic = images.filter((x) => x.kind === 'heic').length;
    const refused = list.filter((x) => x.kind === 'refused').length;
    if (low) lines.push(t(lang, 'low_quality', { n: low }));
    if (undecoded) lines.push(t(lang, 'not_decoded', { n: undecoded }));
    if (heic) lines.push(t(lang, 'heic_not_decoded', { n: heic }));
    if (refused) lines.push(t(lang, 'refused_files', { n: refused }));
    if (videos.length) lines.push(t(lang, 'videos_ready', { n: videos.length }));
    if (failed) lines.push(t(lang, 'videos_failed', { n: failed }));
    for (const line of lines) {
        const p = document.createElement('p');
        p.textContent = line;
        el.append(p);
    }
    for (const v of videos) {
        const li = document.createElement('li');
        const text = document.createElement('span');
        text.textContent = t(lang, 'video_item', {
            name: v.name,
            seconds: Math.round(v.video.duration),
            frames: v.video.frames.length,
        });
        const save = document.createElement('button');
        save.type = 'button';
        save.className = 'save-video';
        save.textContent = t(lang, 'save_video');
        save.addEventListener('click', () => saveVideo(v.video));
        li.append(text, ' ', save);
        ul.append(li);
    }
}

// The fingerprints of one video as a file on this device (one line of
// JSON, as `sitr hash --format jsonl --dihedral` writes it), e.g. to add
// with `sitr case add` later.  Only hashes are in it.
function saveVideo(video) {
    const blob = new Blob([JSON.stringify(video) + '\n'], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'sitr-video-' + video.sha256.slice(0, 16) + '.jsonl';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

// ---- the API ----

function caseUrl(ref, tail = '') {
    return '/v1/cases/' + encodeURIComponent(ref) + tail;
}

async function api(method, url, body, secret, accept = 'application/json') {
    const headers = { Accept: accept };
    if (body) headers['Content-Type'] = 'application/json';
    if (secret) headers.Authorization = 'Case ' + secret;
    let res;
    try {
        res = await fetch(url, {
            method,
            headers,
            body: body ? JSON.stringify(body) : undefined,
            cache: 'no-store',
            credentials: 'omit',
            referrerPolicy: 'no-referrer',
        });
    } catch {
        return { ok: false, key: 'err_network' };
    }
    const type = res.headers.get('Content-Type') || '';
    if (res.ok) {
        if (type.startsWith('application/json')) return { ok: true, status: res.status, json: await res.json() };
        return { ok: true, status: res.status, blob: await res.blob(), type };
    }
    let code = '';
    try {
        code = (await res.json()).error.code;
    } catch {
        // Not our error shape (a proxy's page): fall back on the status.
    }
    const out = { ok: false, status: res.status, code, key: errorKey(res.status, code) };
    // A lock-out says how long: Retry-After is in seconds (RFC 9110 10.2.3).
    const wait = Number.parseInt(res.headers.get('Retry-After') || '', 10);
    if (res.status === 429 && wait > 0) {
        out.key = 'err_rate_limited_wait';
        out.params = { wait: waitText(wait) };
    }
    return out;
}

// The page's text for a server error code (texts.json "error_codes", one
// entry for every code docs/openapi.yaml lists for the victims' routes:
// tests/web/error_texts.py checks both ways), else one by status.
function errorKey(status, code) {
    if (code && ERROR_TEXTS[code]) return ERROR_TEXTS[code];
    if (status === 429) return 'err_rate_limited';
    if (status === 413) return 'err_video_too_long';
    if (status === 503) return 'err_busy';
    return 'err_generic';
}

// "45 seconds", "2 minutes", "1 hour" in the page's language.
function waitText(seconds) {
    if (seconds < 90) return t(lang, 'wait_seconds', { n: seconds });
    if (seconds < 90 * 60) return t(lang, 'wait_minutes', { n: Math.ceil(seconds / 60) });
    return t(lang, 'wait_hours', { n: Math.ceil(seconds / 3600) });
}

// ---- flows ----

async function createCase() {
    const images = imagesOf('new');
    const videos = videosOf('new');
    if (!images.length && !videos.length) return fail('err_no_images');
    $('create').disabled = true;
    say('sending');
    // The first request opens the case; more pictures than one request
    // takes, and each video, are then added to it.
    session = null;
    const r = await sendAll(null, null, images, videos);
    if (!r.first) {
        $('create').disabled = false;
        return fail(r.key, r.params);
    }
    const ref = r.first.case;
    const secret = r.first.secret;
    if (!r.ok) fail(r.key, r.params);
    picked.new = [];
    $('files').value = '';
    renderSummary('new');
    $('created-case').textContent = ref;
    $('created-secret').textContent = secret;
    if ($('error').textContent === '') say('');
    show('created');
    focusHeading('created-title');
}

async function loadCase(ref, secret) {
    say('checking');
    const r = await api('GET', caseUrl(ref), null, secret);
    if (!r.ok) {
        fail(r.key, r.params);
        return false;
    }
    session = { ref: r.json.case || ref, secret };
    lastStatus = r.json;
    renderStatus(r.json);
    await loadFound(session.ref, secret);
    say('');
    show('case');
    return true;
}

// The JSON report of the case: which of her pictures and videos were
// found, where, and what happened (its takedowns by her numbers,
// case_items); the platforms taking part; where to get help (the
// operator's list).  Without it the counts above still say what happened.
async function loadFound(ref, secret) {
    lastReport = null;
    const r = await api('GET', caseUrl(ref, '/report'), null, secret);
    if (r.ok && r.json && Array.isArray(r.json.takedowns)) lastReport = r.json;
    renderFound(lastReport);
    renderAbout(lastReport);
}

// What happens next, the platforms taking part and where to get help, as
// the report names them.
function renderAbout(report) {
    $('about').hidden = !report;
    const fill = (id, items) => {
        const ul = $(id);
        ul.textContent = '';
        for (const item of items) {
            const li = document.createElement('li');
            const b = document.createElement('bdi');
            b.textContent = item;
            li.append(b);
            ul.append(li);
        }
        ul.hidden = items.length === 0;
    };
    const strings = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string' && x) : []);
    const platforms = strings(report && report.platforms);
    $('platforms-intro').textContent = t(lang, platforms.length ? 'evidence_platforms_intro' : 'evidence_no_platforms');
    fill('platforms', platforms);
    const help = strings(report && report.operator && report.operator.help);
    $('help-intro').hidden = help.length === 0;
    fill('help-list', help);
}

// The status in the report's words (one vocabulary: texts.json evidence_st_*).
function statusText(code) {
    return STRINGS.en['evidence_st_' + code] ? t(lang, 'evidence_st_' + code) : t(lang, 'ev_unknown', { platform: '' });
}

// This visit's thumbnail of her picture (kind 'image') or video number n
// of the case on screen, or null.
function localThumb(kind, n) {
    if (!local || !session || local.ref !== session.ref) return null;
    return (kind === 'image' ? local.images : local.videos).get(n) || null;
}

function renderFound(report) {
    const list = $('found-list');
    list.textContent = '';
    const items = new Map();
    for (const td of (report && report.takedowns) || []) {
        const ci = td.case_items || {};
        for (const [kind, numbers] of [['image', ci.images], ['video', ci.videos]]) {
            for (const n of Array.isArray(numbers) ? numbers : []) {
                if (!Number.isInteger(n) || n < 1) continue;
                const k = kind + '-' + n;
                if (!items.has(k)) items.set(k, { kind, n, where: [] });
                items.get(k).where.push(td);
            }
        }
    }
    $('found').hidden = items.size === 0;
    const order = [...items.values()].sort((a, b) => (a.kind === b.kind ? a.n - b.n : a.kind === 'image' ? -1 : 1));
    for (const it of order) {
        const li = document.createElement('li');
        li.dataset.item = it.kind + '-' + it.n;
        const name = t(lang, it.kind === 'image' ? 'found_image' : 'found_video', { n: formatCount(it.n) });
        const blob = localThumb(it.kind, it.n);
        if (blob) {
            const img = document.createElement('img');
            img.className = 'thumb';
            img.src = thumbUrl(blob);
            img.alt = t(lang, 'found_thumb_alt', { name });
            li.append(img);
        } else {
            const none = document.createElement('span');
            none.className = 'thumb none';
            none.setAttribute('aria-hidden', 'true');
            none.textContent = formatCount(it.n);
            li.append(none);
        }
        const body = document.createElement('div');
        const head = document.createElement('strong');
        head.textContent = name;
        const where = document.createElement('ul');
        for (const td of it.where) {
            const w = document.createElement('li');
            const platform = document.createElement('bdi');
            platform.textContent = td.platform || '';
            const time = document.createElement('time');
            time.dateTime = td.found_at || '';
            time.textContent = td.found_at ? formatDate(td.found_at) : '';
            // "{platform}: {status} (found {time})", the two elements put
            // where the language puts them.
            const parts = t(lang, 'found_where', { status: statusText(td.status) }).split(/(\{platform\}|\{time\})/);
            for (const part of parts) {
                if (part === '{platform}') w.append(platform);
                else if (part === '{time}') w.append(time);
                else if (part) w.append(part);
            }
            where.append(w);
        }
        body.append(head, where);
        li.append(body);
        list.append(li);
    }
}

// A time from the server in this device's time zone, to the second, with
// the zone's name ("4 Dec 2026, 18:03:11 GMT+1"); shown in a <time> that
// never breaks across lines (style.css).
export function formatDate(iso, language = lang, timeZone = undefined) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    try {
        return new Intl.DateTimeFormat(language, {
            year: 'numeric',
            month: 'short',
            day: 'numeric',
            hour: '2-digit',
            minute: '2-digit',
            second: '2-digit',
            timeZoneName: 'short',
            timeZone,
        }).format(d);
    } catch {
        return d.toISOString().replace(/\.\d+Z$/, 'Z');
    }
}

function formatCount(n) {
    if (typeof n !== 'number') return n ?? '';
    try {
        return new Intl.NumberFormat(lang).format(n);
    } catch {
        return String(n);
    }
}

// A UTC day "YYYY-MM-DD", written as the page writes dates.
function formatDay(day) {
    const d = new Date(day + 'T00:00:00Z');
    if (Number.isNaN(d.getTime())) return day;
    try {
        return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeZone: 'UTC' }).format(d);
    } catch {
        return day;
    }
}

function renderStatus(s) {
    $('case-ref').textContent = s.case || (session && session.ref) || '';
    const td = s.takedowns || {};
    $('case-created').dateTime = s.created_at || '';
    $('case-created').textContent = s.created_at ? formatDate(s.created_at) : '';
    const rows = [
        ['n_images', s.images],
        ['n_videos', s.videos],
        ['n_matches', s.matches],
        ['n_blocked', s.uploads_blocked],
        ['n_takedowns', td.requested],
        ['n_removed', td.removed],
        ['n_pending', td.pending],
        ['n_rejected', td.rejected],
        ['n_not_found', td.not_found],
    ];
    const dl = $('counts');
    dl.textContent = '';
    for (const [key, value] of rows) {
        const dt = document.createElement('dt');
        dt.textContent = t(lang, key);
        const dd = document.createElement('dd');
        dd.textContent = String(value ?? 0);
        dd.dataset.count = key;
        dl.append(dt, dd);
    }
    const ol = $('timeline');
    ol.textContent = '';
    const events = Array.isArray(s.timeline) ? s.timeline : [];
    const news = events.filter(
        (e) => e.event !== 'case_created' && e.event !== 'images_added' && e.event !== 'videos_added',
    );
    for (const e of events) {
        const li = document.createElement('li');
        const time = document.createElement('time');
        time.dateTime = e.at;
        time.textContent = formatDate(e.at);
        const text = document.createElement('span');
        const key = STRINGS.en['ev_' + e.event] ? 'ev_' + e.event : 'ev_unknown';
        // Blocks come as one entry per platform and UTC day (date), with
        // their number so far.
        text.textContent = t(lang, key, {
            platform: e.platform || '',
            count: formatCount(e.count),
            date: e.date ? formatDay(e.date) : '',
        });
        li.dataset.event = e.event;
        li.append(time, ' ', text);
        ol.append(li);
    }
    if (news.length === 0) {
        const li = document.createElement('li');
        li.className = 'quiet';
        li.textContent = t(lang, 'timeline_empty');
        ol.append(li);
    }
}

async function addImages() {
    if (!session) return;
    const images = imagesOf('add');
    const videos = videosOf('add');
    if (!images.length && !videos.length) return fail('err_no_images');
    $('add').disabled = true;
    say('sending');
    const r = await sendAll(session.ref, session.secret, images, videos);
    if (!r.ok) {
        $('add').disabled = false;
        return fail(r.key, r.params);
    }
    const added = r.added + r.videosAdded;
    const duplicates = r.duplicates;
    picked.add = [];
    $('add-files').value = '';
    renderSummary('add');
    await loadCase(session.ref, session.secret);
    say('added', { added, duplicates });
}

// The printable report page, in the language chosen here: its HTML text,
// or null after saying why not.  withThumbs: for printing on this device,
// her thumbnails beside her pictures' numbers (never in the saved file,
// which she may hand on).
async function fetchReport(withThumbs = false) {
    if (!session) return null;
    const url = caseUrl(session.ref, '/report?format=html&lang=' + encodeURIComponent(lang));
    const r = await api('GET', url, null, session.secret, 'text/html, application/json;q=0.5');
    if (!r.ok) {
        if ((r.status === 404 && r.code !== 'case_not_found') || r.status === 405) fail('report_missing');
        else fail(r.key, r.params);
        return null;
    }
    if (!r.blob || !(r.type || '').startsWith('text/html')) {
        fail('report_missing');
        return null;
    }
    return withLocalTimes(await r.blob.text(), withThumbs);
}

// The report gives every time in UTC (<time datetime="...Z">); this
// device knows her time zone, so her local time goes beside each one
// ("18:03:11 UTC (your time: 4 Dec 2026, 19:03:11 GMT+1)").  Text only:
// the report stays without script or link.  withThumbs: each of her
// pictures and videos the report names (<span data-image="N">, report_page.c)
// gets this visit's thumbnail of it, as a blob: image of this page.
function withLocalTimes(html, withThumbs) {
    const doc = new DOMParser().parseFromString(html, 'text/html');
    for (const el of doc.querySelectorAll('time[datetime]')) {
        const span = doc.createElement('span');
        span.className = 'local';
        span.textContent = ' (' + t(lang, 'local_time', { t: formatDate(el.dateTime) }) + ')';
        el.after(span);
    }
    for (const el of withThumbs ? doc.querySelectorAll('span[data-image], span[data-video]') : []) {
        const kind = el.hasAttribute('data-image') ? 'image' : 'video';
        const n = Number(el.getAttribute('data-' + kind));
        const blob = Number.isInteger(n) ? localThumb(kind, n) : null;
        if (!blob) continue;
        const img = doc.createElement('img');
        img.src = thumbUrl(blob);
        img.alt = '';
        img.height = 48; // attributes, not style: the report's style is fixed by its hash
        img.setAttribute('align', 'middle');
        el.prepend(img, ' ');
    }
    return '<!DOCTYPE html>\n' + doc.documentElement.outerHTML + '\n';
}

function saveFile(name, text, type) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type }));
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

async function downloadReport() {
    const html = await fetchReport();
    if (html === null) return false;
    saveFile('sitr-report-' + session.ref + '.html', html, 'text/html');
    say('report_ready');
    return true;
}

// Print (or "Save as PDF" in the print dialogue, which is how a phone makes
// a PDF): the report in a hidden frame of this page, printed on its own.
// Its A4 layout, page numbers and headings kept with their tables are the
// report's own print style (report_page.c), allowed here by its hash in
// the page's Content-Security-Policy.
async function printReport() {
    const html = await fetchReport(true);
    if (html === null) return;
    let frame = $('print-frame');
    if (frame) frame.remove();
    frame = document.createElement('iframe');
    frame.id = 'print-frame';
    frame.className = 'print-frame';
    frame.title = t(lang, 'report_title');
    frame.setAttribute('aria-hidden', 'true');
    frame.tabIndex = -1;
    frame.addEventListener('load', () => {
        say('report_printing');
        try {
            frame.contentWindow.focus();
            frame.contentWindow.print();
        } catch {
            fail('print_failed');
        }
    });
    frame.srcdoc = html;
    document.body.append(frame);
}

// The two codes in a small text file, to keep somewhere safe.
function saveCodes() {
    const ref = $('created-case').textContent;
    const secret = $('created-secret').textContent;
    if (!ref || !secret) return;
    const text = [
        t(lang, 'codes_file_title'),
        '',
        t(lang, 'case_label') + ': ' + ref,
        t(lang, 'secret_label') + ': ' + secret,
        t(lang, 'codes_file_service') + ': ' + location.origin + '/',
        t(lang, 'codes_file_date') + ': ' + formatDate(new Date().toISOString()),
        '',
        t(lang, 'created_warning'),
        '',
    ].join('\r\n');
    saveFile('sitr-case-' + ref + '.txt', '\ufeff' + text, 'text/plain;charset=utf-8');
    say('codes_saved');
}

async function withdraw() {
    if (!session) return;
    $('withdraw-yes').disabled = true;
    const r = await api('DELETE', caseUrl(session.ref), null, session.secret);
    $('withdraw-yes').disabled = false;
    if (!r.ok) return fail(r.key, r.params);
    forget();
    say('withdrawn');
    show('withdrawn');
    focusHeading('withdrawn-title');
}

// Drops the codes and the status from this page (nothing else holds them).
function forget() {
    session = null;
    lastStatus = null;
    lastReport = null;
    forgetThumbs();
    renderFound(null);
    renderAbout(null);
    $('created-case').textContent = '';
    $('created-secret').textContent = '';
    $('check-form').reset();
    $('check-secret').type = 'password';
    $('counts').textContent = '';
    $('timeline').textContent = '';
    $('withdraw-confirm').hidden = true;
    const frame = $('print-frame');
    if (frame) frame.remove();
    cancelHashing('add');
    picked.add = [];
    renderSummary('add');
}

async function copyCode(button) {
    const text = $(button.dataset.copy).textContent;
    try {
        await navigator.clipboard.writeText(text);
        button.textContent = t(lang, 'copied');
        setTimeout(() => (button.textContent = t(lang, 'copy')), 2500);
    } catch {
        const range = document.createRange();
        range.selectNodeContents($(button.dataset.copy));
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        fail('copy_failed');
    }
}

function start() {
    // Where the person acted last, so that messages appear there.
    document.addEventListener('click', (e) => {
        const c = e.target.closest && e.target.closest('button, input, select');
        if (c) lastAction = c;
    }, true);
    document.addEventListener('change', (e) => {
        if (e.target.matches && e.target.matches('input[type="file"]')) lastAction = e.target;
    }, true);
    document.addEventListener('submit', (e) => {
        lastAction = e.target.querySelector('button[type="submit"]') || lastAction;
    }, true);
    setLanguage(pickLanguage(storedLanguage(), navigator.languages || [navigator.language]), false);
    $('lang').addEventListener('change', (e) => setLanguage(e.target.value, true));
    $('go-new').addEventListener('click', () => {
        say('');
        show('new');
        $('files').focus();
    });
    $('go-check').addEventListener('click', () => {
        say('');
        show('check');
        $('check-case').focus();
    });
    $('files').addEventListener('change', (e) => fingerprintAll(e.target.files, 'new'));
    $('add-files').addEventListener('change', (e) => fingerprintAll(e.target.files, 'add'));
    $('new-cancel').addEventListener('click', () => cancelHashing('new'));
    $('add-cancel').addEventListener('click', () => cancelHashing('add'));
    $('create').addEventListener('click', createCase);
    $('add').addEventListener('click', addImages);
    for (const b of document.querySelectorAll('button.copy')) b.addEventListener('click', () => copyCode(b));
    $('written').addEventListener('click', async () => {
        if (session && (await loadCase(session.ref, session.secret))) focusHeading('case-title');
    });
    $('show-secret').addEventListener('change', (e) => {
        $('check-secret').type = e.target.checked ? 'text' : 'password';
    });
    $('check-form').addEventListener('submit', async (e) => {
        e.preventDefault();
        // Read the way sitr and sitrd read them (token.js): spaces, hyphens,
        // lower case, O for 0, I or L for 1, Arabic digits.  A typo caught
        // here sends nothing and counts no wrong try against her.
        if (!$('check-case').value.trim()) return fail('err_case_required');
        if (!$('check-secret').value.trim()) return fail('err_secret_required');
        const ref = parseToken('reference', $('check-case').value);
        if (!ref) return fail('err_invalid_reference');
        const secret = parseToken('secret', $('check-secret').value);
        if (!secret) return fail('err_invalid_secret');
        if (await loadCase(ref, secret)) {
            $('check-form').reset();
            focusHeading('case-title');
        }
    });
    $('report').addEventListener('click', downloadReport);
    $('report-print').addEventListener('click', printReport);
    $('save-codes').addEventListener('click', saveCodes);
    $('print-codes').addEventListener('click', () => window.print());
    $('withdraw').addEventListener('click', () => {
        $('withdraw-confirm').hidden = false;
        $('withdraw-confirm').scrollIntoView({ block: 'nearest' });
        $('withdraw-save').focus();
    });
    $('withdraw-save').addEventListener('click', async () => {
        if (await downloadReport()) say('report_saved_withdraw');
    });
    $('withdraw-no').addEventListener('click', () => {
        $('withdraw-confirm').hidden = true;
        $('withdraw').focus();
    });
    $('withdraw-yes').addEventListener('click', withdraw);
    $('leave').addEventListener('click', () => {
        forget();
        say('');
        show('intro');
        $('go-check').focus();
    });
    show('intro');
    document.body.dataset.ready = '1';
}

start();
