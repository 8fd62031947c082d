/**
 * Oblivious HTTP encapsulation on both sides: RFC 9458 §4.3–4.4 and draft-ietf-ohai-chunked-ohttp-08 §3–6.
 *
 *   hdr              = key_id(8) ‖ kem_id(16) ‖ kdf_id(16) ‖ aead_id(16)
 *   info             = label ‖ 0x00 ‖ hdr
 *                      label = "message/bhttp request" | "message/bhttp chunked request"
 *   (enc, ctx)       = SetupBaseS(pkR, info)
 *   message/ohttp-req          = hdr ‖ enc ‖ ctx.Seal("", request)
 *   message/ohttp-chunked-req  = hdr ‖ enc ‖ { len(i) = 1.. ‖ ctx.Seal("", chunk) }… ‖ 0(i) ‖ ctx.Seal("final", last)
 *   message/ohttp-res          = response_nonce ‖ Seal(aead_key, aead_nonce, "", response)
 *   message/ohttp-chunked-res  = response_nonce ‖ { len(i) = 1.. ‖ chunk }… ‖ 0(i) ‖ final chunk (to the end)
 *
 * `request`/`response` are Binary HTTP messages (bhttp.ts); response keys and chunk nonces are in
 * crypto/chunk_cipher.ts. (i) is a QUIC varint (varint.ts). A non-final chunk with an empty plaintext is a
 * decryption error (chunked-OHTTP §6). No deviation from the RFC and draft: their appendix examples are
 * tests (tests/unit/ohttp_vectors_test.ts).
 */
import type { RecipientContext, SenderContext } from "@hpke/core";
import {
  ChunkCipher,
  CHUNKED_RESPONSE_LABEL,
  concat,
  createRecipientSuite,
  createSuite,
  isSupportedSuite,
  KDF_HKDF_SHA256,
  kemInfo,
  type KeyRing,
  readUintBE,
  RESPONSE_LABEL,
  responseNonceLength,
  type SuiteIds,
  uintBE,
  utf8,
} from "../crypto/mod.ts";
import { GatewayError } from "./errors.ts";
import { decodeVarint, encodeVarint } from "./varint.ts";

/** Media types (RFC 9458 §9, chunked-OHTTP §8, RFC 9540 §3). */
export const OHTTP_REQUEST_TYPE = "message/ohttp-req";
/** See {@link OHTTP_REQUEST_TYPE}. */
export const OHTTP_RESPONSE_TYPE = "message/ohttp-res";
/** See {@link OHTTP_REQUEST_TYPE}. */
export const OHTTP_CHUNKED_REQUEST_TYPE = "message/ohttp-chunked-req";
/** See {@link OHTTP_REQUEST_TYPE}. */
export const OHTTP_CHUNKED_RESPONSE_TYPE = "message/ohttp-chunked-res";
/** See {@link OHTTP_REQUEST_TYPE}. */
export const OHTTP_KEYS_TYPE = "application/ohttp-keys";
/** RFC 9458 §4.3 `info` label. */
export const REQUEST_LABEL = "message/bhttp request";
/** Chunked-OHTTP §6.1 `info` label. */
export const CHUNKED_REQUEST_LABEL = "message/bhttp chunked request";

const _FINAL = utf8("final");
const _HEADER_LENGTH = 7;
/**
 * Most request chunks the gateway opens. The SDK sends one; a sender splitting a bounded body into
 * thousands of tiny chunks would cost an AEAD open each (~10 µs), so it is refused as undecryptable.
 */
export const MAX_REQUEST_CHUNKS = 64;

/** The clear-text header of an encapsulated request. */
export interface RequestHeader extends SuiteIds {
  keyId: number;
}

/** Encodes `hdr` (RFC 9458 §4.3). */
export function encodeRequestHeader(header: RequestHeader): Uint8Array<ArrayBuffer> {
  return concat(
    uintBE(header.keyId, 1),
    uintBE(header.kemId, 2),
    uintBE(header.kdfId, 2),
    uintBE(header.aeadId, 2),
  );
}

/** HPKE `info` for a request. */
export function requestInfo(chunked: boolean, hdr: Uint8Array): Uint8Array<ArrayBuffer> {
  return concat(utf8(chunked ? CHUNKED_REQUEST_LABEL : REQUEST_LABEL), new Uint8Array([0]), hdr);
}

/** The pieces of an encapsulated request, split without any crypto. */
export interface SplitRequest {
  header: RequestHeader;
  hdr: Uint8Array<ArrayBuffer>;
  enc: Uint8Array<ArrayBuffer>;
  /** Everything after `enc`: one ciphertext, or the chunks of a chunked request. */
  sealed: Uint8Array<ArrayBuffer>;
  chunked: boolean;
}

/**
 * Splits an encapsulated request. A KDF or AEAD this gateway does not offer with a known KEM is
 * `unsupported_suite` (answered as a key configuration problem, RFC 9458 §5.3); an unknown KEM, or a request
 * too short to hold `hdr`, `enc` and one AEAD tag, is `malformed_request`.
 */
export function splitRequest(body: Uint8Array<ArrayBuffer>, chunked: boolean): SplitRequest {
  if (body.byteLength < _HEADER_LENGTH) throw new GatewayError("malformed_request");
  const header: RequestHeader = {
    keyId: body[0],
    kemId: readUintBE(body, 1, 2),
    kdfId: readUintBE(body, 3, 2),
    aeadId: readUintBE(body, 5, 2),
  };
  // An unknown KEM leaves enc's length unknown: the request cannot even be split.
  const kem = kemInfo(header.kemId);
  if (!kem) throw new GatewayError("malformed_request");
  if (!isSupportedSuite(header)) throw new GatewayError("unsupported_suite");
  const encLength = kem.encLength;
  const sealedAt = _HEADER_LENGTH + encLength;
  if (body.byteLength < sealedAt + (chunked ? 1 : 0) + 16) throw new GatewayError("malformed_request");
  return {
    header,
    hdr: body.slice(0, _HEADER_LENGTH),
    enc: body.slice(_HEADER_LENGTH, sealedAt),
    sealed: body.slice(sealedAt),
    chunked,
  };
}

/** A request the gateway has opened. The plaintext is the caller's to wipe once parsed. */
export interface OpenedRequest {
  header: RequestHeader;
  hdr: Uint8Array<ArrayBuffer>;
  enc: Uint8Array<ArrayBuffer>;
  chunked: boolean;
  context: RecipientContext;
  /** The Binary HTTP request (with any padding). */
  plaintext: Uint8Array<ArrayBuffer>;
}

/**
 * Opens a request (gateway side). A key id the ring does not hold for that KEM is `unknown_key_id`; any
 * HPKE or framing failure after that is the single opaque `decryption_failed`.
 */
export async function openRequest(
  ring: KeyRing,
  split: SplitRequest,
  nowSeconds: number,
): Promise<OpenedRequest> {
  const key = ring.lookup(split.header.keyId, nowSeconds);
  if (!key || key.kemId !== split.header.kemId) throw new GatewayError("unknown_key_id");
  try {
    const context = await createRecipientSuite(split.header).createRecipientContext({
      recipientKey: key.pair,
      enc: split.enc.buffer,
      info: requestInfo(split.chunked, split.hdr).buffer,
    });
    const plaintext = split.chunked
      ? await _openChunks(context, split.sealed)
      : new Uint8Array(await context.open(split.sealed.buffer));
    return {
      header: split.header,
      hdr: split.hdr,
      enc: split.enc,
      chunked: split.chunked,
      context,
      plaintext,
    };
  } catch {
    throw new GatewayError("decryption_failed");
  }
}

async function _openChunks(context: RecipientContext, sealed: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (;;) {
    if (parts.length >= MAX_REQUEST_CHUNKS) throw new Error("too many chunks");
    const length = decodeVarint(sealed, offset);
    if (!length) throw new Error("truncated");
    offset = length.next;
    if (length.value === 0) {
      parts.push(new Uint8Array(await context.open(sealed.slice(offset).buffer, _FINAL.buffer)));
      return concat(...parts);
    }
    if (offset + length.value > sealed.byteLength) throw new Error("truncated");
    const chunk = new Uint8Array(await context.open(sealed.slice(offset, offset + length.value).buffer));
    if (chunk.byteLength === 0) throw new Error("empty non-final chunk");
    parts.push(chunk);
    offset += length.value;
  }
}

/** What the client keeps to read the response. */
export interface SealedRequest {
  body: Uint8Array<ArrayBuffer>;
  header: RequestHeader;
  hdr: Uint8Array<ArrayBuffer>;
  enc: Uint8Array<ArrayBuffer>;
  chunked: boolean;
  context: SenderContext;
}

/** Options of {@link sealRequest}. */
export interface SealOptions {
  chunked: boolean;
  aeadId: number;
  /** Sizes of non-final request chunks (the rest is the final chunk); default: everything in the final one. */
  chunkSizes?: number[];
  /** The ephemeral key pair; only tests pass one (RFC 9458 Appendix A, chunked-OHTTP example). */
  ephemeral?: CryptoKeyPair;
}

/**
 * Seals a request to a key (client side). The plaintext is built once `hdr` and `enc` exist, so it can
 * carry a device signature over them (device_proof.ts).
 */
export async function sealRequest(
  key: { keyId: number; kemId: number; publicKey: Uint8Array<ArrayBuffer> },
  plaintext:
    | Uint8Array<ArrayBuffer>
    | ((binding: { hdr: Uint8Array; enc: Uint8Array }) => Promise<Uint8Array<ArrayBuffer>>),
  options: SealOptions,
): Promise<SealedRequest> {
  const header = { keyId: key.keyId, kemId: key.kemId, kdfId: KDF_HKDF_SHA256, aeadId: options.aeadId };
  const suite = createSuite(header);
  const hdr = encodeRequestHeader(header);
  const context = await suite.createSenderContext({
    recipientPublicKey: await suite.kem.deserializePublicKey(key.publicKey.buffer),
    info: requestInfo(options.chunked, hdr).buffer,
    ...(options.ephemeral ? { ekm: options.ephemeral } : {}),
  });
  const enc = new Uint8Array(context.enc);
  const message = typeof plaintext === "function" ? await plaintext({ hdr, enc }) : plaintext;
  const parts: Uint8Array[] = [hdr, enc];
  if (!options.chunked) {
    parts.push(new Uint8Array(await context.seal(message.slice().buffer)));
  } else {
    let offset = 0;
    for (const size of options.chunkSizes ?? []) {
      if (size <= 0) throw new RangeError("Non-final chunks must not be empty");
      const sealed = new Uint8Array(await context.seal(message.slice(offset, offset + size).buffer));
      parts.push(encodeVarint(sealed.byteLength), sealed);
      offset += size;
    }
    parts.push(
      encodeVarint(0),
      new Uint8Array(await context.seal(message.slice(offset).buffer, _FINAL.buffer)),
    );
  }
  if (typeof plaintext === "function") message.fill(0);
  return { body: concat(...parts), header, hdr, enc, chunked: options.chunked, context };
}

/**
 * The response cipher of one request: gateway side with a fresh nonce (tests pass the example's), client
 * side with the nonce read from the response.
 */
export async function responseCipher(
  request: { context: RecipientContext | SenderContext; enc: Uint8Array; header: SuiteIds; chunked: boolean },
  responseNonce?: Uint8Array,
): Promise<{ responseNonce: Uint8Array<ArrayBuffer>; cipher: ChunkCipher }> {
  const length = responseNonceLength(request.header.aeadId);
  const nonce = responseNonce
    ? new Uint8Array(responseNonce)
    : crypto.getRandomValues(new Uint8Array(length));
  if (nonce.byteLength !== length) throw new GatewayError("decryption_failed");
  const label = utf8(request.chunked ? CHUNKED_RESPONSE_LABEL : RESPONSE_LABEL);
  const secret = new Uint8Array(await request.context.export(label.buffer, length));
  const cipher = await ChunkCipher.derive(request.header.aeadId, secret, request.enc, nonce);
  secret.fill(0);
  return { responseNonce: nonce, cipher };
}

/** `message/ohttp-res`: response_nonce ‖ Seal(aead_key, aead_nonce, "", response) (RFC 9458 §4.4). */
export function sealWholeResponse(
  cipher: ChunkCipher,
  responseNonce: Uint8Array,
  response: Uint8Array<ArrayBuffer>,
): Uint8Array<ArrayBuffer> {
  return concat(responseNonce, cipher.seal(response, false));
}

/** Frames one sealed chunk of a chunked response or request (chunked-OHTTP §3–4). */
export function frameChunk(sealed: Uint8Array, final: boolean): Uint8Array<ArrayBuffer> {
  return concat(encodeVarint(final ? 0 : sealed.byteLength), sealed);
}
