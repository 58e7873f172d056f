// PDQ (Meta's 256-bit perceptual hash) in plain JavaScript, bit-exact with
// sitr's C core and Meta's reference (see shared/testdata/pdq/SPEC.md; the §
// numbers below refer to it).  It runs in the victim's browser: images are
// decoded by the browser, turned into RGBA pixels, and only the hashes that
// come out of here ever leave the device.
//
// Exactness: every float operation of the reference is a float32 operation.
// A JavaScript number is a double; a double +, -, * or / of two float32
// values, rounded back to float32 with Math.fround, is exactly the float32
// result (a double has more than twice float32's precision, so the double
// rounding is harmless).  So every arithmetic step below is wrapped in
// fround, buffers are Float32Array, and the order of additions is the
// reference's (running box sums, sequential DCT sums).  Nothing here may be
// "simplified" algebraically: (a*100)/255 is not a*(100/255) in float32.
//
// No dependencies, no build step; an ES module usable in browsers and Node.

const f = Math.fround;

// §3.6: the 16x64 DCT matrix as float32 bit patterns (row i = frequency i+1),
// generated from shared/testdata/pdq/luma/dct-matrix-16x64.csv: 8 hex digits
// per entry, 64 entries per row.
const DCT_HEX = [
    "3e34f6fe3e3487633e33a8723e325ab43e309ef63e2e764c3e2be20a3e28e3c63e257d593e21b0dd3e1d80a83e18ef513e13ffa83e0eb4b93e0911c73e031a4c3df9a3ed3dec794d3ddebcd53dd076ff3dc1b0983db272bd3da2c6d53d92b6893d824bc13d63213d3d411ee43d1ea5703cf7944a3cb145043c5510d43b8e2871bb8e2871bc5510d4bcb14504bcf7944abd1ea570bd411ee4bd63213dbd824bc1bd92b689bda2c6d5bdb272bdbdc1b098bdd076ffbddebcd5bdec794dbdf9a3edbe031a4cbe0911c7be0eb4b9be13ffa8be18ef51be1d80a8be21b0ddbe257d59be28e3c6be2be20abe2e764cbe309ef6be325ab4be33a872be348763be34f6fe",
    "3e34cd213e330f613e2f982b3e2a700c3e23a3b93e1b43f53e1165663e0620613df3215c3dd7aa8b3dba20053d9aca9e3d73ef2f3d2fefbb3cd47d093c0e1d7bbc0e1d7bbcd47d09bd2fefbbbd73ef2fbd9aca9ebdba2005bdd7aa8bbdf3215cbe062061be116566be1b43f5be23a3b9be2a700cbe2f982bbe330f61be34cd21be34cd21be330f61be2f982bbe2a700cbe23a3b9be1b43f5be116566be062061bdf3215cbdd7aa8bbdba2005bd9aca9ebd73ef2fbd2fefbbbcd47d09bc0e1d7b3c0e1d7b3cd47d093d2fefbb3d73ef2f3d9aca9e3dba20053dd7aa8b3df3215c3e0620613e1165663e1b43f53e23a3b93e2a700c3e2f982b3e330f613e34cd21",
    "3e3487633e309ef63e28e3c63e1d80a83e0eb4b93df9a3ed3dd076ff3da2c6d53d63213d3cf7944a3b8e2871bcb14504bd411ee4bd92b689bdc1b098bdec794dbe0911c7be18ef51be257d59be2e764cbe33a872be34f6febe325ab4be2be20abe21b0ddbe13ffa8be031a4cbddebcd5bdb272bdbd824bc1bd1ea570bc5510d43c5510d43d1ea5703d824bc13db272bd3ddebcd53e031a4c3e13ffa83e21b0dd3e2be20a3e325ab43e34f6fe3e33a8723e2e764c3e257d593e18ef513e0911c73dec794d3dc1b0983d92b6893d411ee43cb14504bb8e2871bcf7944abd63213dbda2c6d5bdd076ffbdf9a3edbe0eb4b9be1d80a8be28e3c6be309ef6be348763",
    "3e3425ce3e2d39863e1fa5123e0bee0a3de5acc63daaa9f23d5230453c8df1a9bc8df1a9bd523045bdaaa9f2bde5acc6be0bee0abe1fa512be2d3986be3425cebe3425cebe2d3986be1fa512be0bee0abde5acc6bdaaa9f2bd523045bc8df1a93c8df1a93d5230453daaa9f23de5acc63e0bee0a3e1fa5123e2d39863e3425ce3e3425ce3e2d39863e1fa5123e0bee0a3de5acc63daaa9f23d5230453c8df1a9bc8df1a9bd523045bdaaa9f2bde5acc6be0bee0abe1fa512be2d3986be3425cebe3425cebe2d3986be1fa512be0bee0abde5acc6bdaaa9f2bd523045bc8df1a93c8df1a93d5230453daaa9f23de5acc63e0bee0a3e1fa5123e2d39863e3425ce",
    "3e33a8723e28e3c63e13ffa83dec794d3da2c6d53d1ea570bb8e2871bd411ee4bdb272bdbdf9a3edbe18ef51be2be20abe348763be325ab4be257d59be0eb4b9bddebcd5bd92b689bcf7944a3c5510d43d63213d3dc1b0983e031a4c3e1d80a83e2e764c3e34f6fe3e309ef63e21b0dd3e0911c73dd076ff3d824bc13cb14504bcb14504bd824bc1bdd076ffbe0911c7be21b0ddbe309ef6be34f6febe2e764cbe1d80a8be031a4cbdc1b098bd63213dbc5510d43cf7944a3d92b6893ddebcd53e0eb4b93e257d593e325ab43e3487633e2be20a3e18ef513df9a3ed3db272bd3d411ee43b8e2871bd1ea570bda2c6d5bdec794dbe13ffa8be28e3c6be33a872",
    "3e330f613e23a3b93e0620613dba20053d2fefbbbc0e1d7bbd73ef2fbdd7aa8bbe116566be2a700cbe34cd21be2f982bbe1b43f5bdf3215cbd9aca9ebcd47d093cd47d093d9aca9e3df3215c3e1b43f53e2f982b3e34cd213e2a700c3e1165663dd7aa8b3d73ef2f3c0e1d7bbd2fefbbbdba2005be062061be23a3b9be330f61be330f61be23a3b9be062061bdba2005bd2fefbb3c0e1d7b3d73ef2f3dd7aa8b3e1165663e2a700c3e34cd213e2f982b3e1b43f53df3215c3d9aca9e3cd47d09bcd47d09bd9aca9ebdf3215cbe1b43f5be2f982bbe34cd21be2a700cbe116566bdd7aa8bbd73ef2fbc0e1d7b3d2fefbb3dba20053e0620613e23a3b93e330f61",
    "3e325ab43e1d80a83dec794d3d824bc13b8e2871bd63213dbddebcd5be18ef51be309ef6be33a872be21b0ddbdf9a3edbd92b689bc5510d43d411ee43dd076ff3e13ffa83e2e764c3e3487633e257d593e031a4c3da2c6d53cb14504bd1ea570bdc1b098be0eb4b9be2be20abe34f6febe28e3c6be0911c7bdb272bdbcf7944a3cf7944a3db272bd3e0911c73e28e3c63e34f6fe3e2be20a3e0eb4b93dc1b0983d1ea570bcb14504bda2c6d5be031a4cbe257d59be348763be2e764cbe13ffa8bdd076ffbd411ee43c5510d43d92b6893df9a3ed3e21b0dd3e33a8723e309ef63e18ef513ddebcd53d63213dbb8e2871bd824bc1bdec794dbe1d80a8be325ab4",
    "3e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a853e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a853e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a853e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a85",
    "3e309ef63e0eb4b93da2c6d53b8e2871bd92b689be0911c7be2e764cbe325ab4be13ffa8bdb272bdbc5510d43d824bc13e031a4c3e2be20a3e33a8723e18ef513dc1b0983cb14504bd63213dbdf9a3edbe28e3c6be348763be1d80a8bdd076ffbcf7944a3d411ee43dec794d3e257d593e34f6fe3e21b0dd3ddebcd53d1ea570bd1ea570bddebcd5be21b0ddbe34f6febe257d59bdec794dbd411ee43cf7944a3dd076ff3e1d80a83e3487633e28e3c63df9a3ed3d63213dbcb14504bdc1b098be18ef51be33a872be2be20abe031a4cbd824bc13c5510d43db272bd3e13ffa83e325ab43e2e764c3e0911c73d92b689bb8e2871bda2c6d5be0eb4b9be309ef6",
    "3e2f982b3e0620613d73ef2fbcd47d09bdd7aa8bbe23a3b9be34cd21be1b43f5bdba2005bc0e1d7b3d9aca9e3e1165663e330f613e2a700c3df3215c3d2fefbbbd2fefbbbdf3215cbe2a700cbe330f61be116566bd9aca9e3c0e1d7b3dba20053e1b43f53e34cd213e23a3b93dd7aa8b3cd47d09bd73ef2fbe062061be2f982bbe2f982bbe062061bd73ef2f3cd47d093dd7aa8b3e23a3b93e34cd213e1b43f53dba20053c0e1d7bbd9aca9ebe116566be330f61be2a700cbdf3215cbd2fefbb3d2fefbb3df3215c3e2a700c3e330f613e1165663d9aca9ebc0e1d7bbdba2005be1b43f5be34cd21be23a3b9bdd7aa8bbcd47d093d73ef2f3e0620613e2f982b",
    "3e2e764c3df9a3ed3d1ea570bd63213dbe0911c7be325ab4be28e3c6bddebcd5bcb145043d92b6893e13ffa83e3487633e21b0dd3dc1b0983b8e2871bdb272bdbe1d80a8be34f6febe18ef51bda2c6d53c5510d43dd076ff3e257d593e33a8723e0eb4b93d824bc1bcf7944abdec794dbe2be20abe309ef6be031a4cbd411ee43d411ee43e031a4c3e309ef63e2be20a3dec794d3cf7944abd824bc1be0eb4b9be33a872be257d59bdd076ffbc5510d43da2c6d53e18ef513e34f6fe3e1d80a83db272bdbb8e2871bdc1b098be21b0ddbe348763be13ffa8bd92b6893cb145043ddebcd53e28e3c63e325ab43e0911c73d63213dbd1ea570bdf9a3edbe2e764c",
    "3e2d39863de5acc63c8df1a9bdaaa9f2be1fa512be3425cebe0bee0abd5230453d5230453e0bee0a3e3425ce3e1fa5123daaa9f2bc8df1a9bde5acc6be2d3986be2d3986bde5acc6bc8df1a93daaa9f23e1fa5123e3425ce3e0bee0a3d523045bd523045be0bee0abe3425cebe1fa512bdaaa9f23c8df1a93de5acc63e2d39863e2d39863de5acc63c8df1a9bdaaa9f2be1fa512be3425cebe0bee0abd5230453d5230453e0bee0a3e3425ce3e1fa5123daaa9f2bc8df1a9bde5acc6be2d3986be2d3986bde5acc6bc8df1a93daaa9f23e1fa5123e3425ce3e0bee0a3d523045bd523045be0bee0abe3425cebe1fa512bdaaa9f23c8df1a93de5acc63e2d3986",
    "3e2be20a3dd076ffbb8e2871bddebcd5be2e764cbe28e3c6bdc1b0983c5510d43dec794d3e309ef63e257d593db272bdbcb14504bdf9a3edbe325ab4be21b0ddbda2c6d53cf7944a3e031a4c3e33a8723e1d80a83d92b689bd1ea570be0911c7be348763be18ef51bd824bc13d411ee43e0eb4b93e34f6fe3e13ffa83d63213dbd63213dbe13ffa8be34f6febe0eb4b9bd411ee43d824bc13e18ef513e3487633e0911c73d1ea570bd92b689be1d80a8be33a872be031a4cbcf7944a3da2c6d53e21b0dd3e325ab43df9a3ed3cb14504bdb272bdbe257d59be309ef6bdec794dbc5510d43dc1b0983e28e3c63e2e764c3ddebcd53b8e2871bdd076ffbe2be20a",
    "3e2a700c3dba2005bcd47d09be062061be34cd21be116566bd2fefbb3d9aca9e3e23a3b93e2f982b3dd7aa8bbc0e1d7bbdf3215cbe330f61be1b43f5bd73ef2f3d73ef2f3e1b43f53e330f613df3215c3c0e1d7bbdd7aa8bbe2f982bbe23a3b9bd9aca9e3d2fefbb3e1165663e34cd213e0620613cd47d09bdba2005be2a700cbe2a700cbdba20053cd47d093e0620613e34cd213e1165663d2fefbbbd9aca9ebe23a3b9be2f982bbdd7aa8b3c0e1d7b3df3215c3e330f613e1b43f53d73ef2fbd73ef2fbe1b43f5be330f61bdf3215cbc0e1d7b3dd7aa8b3e2f982b3e23a3b93d9aca9ebd2fefbbbe116566be34cd21be062061bcd47d093dba20053e2a700c",
    "3e28e3c63da2c6d5bd411ee4be18ef51be325ab4bddebcd53c5510d43e031a4c3e34f6fe3e0911c73cb14504bdd076ffbe309ef6be1d80a8bd63213d3d92b6893e257d593e2be20a3db272bdbd1ea570be13ffa8be33a872bdec794d3b8e28713df9a3ed3e3487633e0eb4b93cf7944abdc1b098be2e764cbe21b0ddbd824bc13d824bc13e21b0dd3e2e764c3dc1b098bcf7944abe0eb4b9be348763bdf9a3edbb8e28713dec794d3e33a8723e13ffa83d1ea570bdb272bdbe2be20abe257d59bd92b6893d63213d3e1d80a83e309ef63dd076ffbcb14504be0911c7be34f6febe031a4cbc5510d43ddebcd53e325ab43e18ef513d411ee4bda2c6d5be28e3c6",
    "3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74"
];

const DCT = (() => {
    const m = new Float32Array(16 * 64);
    const dv = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < 16; i++) {
        for (let j = 0; j < 64; j++) {
            dv.setUint32(0, parseInt(DCT_HEX[i].substr(j * 8, 8), 16));
            m[i * 64 + j] = dv.getFloat32(0);
        }
    }
    return m;
})();

// §2.3 luma weights (float32 of 0.299, 0.587, 0.114).
const LUMA_R = f(0.299);
const LUMA_G = f(0.587);
const LUMA_B = f(0.114);

export const PDQ_MIN_SIDE = 5;
export const PDQ_PRESCALE = 512;
export const DIHEDRAL_NAMES = [
    'orig', 'rot90', 'rot180', 'rot270', 'flipx', 'flipy', 'flipplus1', 'flipminus1',
];

const ZERO_HEX = '0'.repeat(64);

// §3.3: one 1-D box pass of window w over n values read from src at
// off + k*stride, written to dst at the same positions.  The running sum is
// the reference's: add the entering value first, then subtract the leaving
// one, divide by the number of covered inputs.
function boxPass(src, dst, off, stride, n, w) {
    const h = (w + 2) >> 1;
    let s = 0;
    let c = 0;
    for (let k = 0; k <= h - 2; k++) {
        s = f(s + src[off + k * stride]);
        c++;
    }
    const back = w - h + 1;
    for (let o = 0; o < n; o++) {
        const a = o + h - 1;
        const r = o - back;
        if (a < n) {
            s = f(s + src[off + a * stride]);
            c++;
        }
        if (r >= 0) {
            s = f(s - src[off + r * stride]);
            c--;
        }
        dst[off + o * stride] = f(s / c);
    }
}

// §3.3: H, V, H, V; the result is back in buf1.
function boxFilter(buf1, buf2, rows, cols) {
    const wr = ((cols + 127) / 128) | 0;
    const wc = ((rows + 127) / 128) | 0;
    for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < rows; i++) boxPass(buf1, buf2, i * cols, 1, cols, wr);
        for (let j = 0; j < cols; j++) boxPass(buf2, buf1, j, cols, rows, wc);
    }
}

// §3.4: 64x64 samples at the cell centres (index computed in double).
function decimate(buf, rows, cols) {
    const out = new Float32Array(64 * 64);
    for (let i = 0; i < 64; i++) {
        const y = Math.floor(((i + 0.5) * rows) / 64);
        for (let j = 0; j < 64; j++) {
            const x = Math.floor(((j + 0.5) * cols) / 64);
            out[i * 64 + j] = buf[y * cols + x];
        }
    }
    return out;
}

// §3.5: quantised gradient sum, vertical pairs first, then horizontal.
export function pdqQuality(a) {
    let total = 0;
    const step = (p, q) => {
        const d = Math.trunc(f(f(f(p - q) * 100) / 255));
        total += Math.abs(d);
    };
    for (let i = 0; i < 63; i++)
        for (let j = 0; j < 64; j++) step(a[i * 64 + j], a[(i + 1) * 64 + j]);
    for (let i = 0; i < 64; i++)
        for (let j = 0; j < 63; j++) step(a[i * 64 + j], a[i * 64 + j + 1]);
    const q = Math.floor(total / 90);
    return q > 100 ? 100 : q;
}

// §3.6: B = D·A·Dᵀ with sequential float32 sums.
export function pdqDct(a) {
    const t = new Float32Array(16 * 64);
    for (let i = 0; i < 16; i++) {
        for (let j = 0; j < 64; j++) {
            let s = 0;
            for (let k = 0; k < 64; k++) s = f(s + f(DCT[i * 64 + k] * a[k * 64 + j]));
            t[i * 64 + j] = s;
        }
    }
    const b = new Float32Array(16 * 16);
    for (let i = 0; i < 16; i++) {
        for (let j = 0; j < 16; j++) {
            let s = 0;
            for (let k = 0; k < 64; k++) s = f(s + f(t[i * 64 + k] * DCT[j * 64 + k]));
            b[i * 16 + j] = s;
        }
    }
    return b;
}

// §3.7 and §3.8: bits above the lower median, as 64 hex digits (word 15
// first, four digits per 16-bit word).
export function pdqThresholdHex(b) {
    const sorted = Float32Array.from(b).sort();
    const median = sorted[127];
    let hex = '';
    for (let i = 15; i >= 0; i--) {
        let word = 0;
        for (let j = 0; j < 16; j++) if (b[i * 16 + j] > median) word |= 1 << j;
        hex += word.toString(16).padStart(4, '0');
    }
    return hex;
}

// §3.9: the eight coefficient permutations/negations of B.
function dihedralB(b) {
    const e = (n) => (n % 2 === 0 ? -1 : 1);
    const sgn = (n) => (n % 2 === 0 ? 1 : -1);
    const out = [];
    for (let v = 0; v < 8; v++) out.push(new Float32Array(256));
    for (let i = 0; i < 16; i++) {
        for (let j = 0; j < 16; j++) {
            const x = b[i * 16 + j];
            out[0][i * 16 + j] = x;
            out[1][j * 16 + i] = e(j) * x;
            out[2][i * 16 + j] = sgn(i + j) * x;
            out[3][j * 16 + i] = e(i) * x;
            out[4][i * 16 + j] = e(i) * x;
            out[5][i * 16 + j] = e(j) * x;
            out[6][j * 16 + i] = x;
            out[7][j * 16 + i] = sgn(i + j) * x;
        }
    }
    return out;
}

// §3.2-3.6 for one input: the 64x64 buffer and the 16x16 DCT.  bypass: the
// plain path's use of an exactly 64x64 input as is.  luma is not modified.
function core(luma, rows, cols, bypass) {
    let b64;
    if (bypass && rows === 64 && cols === 64) {
        b64 = Float32Array.from(luma);
    } else {
        const buf1 = Float32Array.from(luma);
        const buf2 = new Float32Array(rows * cols);
        boxFilter(buf1, buf2, rows, cols);
        b64 = decimate(buf1, rows, cols);
    }
    return { b64, dct: pdqDct(b64) };
}

// The core (§3), as sitr's C core answers it: float32 luma (rows x cols,
// row-major, read only) to {hex, quality, b64, dct} of the plain path and,
// when wanted, dihedral: the eight hashes of the dihedral path (orig first),
// which differs from the plain path only for an exactly 64x64 input (§3.2).
export function pdqFromLuma(luma, rows, cols, wantDihedral = true) {
    if (rows < PDQ_MIN_SIDE || cols < PDQ_MIN_SIDE) {
        return {
            hex: ZERO_HEX,
            quality: 0,
            dihedral: wantDihedral ? DIHEDRAL_NAMES.map(() => ZERO_HEX) : null,
            dihedralQuality: wantDihedral ? 0 : null,
            b64: null,
            dct: null,
        };
    }
    if (!(luma instanceof Float32Array) || luma.length !== rows * cols)
        throw new RangeError('luma must be a Float32Array of rows*cols values');
    const plain = core(luma, rows, cols, true);
    let dihedral = null;
    let dihedralQuality = null;
    if (wantDihedral) {
        const d = rows === 64 && cols === 64 ? core(luma, rows, cols, false) : plain;
        dihedral = dihedralB(d.dct).map(pdqThresholdHex);
        dihedralQuality = pdqQuality(d.b64);
    }
    return {
        hex: pdqThresholdHex(plain.dct),
        quality: pdqQuality(plain.b64),
        dihedral,
        dihedralQuality,
        b64: plain.b64,
        dct: plain.dct,
    };
}

// §2.1 (grey detection), §2.2 (nearest-neighbour pre-scale to 512x512 when a
// side exceeds 512) and §2.3 (luma) from 8-bit RGBA pixels (ImageData.data
// layout).  Alpha is ignored, as in the reference.  The grey path is taken
// when every pixel of the whole image has R = G = B.
export function lumaFromRgba(rgba, width, height) {
    if (rgba.length < width * height * 4) throw new RangeError('pixel buffer too short');
    let grey = true;
    for (let p = 0, n = width * height * 4; p < n; p += 4) {
        if (rgba[p] !== rgba[p + 1] || rgba[p] !== rgba[p + 2]) {
            grey = false;
            break;
        }
    }
    let ow = width;
    let oh = height;
    if (width > PDQ_PRESCALE || height > PDQ_PRESCALE) {
        ow = PDQ_PRESCALE;
        oh = PDQ_PRESCALE;
    }
    const luma = new Float32Array(ow * oh);
    const cols = new Int32Array(ow);
    for (let x = 0; x < ow; x++) cols[x] = Math.floor((x * width) / ow);
    for (let y = 0; y < oh; y++) {
        const sy = Math.floor((y * height) / oh);
        const rowOff = sy * width;
        for (let x = 0; x < ow; x++) {
            const p = (rowOff + cols[x]) * 4;
            if (grey) {
                luma[y * ow + x] = rgba[p];
            } else {
                luma[y * ow + x] = f(
                    f(f(LUMA_R * rgba[p]) + f(LUMA_G * rgba[p + 1])) + f(LUMA_B * rgba[p + 2]),
                );
            }
        }
    }
    return { luma, rows: oh, cols: ow, grey };
}

// The whole front-end and core: RGBA pixels to the hash, its quality and the
// eight dihedral hashes (orig first).
export function pdqFromRgba(rgba, width, height) {
    const { luma, rows, cols } = lumaFromRgba(rgba, width, height);
    const r = pdqFromLuma(luma, rows, cols, true);
    return { pdq: r.hex, quality: r.quality, dihedral: r.dihedral };
}

// Hamming distance of two 64-hex-digit hashes.
export function pdqDistance(a, b) {
    let d = 0;
    for (let k = 0; k < 64; k += 8) {
        let x = (parseInt(a.substr(k, 8), 16) ^ parseInt(b.substr(k, 8), 16)) >>> 0;
        while (x) {
            x &= x - 1;
            d++;
        }
    }
    return d;
}

// §2.1: the reference hashes the stored pixel order and ignores the EXIF
// orientation.  Browsers now apply it when decoding (Chromium treats
// imageOrientation 'none' as 'from-image'), so the page decodes with
// 'from-image', reads the orientation from the file itself, and undoes it.
// Returns 1..8 (1 = as stored) from the first Exif APP1 segment of a JPEG,
// 1 for anything else or anything malformed.
export function jpegExifOrientation(bytes) {
    const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return 1;
    let p = 2;
    while (p + 4 <= b.length) {
        if (b[p] !== 0xff) return 1;
        const marker = b[p + 1];
        if (marker === 0xff) {
            p++;
            continue;
        }
        if (marker === 0xda || marker === 0xd9) return 1; // image data: no more metadata
        const len = (b[p + 2] << 8) | b[p + 3];
        if (len < 2 || p + 2 + len > b.length) return 1;
        const seg = p + 4;
        const end = p + 2 + len;
        if (marker === 0xe1 && end - seg >= 14 && b[seg] === 0x45 && b[seg + 1] === 0x78 &&
            b[seg + 2] === 0x69 && b[seg + 3] === 0x66 && b[seg + 4] === 0 && b[seg + 5] === 0) {
            return tiffOrientation(b, seg + 6, end);
        }
        p = end;
    }
    return 1;
}

function tiffOrientation(b, t, end) {
    const le = b[t] === 0x49 && b[t + 1] === 0x49;
    if (!le && !(b[t] === 0x4d && b[t + 1] === 0x4d)) return 1;
    const u16 = (o) => (o + 2 > end ? -1 : le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1]);
    const u32 = (o) =>
        o + 4 > end ? -1 : le
            ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0
            : ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
    const ifd = u32(t + 4);
    if (ifd < 0 || t + ifd + 2 > end) return 1;
    const n = u16(t + ifd);
    for (let k = 0; k < n; k++) {
        const e = t + ifd + 2 + 12 * k;
        if (e + 12 > end) return 1;
        if (u16(e) === 0x0112 && u16(e + 2) === 3) {
            const v = u16(e + 8);
            return v >= 1 && v <= 8 ? v : 1;
        }
    }
    return 1;
}

// Undoes an EXIF orientation the browser applied: rgba is the displayed
// image (width x height); the result is the stored pixel order.
export function undoOrientation(rgba, width, height, orientation) {
    if (orientation < 2 || orientation > 8) return { data: rgba, width, height };
    const swap = orientation >= 5;
    const sw = swap ? height : width;
    const sh = swap ? width : height;
    const out = new Uint8ClampedArray(sw * sh * 4);
    for (let sy = 0; sy < sh; sy++) {
        for (let sx = 0; sx < sw; sx++) {
            let dx;
            let dy;
            switch (orientation) {
            case 2: dx = sw - 1 - sx; dy = sy; break;
            case 3: dx = sw - 1 - sx; dy = sh - 1 - sy; break;
            case 4: dx = sx; dy = sh - 1 - sy; break;
            case 5: dx = sy; dy = sx; break;
            case 6: dx = sh - 1 - sy; dy = sx; break;
            case 7: dx = sh - 1 - sy; dy = sw - 1 - sx; break;
            default: dx = sy; dy = sw - 1 - sx; break; // 8
            }
            const d = (dy * width + dx) * 4;
            const s = (sy * sw + sx) * 4;
            out[s] = rgba[d];
            out[s + 1] = rgba[d + 1];
            out[s + 2] = rgba[d + 2];
            out[s + 3] = rgba[d + 3];
        }
    }
    return { data: out, width: sw, height: sh };
}
