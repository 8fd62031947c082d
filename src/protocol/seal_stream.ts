/**
 * Response stages after coalescing (docs/protocol.md §5). The plaintext of a chunked OHTTP response is one
 * indeterminate-length Binary HTTP response (RFC 9292 §3.2) whose content is a `text/event-stream`; it is
 * cut so that every chunk's plaintext is exactly `chunk_size` bytes:
 *
 *   first chunk  = Head ‖ ContentChunk            Head = 3 ‖ status(i) ‖ Field… ‖ 0
 *   other chunks = ContentChunk
 *   final chunk  = ContentChunk ‖ 0 ‖ 0            (end of content, empty trailer section)
 *   ContentChunk = L(i, always 2 bytes) ‖ SSE text ‖ SSE padding,  L = what fills the chunk exactly
 *   SSE padding  = "" | "\n" | ":" ‖ " "… ‖ "\n"   (a blank line or a comment: ignored by SSE parsers)
 *
 * Each tick's batch of events starts at an SSE line start and is padded at its end, so padding never falls
 * inside an event; a batch longer than one chunk spans several. The batch holding the terminal event is
 * sealed last, with the "final" AAD (chunk_cipher.ts). If the source ends without a terminal event, an
 * `internal_error` event is added so the client never sees a silent stop. Every chunk has the same size,
 * so no chunk is ever empty (chunked-OHTTP §6) and sizes reveal only the number of chunks.
 */
import { type ChunkCipher, concat, utf8 } from "../crypto/mod.ts";
import { encodeFields, encodeResponse, type ResponseHead } from "./bhttp.ts";
import { GatewayError } from "./errors.ts";
import { type ChatEvent, isTerminal } from "./events.ts";
import { frameChunk } from "./ohttp.ts";
import { encodeVarint } from "./varint.ts";

const _NONE = new Uint8Array(0);

/** Default padded chunk size: room for a tick's worth of text with little overhead. */
export const DEFAULT_CHUNK_SIZE = 512;
/** Media type of the inner response's content. */
export const EVENT_STREAM_TYPE = "text/event-stream";

export type { ResponseHead };

/** Serialises a batch of events as SSE text: one `data:` line per event. */
export function encodeEventBatch(events: ChatEvent[]): Uint8Array<ArrayBuffer> {
  return utf8(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(""));
}

/** `length` bytes that an SSE parser ignores at a line start. */
export function ssePadding(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(Math.max(0, length));
  _writePadding(out, 0, out.byteLength);
  return out;
}

/** Writes {@link ssePadding}'s bytes into `out` at `at`: "" | "\n" | ":" ‖ " "… ‖ "\n". */
function _writePadding(out: Uint8Array, at: number, length: number): void {
  if (length <= 0) return;
  if (length > 1) {
    out[at] = 0x3a;
    out.fill(0x20, at + 1, at + length - 1);
  }
  out[at + length - 1] = 0x0a;
}

/** The Binary HTTP head of a streamed response. */
export function encodeStreamHead(head: ResponseHead): Uint8Array<ArrayBuffer> {
  return concat(encodeVarint(3), encodeVarint(head.status), encodeFields(head.fields, true));
}

/**
 * Cuts one batch's SSE text into chunk plaintexts of exactly `chunkSize` bytes. `head` goes first in the
 * first chunk of the response; `final` closes the content and the trailer section in the last one. Each
 * chunk is one buffer written in place (a chunk per tick per stream: no intermediate copies).
 */
export function framePlaintexts(
  text: Uint8Array,
  head: Uint8Array | undefined,
  final: boolean,
  chunkSize: number,
): Uint8Array<ArrayBuffer>[] {
  const out: Uint8Array<ArrayBuffer>[] = [];
  let offset = 0;
  for (;;) {
    const prefix = out.length === 0 && head ? head : _NONE;
    const rest = text.byteLength - offset;
    const lastCapacity = chunkSize - prefix.byteLength - 2 - (final ? 2 : 0);
    if (lastCapacity < 2) throw new RangeError("Chunk size too small for the response head");
    const last = rest <= lastCapacity;
    // ContentChunk's data (text, then padding at a line start) fills the chunk: the last one leaves room
    // for the end of content and the empty trailer section (two zero bytes) when `final`.
    const capacity = last ? lastCapacity : chunkSize - prefix.byteLength - 2;
    if (capacity >= 0x4000) throw new RangeError("Content chunk out of range");
    const take = Math.min(rest, capacity);
    const chunk = new Uint8Array(chunkSize);
    chunk.set(prefix);
    let at = prefix.byteLength;
    // L(i) always in two bytes, so the chunk's layout does not depend on how much text it carries.
    chunk[at++] = 0x40 | (capacity >> 8);
    chunk[at++] = capacity & 0xff;
    chunk.set(text.subarray(offset, offset + take), at);
    _writePadding(chunk, at + take, capacity - take);
    out.push(chunk);
    if (last) return out;
    offset += take;
  }
}

/**
 * Creates the stage that seals event batches into `message/ohttp-chunked-res` bytes; the first output is
 * the response nonce.
 */
export function createSealStream(
  cipher: ChunkCipher,
  responseNonce: Uint8Array,
  chunkSize: number,
  head: ResponseHead,
): TransformStream<ChatEvent[], Uint8Array> {
  let pendingHead: Uint8Array | undefined = encodeStreamHead(head);
  const sealBatch = (batch: ChatEvent[], controller: TransformStreamDefaultController<Uint8Array>) => {
    const final = batch.some(isTerminal);
    const text = encodeEventBatch(batch);
    const plaintexts = framePlaintexts(text, pendingHead, final, chunkSize);
    text.fill(0);
    pendingHead = undefined;
    for (let i = 0; i < plaintexts.length; i++) {
      const last = final && i === plaintexts.length - 1;
      const sealed = cipher.seal(plaintexts[i], last);
      plaintexts[i].fill(0);
      controller.enqueue(frameChunk(sealed, last));
    }
  };
  return new TransformStream<ChatEvent[], Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(responseNonce));
    },
    transform(batch, controller) {
      if (cipher.finished) return;
      sealBatch(batch, controller);
    },
    flush(controller) {
      if (cipher.finished) return;
      const error = new GatewayError("internal_error");
      sealBatch([{ type: "error", code: error.code, message: error.message }], controller);
    },
  });
}

/**
 * The plaintext of a whole (`message/ohttp-res`) answer: a known-length Binary HTTP response whose SSE
 * content is padded with zero bytes (RFC 9292 §3.8) to `chunkSize · 2^k`, so its length reveals a bucket.
 */
export function encodeWholeAnswer(
  head: ResponseHead,
  events: ChatEvent[],
  chunkSize: number,
): Uint8Array<ArrayBuffer> {
  const message = encodeResponse({
    informational: [],
    status: head.status,
    fields: head.fields,
    content: encodeEventBatch(events),
    trailers: [],
  });
  let size = chunkSize;
  while (size < message.byteLength) size *= 2;
  const out = new Uint8Array(size);
  out.set(message, 0);
  message.fill(0);
  return out;
}
