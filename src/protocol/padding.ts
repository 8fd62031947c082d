/**
 * Length hiding inside the encryption (docs/protocol.md §4–5).
 *
 *   Padded request = length(32) ‖ payload ‖ zeros,   total ∈ { 1024 · 2^k } (1 KiB, 2 KiB, 4 KiB, …)
 *   Padded chunk   = length(16) ‖ payload ‖ zeros,   total = the fixed chunk size (default 512 bytes)
 *
 * Observers see only the bucket, never the real length. The receiver checks that every padding byte is
 * zero, so padding cannot carry a covert channel and a malformed pad is rejected.
 */
import { readUintBE } from "../crypto/mod.ts";
import { GatewayError } from "./errors.ts";

/** Smallest request bucket. */
export const REQUEST_BUCKET_MIN = 1024;

/** The request bucket for a payload of `length` bytes. */
export function requestBucket(length: number): number {
  let bucket = REQUEST_BUCKET_MIN;
  while (bucket < length + 4) bucket *= 2;
  return bucket;
}

/** Pads a request payload to its bucket. */
export function padRequest(payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(requestBucket(payload.byteLength));
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, 4);
  return out;
}

/** Checks a padded request and returns a view of its payload; throws `invalid_padding` otherwise. */
export function unpadRequest(padded: Uint8Array): Uint8Array {
  const total = padded.byteLength;
  if (total < REQUEST_BUCKET_MIN || (total & (total - 1)) !== 0) throw new GatewayError("invalid_padding");
  const length = readUintBE(padded, 0, 4);
  if (length > total - 4) throw new GatewayError("invalid_padding");
  if (!_allZero(padded, 4 + length)) throw new GatewayError("invalid_padding");
  return padded.subarray(4, 4 + length);
}

/** Pads one chunk payload to exactly `chunkSize` bytes. */
export function padChunk(payload: Uint8Array, chunkSize: number): Uint8Array<ArrayBuffer> {
  if (payload.byteLength > chunkSize - 2) throw new RangeError("Chunk payload exceeds the chunk size");
  const out = new Uint8Array(chunkSize);
  out[0] = payload.byteLength >> 8;
  out[1] = payload.byteLength & 0xff;
  out.set(payload, 2);
  return out;
}

/** Checks a padded chunk and returns its payload; throws on a bad length or non-zero padding. */
export function unpadChunk(padded: Uint8Array): Uint8Array {
  if (padded.byteLength < 2) throw new GatewayError("invalid_padding");
  const length = (padded[0] << 8) | padded[1];
  if (length > padded.byteLength - 2 || !_allZero(padded, 2 + length)) {
    throw new GatewayError("invalid_padding");
  }
  return padded.subarray(2, 2 + length);
}

function _allZero(bytes: Uint8Array, from: number): boolean {
  let acc = 0;
  for (let i = from; i < bytes.byteLength; i++) acc |= bytes[i];
  return acc === 0;
}
