// MD5 (RFC 1321) of a byte array, in plain JavaScript, for the browser page:
// partner hash lists identify exact copies by MD5, and Web Crypto does not
// offer it.  MD5 is used only as an identifier of file bytes here, never for
// security.  No dependencies; an ES module for browsers and Node.

// Per-round left-rotation amounts (RFC 1321 §3.4).
const SHIFT = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

// T[i] = floor(2^32 * |sin(i + 1)|), computed once: sin of a double is
// accurate far beyond the 32 bits kept, so this equals the RFC's table.
const T = new Uint32Array(64);
for (let i = 0; i < 64; i++) T[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) >>> 0;

function processBlock(state, m) {
    let a = state[0];
    let b = state[1];
    let c = state[2];
    let d = state[3];
    for (let i = 0; i < 64; i++) {
        let fv;
        let g;
        if (i < 16) {
            fv = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            fv = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            fv = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            fv = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
        const sum = (a + fv + T[i] + m[g]) | 0;
        const s = SHIFT[i];
        const rotated = (sum << s) | (sum >>> (32 - s));
        a = d;
        d = c;
        c = b;
        b = (b + rotated) | 0;
    }
    state[0] = (state[0] + a) | 0;
    state[1] = (state[1] + b) | 0;
    state[2] = (state[2] + c) | 0;
    state[3] = (state[3] + d) | 0;
}

// MD5 of bytes (Uint8Array or ArrayBuffer) as 32 lower-case hex digits.
export function md5Hex(input) {
    const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
    const n = bytes.length;
    const state = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
    const m = new Int32Array(16);
    const word = (p) => bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24);
    let off = 0;
    for (; off + 64 <= n; off += 64) {
        for (let k = 0; k < 16; k++) m[k] = word(off + 4 * k);
        processBlock(state, m);
    }
    // Padding: 0x80, zeros, then the bit length as 64-bit little-endian.
    const rest = n - off;
    const tail = new Uint8Array(rest < 56 ? 64 : 128);
    tail.set(bytes.subarray(off));
    tail[rest] = 0x80;
    const bitsLo = (n * 8) >>> 0;
    const bitsHi = Math.floor(n / 0x20000000) >>> 0;
    const dv = new DataView(tail.buffer);
    dv.setUint32(tail.length - 8, bitsLo, true);
    dv.setUint32(tail.length - 4, bitsHi, true);
    for (let p = 0; p < tail.length; p += 64) {
        for (let k = 0; k < 16; k++) m[k] = dv.getInt32(p + 4 * k, true);
        processBlock(state, m);
    }
    let hex = '';
    for (let k = 0; k < 4; k++) {
        for (let byte = 0; byte < 4; byte++)
            hex += ((state[k] >>> (8 * byte)) & 0xff).toString(16).padStart(2, '0');
    }
    return hex;
}
