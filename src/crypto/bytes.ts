/**
 * Byte helpers shared by the crypto, protocol and client layers. Pure TypeScript on standard APIs only, so
 * the client SDK can run on React Native, browsers and Deno alike.
 */

const _encoder = new TextEncoder();

/** UTF-8 encodes a string. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return _encoder.encode(text);
}

/** Concatenates byte arrays into a fresh buffer. */
export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Compares two byte arrays in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Writes `value` as an unsigned big-endian integer of `size` bytes (network byte order, as in RFC 9180). */
export function uintBE(value: number | bigint, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let v = BigInt(value);
  if (v < 0n || v >= 1n << BigInt(8 * size)) throw new RangeError(`Value does not fit in ${size} bytes`);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Reads an unsigned big-endian integer of up to 6 bytes (safe integer range). */
export function readUintBE(bytes: Uint8Array, offset: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + bytes[offset + i];
  return v;
}

const _alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const _reverse = new Int16Array(128).fill(-1);
for (let i = 0; i < _alphabet.length; i++) _reverse[_alphabet.charCodeAt(i)] = i;

/** Encodes bytes as unpadded base64url (RFC 4648 §5). */
export function toBase64Url(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += _alphabet[n >> 18] + _alphabet[(n >> 12) & 63] + _alphabet[(n >> 6) & 63] + _alphabet[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += _alphabet[n >> 18] + _alphabet[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += _alphabet[n >> 18] + _alphabet[(n >> 12) & 63] + _alphabet[(n >> 6) & 63];
  }
  return out;
}

/**
 * Decodes unpadded base64url strictly: any character outside the alphabet, padding, or non-zero trailing
 * bits makes it return `undefined`, so one ciphertext has exactly one textual form.
 */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? _reverse[c] : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

/** Lower-case hex, used for fingerprints and test vectors. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Decodes lower- or upper-case hex; throws on odd length or a non-hex character. */
export function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError("Invalid hex string");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
