/**
 * Response stages after coalescing (docs/protocol.md §5):
 *
 *   events → NDJSON bytes → cut into pieces of (chunk_size − 2) → padChunk → ChunkCipher.seal → SSE text
 *
 * The chunk payloads, concatenated, are a stream of newline-delimited JSON events, so an event of any size
 * spans as many fixed-size chunks as it needs. The batch holding the terminal event is sealed last, with
 * the "final" AAD. If the source ends without a terminal event, an `internal_error` event is added so the
 * client never sees a silent stop.
 */
import { type ChunkCipher, toBase64Url, utf8 } from "../crypto/mod.ts";
import { GatewayError } from "./errors.ts";
import { type ChatEvent, isTerminal } from "./events.ts";
import { padChunk } from "./padding.ts";

/** Default padded chunk size: room for a tick's worth of text with little overhead. */
export const DEFAULT_CHUNK_SIZE = 512;

/** Serialises a batch of events as NDJSON bytes. */
export function encodeEventBatch(events: ChatEvent[]): Uint8Array<ArrayBuffer> {
  return utf8(events.map((e) => JSON.stringify(e) + "\n").join(""));
}

/** Cuts bytes into padded chunk plaintexts. */
export function toPaddedChunks(bytes: Uint8Array, chunkSize: number): Uint8Array<ArrayBuffer>[] {
  const capacity = chunkSize - 2;
  const out: Uint8Array<ArrayBuffer>[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += capacity) {
    out.push(padChunk(bytes.subarray(offset, offset + capacity), chunkSize));
  }
  if (out.length === 0) out.push(padChunk(new Uint8Array(0), chunkSize));
  return out;
}

/** Formats one SSE event (the data is base64url, so it never contains a newline). */
export function sseEvent(name: "nonce" | "chunk" | "final", data: Uint8Array): string {
  return `event: ${name}\ndata: ${toBase64Url(data)}\n\n`;
}

/** Creates the stage that seals event batches into SSE text; the first output is the response nonce. */
export function createSealStream(
  cipher: ChunkCipher,
  responseNonce: Uint8Array,
  chunkSize: number,
): TransformStream<ChatEvent[], string> {
  const sealBatch = async (batch: ChatEvent[], controller: TransformStreamDefaultController<string>) => {
    const final = batch.some(isTerminal);
    const chunks = toPaddedChunks(encodeEventBatch(batch), chunkSize);
    for (let i = 0; i < chunks.length; i++) {
      const last = final && i === chunks.length - 1;
      const sealed = await cipher.seal(chunks[i], last);
      chunks[i].fill(0);
      controller.enqueue(sseEvent(last ? "final" : "chunk", sealed));
    }
  };
  return new TransformStream<ChatEvent[], string>({
    start(controller) {
      controller.enqueue(sseEvent("nonce", responseNonce));
    },
    async transform(batch, controller) {
      if (cipher.finished) return;
      await sealBatch(batch, controller);
    },
    async flush(controller) {
      if (cipher.finished) return;
      const error = new GatewayError("internal_error");
      await sealBatch([{ type: "error", code: error.code, message: error.message }], controller);
    },
  });
}

/**
 * Seals a whole response as one body (`stream: false`): response_nonce ‖ Seal(final, padded NDJSON), the
 * plaintext padded to a power-of-two multiple of the chunk size so its length reveals only a bucket.
 */
export async function sealWholeResponse(
  cipher: ChunkCipher,
  responseNonce: Uint8Array,
  events: ChatEvent[],
  chunkSize: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = encodeEventBatch(events);
  let size = chunkSize;
  while (size - 4 < bytes.byteLength) size *= 2;
  const padded = new Uint8Array(size);
  new DataView(padded.buffer).setUint32(0, bytes.byteLength);
  padded.set(bytes, 4);
  const sealed = await cipher.seal(padded, true);
  padded.fill(0);
  const out = new Uint8Array(responseNonce.byteLength + sealed.byteLength);
  out.set(responseNonce, 0);
  out.set(sealed, responseNonce.byteLength);
  return out;
}
