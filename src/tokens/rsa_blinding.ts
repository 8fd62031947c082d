/**
 * Base blinding of the issuer's private-key operation, as OpenSSL does it (BN_BLINDING): the issuer signs
 * inputs a client chose, so the private-key operation must not run on them directly, or its timing could
 * be correlated with the input across many requests (Kocher; Brumley–Boneh, "Remote timing attacks are
 * practical"). Whatever node:crypto's raw RSA does inside, it only ever sees m · r^e:
 *
 *   m' = m · A mod n,  A = r^e mod n    →  s' = RSASP1(m') = m^d · r    →  s = s' · Ai mod n,  Ai = r^-1 mod n
 *
 * After each use the pair is squared (A², Ai²: two modular products); every {@link _REFRESH_AFTER} uses
 * a fresh random r (one modular inverse, ~1 ms) replaces it. Cost per signature: four 2048-bit modular
 * products in BigInt (bench/tokens_bench.ts).
 */

/** Fresh r after this many squarings (OpenSSL's BN_BLINDING_COUNTER is 32). */
const _REFRESH_AFTER = 32;

/** A blinding pair for one RSA modulus. */
export class RsaBlinding {
  #n: bigint;
  #e: bigint;
  #a = 0n;
  #ai = 0n;
  #uses = _REFRESH_AFTER;

  constructor(modulus: Uint8Array, exponent: bigint) {
    this.#n = _toBigInt(modulus);
    this.#e = exponent;
  }

  /** Blinds `m` (big-endian, < n) and returns it with the function that unblinds the signature. */
  blind(m: Uint8Array, length: number): { blinded: Uint8Array; unblind(s: Uint8Array): Uint8Array } {
    if (this.#uses >= _REFRESH_AFTER) this.#refresh();
    const n = this.#n;
    const a = this.#a;
    const ai = this.#ai;
    this.#a = (a * a) % n;
    this.#ai = (ai * ai) % n;
    this.#uses++;
    return {
      blinded: _toBytes((_toBigInt(m) * a) % n, length),
      unblind: (s) => _toBytes((_toBigInt(s) * ai) % n, length),
    };
  }

  #refresh(): void {
    const n = this.#n;
    const length = Math.ceil(n.toString(16).length / 2);
    let r = 0n;
    let inverse: bigint | undefined;
    while (inverse === undefined) {
      r = _toBigInt(crypto.getRandomValues(new Uint8Array(length))) % n;
      if (r > 1n) inverse = _inverse(r, n);
    }
    this.#a = _modPow(r, this.#e, n);
    this.#ai = inverse;
    this.#uses = 0;
  }
}

function _toBigInt(bytes: Uint8Array): bigint {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex ? BigInt("0x" + hex) : 0n;
}

function _toBytes(value: bigint, length: number): Uint8Array {
  const hex = value.toString(16).padStart(length * 2, "0");
  if (hex.length > length * 2) throw new Error("Cannot encode the integer: it is longer than the modulus");
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function _modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/** r^-1 mod n by the extended Euclidean algorithm; undefined when r and n share a factor. */
function _inverse(r: bigint, n: bigint): bigint | undefined {
  let [oldR, curR] = [r, n];
  let [oldS, curS] = [1n, 0n];
  while (curR !== 0n) {
    const q = oldR / curR;
    [oldR, curR] = [curR, oldR - q * curR];
    [oldS, curS] = [curS, oldS - q * curS];
  }
  if (oldR !== 1n) return undefined;
  return ((oldS % n) + n) % n;
}
