// The PDQ test corpora of the web tests: the vendored subset (tests/data/pdq,
// always there) and the extended corpus (SHARED_DIR/testdata/pdq) when it
// sits beside the checkout; and JPEG copies with a chosen EXIF orientation.
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const VENDORED_PDQ = join(here, '..', 'data', 'pdq');

// The extended corpus folder, or null (then the caller prints "skipped:
// extended corpus not present").  A file the vendored subset lacks is
// looked for, so a partial copy does not count.
export function extendedPdq(sharedDir) {
    if (!sharedDir) return null;
    const dir = join(sharedDir, 'testdata', 'pdq');
    return existsSync(join(dir, 'expected.csv')) && existsSync(join(dir, 'misc-images', 'modes', 'RGBA.png'))
        ? dir
        : null;
}

// A copy of jpeg (a Buffer) whose EXIF orientation tag (IFD0, 0x0112) is
// set to orientation; the file must already have one (Meta's wee.jpg has
// orientation 1 in a big-endian EXIF block).  Only those two bytes change:
// the pixels, and so the reference hash, stay those of the original.
export function withExifOrientation(jpeg, orientation) {
    const out = Buffer.from(jpeg);
    let p = 2;
    while (p + 4 <= out.length && out[p] === 0xff) {
        const marker = out[p + 1];
        const len = out.readUInt16BE(p + 2);
        if (marker === 0xda) break; // start of scan: no more headers
        if (marker === 0xe1 && out.toString('latin1', p + 4, p + 10) === 'Exif\0\0') {
            const tiff = p + 10;
            const le = out.toString('latin1', tiff, tiff + 2) === 'II';
            const u16 = (o) => (le ? out.readUInt16LE(o) : out.readUInt16BE(o));
            const u32 = (o) => (le ? out.readUInt32LE(o) : out.readUInt32BE(o));
            const ifd = tiff + u32(tiff + 4);
            const n = u16(ifd);
            for (let k = 0; k < n; k++) {
                const e = ifd + 2 + 12 * k;
                if (u16(e) === 0x0112) {
                    if (le) out.writeUInt16LE(orientation, e + 8);
                    else out.writeUInt16BE(orientation, e + 8);
                    return out;
                }
            }
        }
        p += 2 + len;
    }
    throw new Error('no EXIF orientation tag to set');
}
