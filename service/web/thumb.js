// A small picture of a photo or of a video frame, made in this browser for
// the victim's own eyes: beside "picture No. 2" in her case and in the
// report she prints, so that she knows which of her pictures was found.
//
// Privacy: a thumbnail is a JPEG Blob in this tab's memory only.  It is
// never sent (no request body holds one; app.js keeps it outside the
// fingerprints it sends), never written to storage (not localStorage, not
// IndexedDB, not the Cache API), and forgotten when she leaves the case
// screen or withdraws: the page may be open on a shared phone, and an
// intimate picture must not outlive her visit on it.

export const THUMB_SIZE = 96; // CSS pixels of the longer side

// The size source (width x height) takes in a THUMB_SIZE box, never larger
// than it is.
export function thumbSize(width, height) {
    const scale = Math.min(1, THUMB_SIZE / Math.max(width, height, 1));
    return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

// source: anything drawImage takes (an ImageBitmap, a VideoFrame) of
// width x height, drawn as it is displayed.  Resolves to a JPEG Blob, or
// null where this browser has no OffscreenCanvas (then no thumbnail: the
// numbers alone say which picture).
export async function thumbnail(source, width, height) {
    if (typeof OffscreenCanvas === 'undefined' || !width || !height) return null;
    try {
        const size = thumbSize(width, height);
        const canvas = new OffscreenCanvas(size.width, size.height);
        const ctx = canvas.getContext('2d');
        if (!ctx) return null;
        ctx.drawImage(source, 0, 0, size.width, size.height);
        return await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.8 });
    } catch {
        return null;
    }
}

// The same from RGBA pixels (a Uint8ClampedArray of width x height x 4, as
// the page's HEIC decoder gives them), scaled by the browser on the way.
export async function thumbnailOfRgba(data, width, height) {
    if (typeof createImageBitmap === 'undefined' || !width || !height) return null;
    let bitmap = null;
    try {
        const size = thumbSize(width, height);
        bitmap = await createImageBitmap(new ImageData(data, width, height), {
            resizeWidth: size.width,
            resizeHeight: size.height,
            resizeQuality: 'medium',
        });
        return await thumbnail(bitmap, size.width, size.height);
    } catch {
        return null;
    } finally {
        if (bitmap) bitmap.close();
    }
}
