/**
 * Client side of the response framing (docs/protocol.md §5): opens chunks strictly in order and turns the
 * NDJSON payload stream back into events. Any altered, reordered, duplicated, foreign or missing chunk
 * raises {@link ResponseIntegrityError}; so does an event after the final chunk or an end before it.
 */
import { type ChunkCipher, fromBase64Url, readUintBE, RESPONSE_NONCE_LENGTH } from "../crypto/mod.ts";
import type { ChatEvent } from "./events.ts";
import { unpadChunk } from "./padding.ts";

/** The response was tampered with, truncated or malformed; nothing from it should be trusted further. */
export class ResponseIntegrityError extends Error {
  constructor(readonly reason: "tampered" | "truncated" | "malformed") {
    super(`Response failed integrity check: ${reason}`);
    this.name = "ResponseIntegrityError";
  }
}

/** Reads one streamed response. One instance per request. */
export class ResponseReader {
  #cipherFor: (nonce: Uint8Array) => Promise<ChunkCipher>;
  #cipher?: ChunkCipher;
  #decoder = new TextDecoder("utf-8", { fatal: true });
  #line = "";
  /** Set only after the chunk claiming to be final has authenticated (review item 7). */
  #finished = false;
  /** Set by any integrity failure: nothing after it is trusted, not even a later "final". */
  #failed = false;

  /** `cipherFor` derives the chunk cipher from the response nonce (see envelope.openResponseCipher). */
  constructor(cipherFor: (nonce: Uint8Array) => Promise<ChunkCipher>) {
    this.#cipherFor = cipherFor;
  }

  /** Whether the final chunk was read. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Feeds one SSE event; returns the chat events it completes. */
  async push(eventName: string, data: string): Promise<ChatEvent[]> {
    if (this.#failed) throw new ResponseIntegrityError("tampered");
    try {
      return await this.#push(eventName, data);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
  }

  async #push(eventName: string, data: string): Promise<ChatEvent[]> {
    const bytes = fromBase64Url(data);
    if (!bytes) throw new ResponseIntegrityError("malformed");
    if (eventName === "nonce") {
      if (this.#cipher || bytes.byteLength !== RESPONSE_NONCE_LENGTH) {
        throw new ResponseIntegrityError("tampered");
      }
      this.#cipher = await this.#cipherFor(bytes);
      return [];
    }
    if (eventName !== "chunk" && eventName !== "final") throw new ResponseIntegrityError("malformed");
    if (!this.#cipher || this.#finished) throw new ResponseIntegrityError("tampered");
    const final = eventName === "final";
    let plaintext: Uint8Array;
    try {
      plaintext = unpadChunk(await this.#cipher.open(bytes, final));
    } catch {
      throw new ResponseIntegrityError("tampered");
    }
    const events = this.#decodeLines(plaintext, final);
    if (final) this.#finished = true;
    return events;
  }

  /** Call when the transport ends: throws if the final chunk never came (or never authenticated). */
  end(): void {
    if (!this.#finished || this.#failed) throw new ResponseIntegrityError("truncated");
  }

  #decodeLines(bytes: Uint8Array, last: boolean): ChatEvent[] {
    try {
      this.#line += this.#decoder.decode(bytes, { stream: !last });
    } catch {
      throw new ResponseIntegrityError("malformed");
    }
    const lines = this.#line.split("\n");
    this.#line = lines.pop() ?? "";
    if (last && this.#line !== "") throw new ResponseIntegrityError("malformed");
    return lines.map(_parseEvent);
  }
}

/** Opens a whole sealed response body (`stream: false`). */
export async function readWholeResponse(
  body: Uint8Array<ArrayBuffer>,
  cipherFor: (nonce: Uint8Array) => Promise<ChunkCipher>,
): Promise<ChatEvent[]> {
  if (body.byteLength <= RESPONSE_NONCE_LENGTH) throw new ResponseIntegrityError("truncated");
  const cipher = await cipherFor(body.subarray(0, RESPONSE_NONCE_LENGTH));
  let padded: Uint8Array;
  try {
    padded = await cipher.open(body.slice(RESPONSE_NONCE_LENGTH), true);
  } catch {
    throw new ResponseIntegrityError("tampered");
  }
  const length = readUintBE(padded, 0, 4);
  if (length > padded.byteLength - 4 || padded.subarray(4 + length).some((b) => b !== 0)) {
    throw new ResponseIntegrityError("malformed");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(padded.subarray(4, 4 + length));
  } catch {
    throw new ResponseIntegrityError("malformed");
  }
  return text.split("\n").filter((l) => l !== "").map(_parseEvent);
}

function _parseEvent(line: string): ChatEvent {
  try {
    const event = JSON.parse(line);
    if (typeof event !== "object" || event === null || typeof event.type !== "string") throw new Error();
    return event as ChatEvent;
  } catch {
    throw new ResponseIntegrityError("malformed");
  }
}
