/**
 * Test helper: builds encapsulated requests step by step with the protocol functions, so tests can tamper
 * with any byte before sending, and splits raw `message/ohttp-chunked-res` bodies into chunks so tests can
 * tamper with those.
 */
import { KEM_X25519, type KeyRing, responseNonceLength } from "../../src/crypto/mod.ts";
import { AEAD_CHACHA20_POLY1305, AEAD_TAG_LENGTH, concat } from "../../src/crypto/mod.ts";
import {
  type ChatEvent,
  decodeVarint,
  encodeChatRequest,
  encodeVarint,
  jsonBody,
  OHTTP_CHUNKED_REQUEST_TYPE,
  OHTTP_REQUEST_TYPE,
  readWholeResponse,
  responseCipher,
  type ResponseHead,
  ResponseReader,
  type SealedRequest,
  sealRequest,
} from "../../src/protocol/mod.ts";

/** Options for a raw request. */
export interface RawRequestOptions {
  /** The whole Binary HTTP plaintext (overrides json and date). */
  message?: Uint8Array<ArrayBuffer>;
  json?: unknown;
  /** The `date` field in Unix seconds (default now). */
  date?: number;
  keyId?: number;
  kemId?: number;
  aeadId?: number;
  /** Chunked OHTTP (the default) or plain RFC 9458. */
  chunked?: boolean;
}

/** Seals a request to the gateway's first key of the KEM (X25519 by default). */
export async function sealFor(ring: KeyRing, options: RawRequestOptions = {}): Promise<SealedRequest> {
  const kemId = options.kemId ?? KEM_X25519;
  const key = ring.keys.find((k) => k.kemId === kemId)!;
  const message = options.message ??
    encodeChatRequest(jsonBody(options.json ?? chat("hello")), {
      nowSeconds: options.date ?? Date.now() / 1000,
    });
  return await sealRequest(
    { keyId: options.keyId ?? key.keyId, kemId, publicKey: key.publicKey },
    message,
    { chunked: options.chunked ?? true, aeadId: options.aeadId ?? AEAD_CHACHA20_POLY1305 },
  );
}

/** A minimal chat request body. */
export function chat(content: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { messages: [{ role: "user", content }], ...extra };
}

/** POSTs raw bytes to /api/chat (chunked OHTTP media type by default). */
export function post(
  url: string,
  body: Uint8Array<ArrayBuffer>,
  contentType = OHTTP_CHUNKED_REQUEST_TYPE,
): Promise<Response> {
  return fetch(`${url}/api/chat`, { method: "POST", headers: { "content-type": contentType }, body });
}

/** POSTs a sealed request with the media type that matches it. */
export function postSealed(url: string, sealed: SealedRequest): Promise<Response> {
  return post(url, sealed.body, sealed.chunked ? OHTTP_CHUNKED_REQUEST_TYPE : OHTTP_REQUEST_TYPE);
}

/** One chunk of a chunked response as it was on the wire. */
export interface WireChunk {
  sealed: Uint8Array<ArrayBuffer>;
  final: boolean;
}

/** Splits a `message/ohttp-chunked-res` body into its nonce and chunks (no crypto). */
export function splitChunks(body: Uint8Array, aeadId = AEAD_CHACHA20_POLY1305): {
  nonce: Uint8Array<ArrayBuffer>;
  chunks: WireChunk[];
} {
  const nonceLength = responseNonceLength(aeadId);
  const chunks: WireChunk[] = [];
  let offset = nonceLength;
  while (offset < body.byteLength) {
    const length = decodeVarint(body, offset)!;
    if (length.value === 0) {
      chunks.push({ sealed: body.slice(length.next), final: true });
      break;
    }
    chunks.push({ sealed: body.slice(length.next, length.next + length.value), final: false });
    offset = length.next + length.value;
  }
  return { nonce: body.slice(0, nonceLength), chunks };
}

/** Joins a nonce and chunks back into a body, each framed as its `final` flag says. */
export function joinChunks(nonce: Uint8Array, chunks: WireChunk[]): Uint8Array<ArrayBuffer> {
  return concat(nonce, ...chunks.flatMap((c) => [encodeVarint(c.final ? 0 : c.sealed.byteLength), c.sealed]));
}

/** Reads a response body with the request's keys, as the SDK does; throws ResponseIntegrityError. */
export async function readAnswer(
  sealed: SealedRequest,
  body: Uint8Array,
  pieces = 1,
): Promise<{ head: ResponseHead; events: ChatEvent[] }> {
  const nonceLength = responseNonceLength(sealed.header.aeadId);
  const cipherFor = async (nonce: Uint8Array) => (await responseCipher(sealed, nonce)).cipher;
  if (!sealed.chunked) return await readWholeResponse(body, nonceLength, cipherFor);
  const reader = new ResponseReader(nonceLength, cipherFor);
  const events: ChatEvent[] = [];
  const step = Math.ceil(body.byteLength / pieces);
  for (let i = 0; i < body.byteLength; i += step) events.push(...await reader.push(body.slice(i, i + step)));
  events.push(...await reader.end());
  return { head: reader.head!, events };
}

/** Flips one bit of a copy. */
export function flipBit(bytes: Uint8Array<ArrayBuffer>, index: number, bit = 0): Uint8Array<ArrayBuffer> {
  const copy = bytes.slice();
  copy[index] ^= 1 << bit;
  return copy;
}

/** Bytes a sealed chunk adds to its plaintext. */
export const TAG_LENGTH = AEAD_TAG_LENGTH;
