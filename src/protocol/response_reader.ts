/**
 * Client side of the response (docs/protocol.md §5), three layers read incrementally:
 *
 *   message/ohttp-chunked-res = response_nonce ‖ { len(i) = 1.. ‖ sealed }… ‖ 0(i) ‖ sealed_final (to the end)
 *     → chunk plaintexts (opened strictly in order; the final one only once the transport has ended)
 *     → an indeterminate-length Binary HTTP response (status, fields, content chunks, trailers)
 *     → SSE text → chat events
 *
 * Any altered, reordered, duplicated, foreign, empty non-final or missing chunk raises
 * {@link ResponseIntegrityError}; so does a Binary HTTP message that is malformed or does not end in the
 * final chunk. The final chunk ends at the end of the stream, so the terminal event (carried in it) is
 * delivered only once the whole response has authenticated and nothing can follow it.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { concat } from "../crypto/bytes.ts";
import { decodeResponse } from "./bhttp.ts";
import { BhttpResponseDecoder } from "./bhttp_stream.ts";
import { ResponseIntegrityError } from "./response_integrity_error.ts";

export { ResponseIntegrityError };
import type { ChatEvent } from "./events.ts";
import type { ResponseHead } from "./bhttp.ts";
import { decodeVarint } from "./varint.ts";

/**
 * What opens the chunks in order: the gateway's ChunkCipher, or the SDK's opener on its injectable crypto.
 * Only `open` is used, so the reader does not load the gateway's crypto (review of the app SDK, #16).
 */
export interface ChunkCipher {
  open(
    ciphertext: Uint8Array<ArrayBuffer>,
    final: boolean,
  ): Uint8Array<ArrayBuffer> | Promise<Uint8Array<ArrayBuffer>>;
}

/** The final chunk is buffered until the end of the stream; the gateway's is one chunk (≤ 16 KiB). */
const _MAX_FINAL_BYTES = 1 << 20;

/** Opens the chunks of a `message/ohttp-chunked-res` body as they arrive. One instance per response. */
export class ChunkedResponseOpener {
  #nonceLength: number;
  #cipherFor: (nonce: Uint8Array) => Promise<ChunkCipher>;
  #cipher?: ChunkCipher;
  #buffer: Uint8Array = new Uint8Array(0);
  #final?: Uint8Array[];
  #finalBytes = 0;
  #failed = false;

  constructor(nonceLength: number, cipherFor: (nonce: Uint8Array) => Promise<ChunkCipher>) {
    this.#nonceLength = nonceLength;
    this.#cipherFor = cipherFor;
  }

  /** Feeds received bytes; returns the plaintexts of the non-final chunks they complete. */
  async push(bytes: Uint8Array): Promise<Uint8Array[]> {
    return await this.#guard(async () => {
      if (this.#final) {
        this.#finalBytes += bytes.byteLength;
        if (this.#finalBytes > _MAX_FINAL_BYTES) throw new ResponseIntegrityError("malformed");
        this.#final.push(bytes.slice());
        return [];
      }
      this.#buffer = concat(this.#buffer, bytes);
      const out: Uint8Array[] = [];
      if (!this.#cipher) {
        if (this.#buffer.byteLength < this.#nonceLength) return out;
        this.#cipher = await this.#cipherFor(this.#buffer.slice(0, this.#nonceLength));
        this.#buffer = this.#buffer.subarray(this.#nonceLength);
      }
      for (;;) {
        const length = decodeVarint(this.#buffer, 0);
        if (!length) return out;
        if (length.value === 0) {
          this.#final = [this.#buffer.slice(length.next)];
          this.#finalBytes = this.#final[0].byteLength;
          this.#buffer = new Uint8Array(0);
          return out;
        }
        if (length.next + length.value > this.#buffer.byteLength) return out;
        const plaintext = await this.#open(
          this.#buffer.slice(length.next, length.next + length.value),
          false,
        );
        // Chunked-OHTTP §6: an empty non-final chunk is treated as a decryption error.
        if (plaintext.byteLength === 0) throw new ResponseIntegrityError("tampered");
        out.push(plaintext);
        this.#buffer = this.#buffer.subarray(length.next + length.value);
      }
    });
  }

  /** Call when the transport has ended: opens the final chunk; throws if it never came or fails. */
  async end(): Promise<Uint8Array> {
    return await this.#guard(async () => {
      if (!this.#final || !this.#cipher) throw new ResponseIntegrityError("truncated");
      const sealed = concat(new Uint8Array(0), ...this.#final);
      this.#final = undefined;
      return await this.#open(sealed, true);
    });
  }

  async #open(sealed: Uint8Array, final: boolean): Promise<Uint8Array> {
    try {
      return await this.#cipher!.open(new Uint8Array(sealed), final);
    } catch {
      throw new ResponseIntegrityError("tampered");
    }
  }

  async #guard<T>(step: () => Promise<T>): Promise<T> {
    if (this.#failed) throw new ResponseIntegrityError("tampered");
    try {
      return await step();
    } catch (error) {
      this.#failed = true;
      throw error instanceof ResponseIntegrityError ? error : new ResponseIntegrityError("malformed");
    }
  }
}

/** Turns SSE content bytes into chat events. */
export class EventDecoder {
  #decoder = new TextDecoder("utf-8", { fatal: true });
  #events: ChatEvent[] = [];
  #parser = createParser({
    onEvent: (message: EventSourceMessage) => this.#events.push(_parseEvent(message.data)),
  });

  /** Feeds content bytes; returns the events they complete. */
  push(bytes: Uint8Array, last = false): ChatEvent[] {
    let text: string;
    try {
      text = this.#decoder.decode(bytes, { stream: !last });
    } catch {
      throw new ResponseIntegrityError("malformed");
    }
    this.#parser.feed(text);
    return this.#events.splice(0);
  }
}

function _parseEvent(data: string): ChatEvent {
  try {
    const event = JSON.parse(data);
    if (typeof event !== "object" || event === null || typeof event.type !== "string") throw new Error();
    return event as ChatEvent;
  } catch {
    throw new ResponseIntegrityError("malformed");
  }
}

/** Reads one chunked response end to end: bytes in, head and events out. One instance per request. */
export class ResponseReader {
  #opener: ChunkedResponseOpener;
  #message = new BhttpResponseDecoder();
  #events = new EventDecoder();
  #finished = false;
  /**
   * A terminal event (done or error) and anything after it, held until the final chunk authenticates:
   * the gateway's framing can leave the final chunk with padding only, and `done` must never reach the
   * app from a stream whose end was cut (review of protocol v2).
   */
  #held: ChatEvent[] = [];

  constructor(nonceLength: number, cipherFor: (nonce: Uint8Array) => Promise<ChunkCipher>) {
    this.#opener = new ChunkedResponseOpener(nonceLength, cipherFor);
  }

  /** The inner response's status and fields, once read. */
  get head(): ResponseHead | undefined {
    return this.#message.head;
  }

  /** Whether the final chunk has authenticated and the message was complete. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Feeds received bytes; returns the events they complete. */
  async push(bytes: Uint8Array): Promise<ChatEvent[]> {
    const events: ChatEvent[] = [];
    for (const plaintext of await this.#opener.push(bytes)) {
      for (const event of this.#feed(plaintext)) {
        if (this.#held.length > 0 || event.type === "done" || event.type === "error") this.#held.push(event);
        else events.push(event);
      }
    }
    return events;
  }

  /** Call at the end of the transport: opens the final chunk and checks the message ended there. */
  async end(): Promise<ChatEvent[]> {
    const events = [...this.#held.splice(0), ...this.#feed(await this.#opener.end())];
    for (const content of this.#message.end()) events.push(...this.#events.push(content));
    events.push(...this.#events.push(new Uint8Array(0), true));
    this.#finished = true;
    return events;
  }

  #feed(plaintext: Uint8Array): ChatEvent[] {
    return this.#message.push(plaintext).flatMap((content) => this.#events.push(content));
  }
}

/** Reads a whole `message/ohttp-res` body: the known-length Binary HTTP answer and its events. */
export async function readWholeResponse(
  body: Uint8Array,
  nonceLength: number,
  cipherFor: (nonce: Uint8Array) => Promise<ChunkCipher>,
): Promise<{ head: ResponseHead; events: ChatEvent[] }> {
  if (body.byteLength <= nonceLength) throw new ResponseIntegrityError("truncated");
  const cipher = await cipherFor(body.subarray(0, nonceLength));
  let plaintext: Uint8Array;
  try {
    plaintext = await cipher.open(body.slice(nonceLength), false);
  } catch {
    throw new ResponseIntegrityError("tampered");
  }
  let decoded;
  try {
    decoded = decodeResponse(plaintext);
  } catch {
    throw new ResponseIntegrityError("malformed");
  }
  const events = new EventDecoder().push(decoded.message.content, true);
  return { head: { status: decoded.message.status, fields: decoded.message.fields }, events };
}
