/**
 * HKDF-SHA256 (RFC 5869). Written here rather than taken from hpke-js because its `extract` refuses salts
 * that are not exactly hash-sized, while RFC 9458 §4.4 uses `enc ‖ response_nonce` (64 bytes) as the salt.
 * HMAC is sha256.ts's synchronous one: each WebCrypto HMAC cost ~20 µs in two asynchronous operations, and
 * every request derives its response keys with four of them (docs/benchmarks.md, "One core").
 */
import { hmacSha256 } from "./sha256.ts";

const _HASH_LENGTH = 32;

/** HKDF-Extract(salt, ikm) = HMAC-SHA256(salt, ikm). */
export function hkdfExtract(
  salt: Uint8Array<ArrayBuffer>,
  ikm: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return Promise.resolve(hmacSha256(salt.byteLength === 0 ? new Uint8Array(_HASH_LENGTH) : salt, ikm));
}

/** HKDF-Expand(prk, info, length) for length ≤ 255 · 32. */
export function hkdfExpand(
  prk: Uint8Array<ArrayBuffer>,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (length > 255 * _HASH_LENGTH) return Promise.reject(new RangeError("HKDF-Expand length too large"));
  const out = new Uint8Array(length);
  let previous = new Uint8Array(0);
  for (let i = 1, offset = 0; offset < length; i++) {
    const input = new Uint8Array(previous.byteLength + info.byteLength + 1);
    input.set(previous, 0);
    input.set(info, previous.byteLength);
    input[input.byteLength - 1] = i;
    previous = hmacSha256(prk, input);
    const take = Math.min(previous.byteLength, length - offset);
    out.set(previous.subarray(0, take), offset);
    offset += take;
  }
  return Promise.resolve(out);
}
