/**
 * QUIC variable-length integers (RFC 9000 §16), used by Binary HTTP (RFC 9292 §3) and by the chunk
 * framing of chunked OHTTP (draft-ietf-ohai-chunked-ohttp-08 §3–4):
 *
 *   2-bit length prefix 00 / 01 / 10 / 11 → 1 / 2 / 4 / 8 bytes, value in the remaining 6 / 14 / 30 / 62 bits
 *
 * Encoding is minimal; decoding accepts any length (RFC 9000 allows non-minimal encodings).
 */

/** Largest value encodable here: JavaScript numbers are exact up to 2^53 − 1. */
const _MAX = Number.MAX_SAFE_INTEGER;

/** Encodes `value` in the fewest bytes. */
export function encodeVarint(value: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(value) || value < 0 || value > _MAX) throw new RangeError("Varint out of range");
  if (value < 0x40) return new Uint8Array([value]);
  if (value < 0x4000) return new Uint8Array([0x40 | (value >> 8), value & 0xff]);
  if (value < 0x40000000) {
    return new Uint8Array([0x80 | (value >>> 24), (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]);
  }
  const out = new Uint8Array(8);
  let v = BigInt(value);
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] |= 0xc0;
  return out;
}

/** Encoded length of a varint starting with `first`. */
export function varintLength(first: number): number {
  return 1 << (first >> 6);
}

/**
 * Decodes the varint at `offset`; `undefined` when the bytes end first. Values above 2^53 − 1 throw (no
 * length in this protocol comes near that).
 */
export function decodeVarint(bytes: Uint8Array, offset: number): { value: number; next: number } | undefined {
  if (offset >= bytes.byteLength) return undefined;
  const length = varintLength(bytes[offset]);
  if (offset + length > bytes.byteLength) return undefined;
  let value = bytes[offset] & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + bytes[offset + i];
  if (value > _MAX) throw new RangeError("Varint too large");
  return { value, next: offset + length };
}
