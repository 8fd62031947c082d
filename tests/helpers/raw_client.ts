/**
 * Test helper: builds encapsulated requests step by step with the protocol functions, so tests can tamper
 * with any byte before sending, and reads raw SSE responses so tests can tamper with chunks.
 */
import { createSuite, type KeyRing, utf8 } from "../../src/crypto/mod.ts";
import {
  openResponseCipher,
  padRequest,
  REQUEST_MEDIA_TYPE,
  ResponseReader,
  type SealedRequest,
  sealRequest,
} from "../../src/protocol/mod.ts";
import type { ChatEvent } from "../../src/protocol/mod.ts";

const suite = createSuite();

/** Options for a raw request. */
export interface RawRequestOptions {
  payload?: Uint8Array<ArrayBuffer>;
  json?: unknown;
  timestamp?: number;
  requestId?: Uint8Array<ArrayBuffer>;
  keyId?: number;
}

/** Seals a request to the gateway's current key. */
export async function sealFor(ring: KeyRing, options: RawRequestOptions = {}): Promise<SealedRequest> {
  const key = ring.keys[0];
  const payload = options.payload ?? padRequest(utf8(JSON.stringify(options.json ?? chat("hello"))));
  return await sealRequest(suite, { keyId: options.keyId ?? key.keyId, publicKey: key.publicKey }, payload, {
    timestamp: options.timestamp ?? Math.floor(Date.now() / 1000),
    requestId: options.requestId ?? crypto.getRandomValues(new Uint8Array(16)),
  });
}

/** A minimal chat request body. */
export function chat(content: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { messages: [{ role: "user", content }], ...extra };
}

/** POSTs raw bytes to /api/chat. */
export function post(
  url: string,
  body: Uint8Array<ArrayBuffer>,
  contentType = REQUEST_MEDIA_TYPE,
): Promise<Response> {
  return fetch(`${url}/api/chat`, { method: "POST", headers: { "content-type": contentType }, body });
}

/** Parses an SSE body into [event, data] pairs. */
export function parseSse(text: string): [string, string][] {
  return text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
    const data = /^data: (.*)$/m.exec(block)?.[1] ?? "";
    return [event, data];
  });
}

/** Reads SSE pairs with the request's keys; throws ResponseIntegrityError on tampering. */
export async function readSse(sealed: SealedRequest, events: [string, string][]): Promise<ChatEvent[]> {
  const reader = new ResponseReader((nonce) => openResponseCipher(sealed.context, sealed.enc, nonce));
  const out: ChatEvent[] = [];
  for (const [name, data] of events) out.push(...await reader.push(name, data));
  reader.end();
  return out;
}

/** Flips one bit of a copy. */
export function flipBit(bytes: Uint8Array<ArrayBuffer>, index: number, bit = 0): Uint8Array<ArrayBuffer> {
  const copy = bytes.slice();
  copy[index] ^= 1 << bit;
  return copy;
}
