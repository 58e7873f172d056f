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

// Incremental MD5 for inputs too big to hold at once (a video is read in
// chunks): update() any number of times, then hex() once.
export class Md5 {
    constructor() {
        this.state = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
        this.m = new Int32Array(16);
        this.buf = new Uint8Array(64); // bytes waiting for a full block
        this.held = 0;
        this.total = 0; // bytes so far (exact up to 2^53)
    }

    block(bytes, off) {
        const m = this.m;
        for (let k = 0; k < 16; k++) {
            const p = off + 4 * k;
            m[k] = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24);
        }
        processBlock(this.state, m);
    }

    update(input) {
        const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
        const n = bytes.length;
        this.total += n;
        let off = 0;
        if (this.held) {
            const take = Math.min(64 - this.held, n);
            this.buf.set(bytes.subarray(0, take), this.held);
            this.held += take;
            off = take;
            if (this.held < 64) return this;
            this.block(this.buf, 0);
            this.held = 0;
        }
        for (; off + 64 <= n; off += 64) this.block(bytes, off);
        if (off < n) {
            this.buf.set(bytes.subarray(off), 0);
            this.held = n - off;
        }
        return this;
    }

    // Padding: 0x80, zeros, then the bit length as 64-bit little-endian.
    hex() {
        const n = this.total;
        const rest = this.held;
        const tail = new Uint8Array(rest < 56 ? 64 : 128);
        tail.set(this.buf.subarray(0, rest));
        tail[rest] = 0x80;
        const dv = new DataView(tail.buffer);
        dv.setUint32(tail.length - 8, (n * 8) >>> 0, true);
        dv.setUint32(tail.length - 4, Math.floor(n / 0x20000000) >>> 0, true);
        for (let p = 0; p < tail.length; p += 64) this.block(tail, p);
        let hex = '';
        for (let k = 0; k < 4; k++) {
            for (let byte = 0; byte < 4; byte++)
                hex += ((this.state[k] >>> (8 * byte)) & 0xff).toString(16).padStart(2, '0');
        }
        return hex;
    }
}

// MD5 of bytes (Uint8Array or ArrayBuffer) as 32 lower-case hex digits.
export function md5Hex(input) {
    return new Md5().update(input).hex();
}
