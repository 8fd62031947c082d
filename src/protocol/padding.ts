/**
 * Request length hiding inside the encryption (docs/protocol.md §3.2): the SDK pads the Binary HTTP request
 * with zero bytes (RFC 9292 §3.8) to a bucket,
 *
 *   len(padded BHTTP request) ∈ { 1024 · 2^k }  (1 KiB, 2 KiB, 4 KiB, …)
 *
 * so observers see only the bucket. The gateway's BHTTP decoder refuses any non-zero padding byte; it does
 * not insist on buckets, since padding protects the client and standard OHTTP clients may not pad.
 */

/** Smallest request bucket. */
export const REQUEST_BUCKET_MIN = 1024;

/** The request bucket for a message of `length` bytes. */
export function requestBucket(length: number): number {
  let bucket = REQUEST_BUCKET_MIN;
  while (bucket < length) bucket *= 2;
  return bucket;
}

/** Pads a message with zero bytes to its bucket. */
export function padToBucket(message: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(requestBucket(message.byteLength));
  out.set(message, 0);
  return out;
}
