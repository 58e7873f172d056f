// SHA-256 (FIPS 180-4) in plain JavaScript, incremental: the page hashes a
// video's bytes in chunks, and Web Crypto's digest() takes only a whole
// buffer (a 2 GB file cannot be held at once).  Pictures still use Web
// Crypto.  No dependencies; an ES module for browsers, workers and Node.

// The first 32 bits of the fractional parts of the cube roots of the first
// 64 primes (§4.2.2), computed once: the cube root of a small prime in
// double is accurate far beyond the 32 bits kept (checked against the
// standard's test vectors in tests/web/pdq_conformance.mjs).
const K = new Int32Array(64);
const H0 = new Int32Array(8);
{
    const primes = [];
    for (let n = 2; primes.length < 64; n++) if (primes.every((p) => n % p)) primes.push(n);
    const frac = (x) => ((x - Math.floor(x)) * 4294967296) | 0;
    for (let i = 0; i < 64; i++) K[i] = frac(Math.cbrt(primes[i]));
    for (let i = 0; i < 8; i++) H0[i] = frac(Math.sqrt(primes[i]));
}

export class Sha256 {
    constructor() {
        this.h = Int32Array.from(H0);
        this.w = new Int32Array(64);
        this.buf = new Uint8Array(64);
        this.held = 0;
        this.total = 0;
    }

    block(b, off) {
        const w = this.w;
        for (let t = 0; t < 16; t++) {
            const p = off + 4 * t;
            w[t] = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
        }
        for (let t = 16; t < 64; t++) {
            const x = w[t - 15];
            const y = w[t - 2];
            const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
            const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
            w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
        }
        const h = this.h;
        let a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (let t = 0; t < 64; t++) {
            const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
            const ch = (e & f) ^ (~e & g);
            const t1 = (hh + S1 + ch + K[t] + w[t]) | 0;
            const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
            const maj = (a & bb) ^ (a & c) ^ (bb & c);
            const t2 = (S0 + maj) | 0;
            hh = g;
            g = f;
            f = e;
            e = (d + t1) | 0;
            d = c;
            c = bb;
            bb = a;
            a = (t1 + t2) | 0;
        }
        h[0] = (h[0] + a) | 0;
        h[1] = (h[1] + bb) | 0;
        h[2] = (h[2] + c) | 0;
        h[3] = (h[3] + d) | 0;
        h[4] = (h[4] + e) | 0;
        h[5] = (h[5] + f) | 0;
        h[6] = (h[6] + g) | 0;
        h[7] = (h[7] + hh) | 0;
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

    // Padding: 0x80, zeros, then the bit length as 64-bit big-endian.
    hex() {
        const n = this.total;
        const rest = this.held;
        const tail = new Uint8Array(rest < 56 ? 64 : 128);
        tail.set(this.buf.subarray(0, rest));
        tail[rest] = 0x80;
        const dv = new DataView(tail.buffer);
        dv.setUint32(tail.length - 8, Math.floor(n / 0x20000000) >>> 0);
        dv.setUint32(tail.length - 4, (n * 8) >>> 0);
        for (let p = 0; p < tail.length; p += 64) this.block(tail, p);
        let hex = '';
        for (let k = 0; k < 8; k++) hex += (this.h[k] >>> 0).toString(16).padStart(8, '0');
        return hex;
    }
}

// SHA-256 of bytes (Uint8Array or ArrayBuffer) as 64 lower-case hex digits.
export function sha256Hex(input) {
    return new Sha256().update(input).hex();
}
