/**
 * HKDF-SHA256 (RFC 5869) on WebCrypto HMAC. Written here rather than taken from hpke-js because its
 * `extract` refuses salts that are not exactly hash-sized, while RFC 9458 §4.4 uses `enc ‖ response_nonce`
 * (64 bytes) as the salt.
 */

const _HASH_LENGTH = 32;

async function _hmac(
  key: Uint8Array<ArrayBuffer>,
  data: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
}

/** HKDF-Extract(salt, ikm) = HMAC-SHA256(salt, ikm). */
export function hkdfExtract(
  salt: Uint8Array<ArrayBuffer>,
  ikm: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return _hmac(salt.byteLength === 0 ? new Uint8Array(_HASH_LENGTH) : salt, ikm);
}

/** HKDF-Expand(prk, info, length) for length ≤ 255 · 32. */
export async function hkdfExpand(
  prk: Uint8Array<ArrayBuffer>,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (length > 255 * _HASH_LENGTH) throw new RangeError("HKDF-Expand length too large");
  const out = new Uint8Array(length);
  let previous = new Uint8Array(0);
  for (let i = 1, offset = 0; offset < length; i++) {
    const input = new Uint8Array(previous.byteLength + info.byteLength + 1);
    input.set(previous, 0);
    input.set(info, previous.byteLength);
    input[input.byteLength - 1] = i;
    previous = await _hmac(prk, input);
    const take = Math.min(previous.byteLength, length - offset);
    out.set(previous.subarray(0, take), offset);
    offset += take;
  }
  return out;
}
