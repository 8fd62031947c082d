/**
 * SHA-256 (FIPS 180-4 §6.2) and HMAC-SHA256 (RFC 2104), synchronous, in plain TypeScript.
 *
 *   HMAC(K, m) = SHA-256((K0 ⊕ opad) ‖ SHA-256((K0 ⊕ ipad) ‖ m)),  K0 = K zero-padded to 64 bytes
 *                (K longer than 64 bytes is first hashed)
 *
 * Why not WebCrypto: every HMAC there is two asynchronous operations (importKey, sign), ~20 µs on this
 * machine against ~2 µs here for the short inputs of HKDF; an HPKE key schedule and the response keys take
 * ~10 of them per request (docs/benchmarks.md, "One core"). Only 32-bit integer arithmetic with no
 * data-dependent branches or table lookups, so its timing depends only on input lengths. Checked against
 * WebCrypto and the FIPS 180-4 / RFC 4231 examples (tests/unit/sha256_test.ts).
 */

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
// deno-fmt-ignore
const _K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
// FIPS 180-4 §5.3.3: initial hash value.
// deno-fmt-ignore
const _H0 = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const _BLOCK = 64;
/** Message schedule, reused (single-threaded JavaScript: no call is ever interleaved with another). */
const _W = new Int32Array(64);

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  // Message, 0x80, zeros, 64-bit big-endian bit length: a multiple of 64 bytes.
  const padded = new Uint8Array(Math.ceil((length + 9) / _BLOCK) * _BLOCK);
  let offset = 0;
  for (const part of parts) {
    padded.set(part, offset);
    offset += part.byteLength;
  }
  padded[length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.byteLength - 8, Math.floor(length / 0x20000000));
  view.setUint32(padded.byteLength - 4, (length * 8) >>> 0);
  const h = _H0.slice();
  for (let block = 0; block < padded.byteLength; block += _BLOCK) _compress(h, view, block);
  padded.fill(0);
  _W.fill(0);
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setInt32(i * 4, h[i]);
  return out;
}

const _ipad = new Uint8Array(_BLOCK);
const _opad = new Uint8Array(_BLOCK);

/** HMAC-SHA256(key, data) (RFC 2104). */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array<ArrayBuffer> {
  const k0 = key.byteLength > _BLOCK ? sha256(key) : key;
  _ipad.fill(0x36);
  _opad.fill(0x5c);
  for (let i = 0; i < k0.byteLength; i++) {
    _ipad[i] ^= k0[i];
    _opad[i] ^= k0[i];
  }
  const inner = sha256(_ipad, data);
  const out = sha256(_opad, inner);
  inner.fill(0);
  _ipad.fill(0);
  _opad.fill(0);
  return out;
}

function _compress(h: Int32Array, view: DataView, offset: number): void {
  const w = _W;
  for (let t = 0; t < 16; t++) w[t] = view.getInt32(offset + t * 4);
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15];
    const y = w[t - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
  }
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (k + S1 + ch + _K[t] + w[t]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    k = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0] + a) | 0;
  h[1] = (h[1] + b) | 0;
  h[2] = (h[2] + c) | 0;
  h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0;
  h[5] = (h[5] + f) | 0;
  h[6] = (h[6] + g) | 0;
  h[7] = (h[7] + k) | 0;
}
