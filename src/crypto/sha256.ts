/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), synchronous, from @noble/hashes (audited, constant-time
 * for equal input lengths, already the SDK's pure-JS hash).
 *
 * Why not WebCrypto here: every HMAC there is two asynchronous operations (importKey, sign), ~20 µs on this
 * machine against ~3 µs synchronously for the short inputs of HKDF; an HPKE key schedule and the response
 * keys take ~10 of them per request (docs/benchmarks.md, "One core"). Measured on one core, 100,000 HMACs
 * of an 80-byte message: @noble/hashes 3.1–3.3 µs each, a hand-written version 3.0–3.1 µs: the library,
 * since nothing is gained by keeping our own. Checked against the FIPS 180-4 / RFC 4231 examples and
 * WebCrypto (tests/unit/sha256_test.ts).
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 as _sha256 } from "@noble/hashes/sha2.js";

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const hash = _sha256.create();
  for (const part of parts) hash.update(part);
  return hash.digest() as Uint8Array<ArrayBuffer>;
}

/** HMAC-SHA256(key, data) (RFC 2104). */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array<ArrayBuffer> {
  return hmac(_sha256, key, data) as Uint8Array<ArrayBuffer>;
}
