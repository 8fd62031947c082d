/**
 * Sealing and opening requests, and deriving the response cipher, on both sides of protocol v1.
 * Layouts are in request_header.ts and crypto/chunk_cipher.ts; docs/protocol.md has the whole picture.
 */
import type { CipherSuite, RecipientContext, SenderContext } from "@hpke/core";
import {
  ChunkCipher,
  concat,
  type KeyRing,
  RESPONSE_EXPORT_LABEL,
  RESPONSE_NONCE_LENGTH,
} from "../crypto/mod.ts";
import { GatewayError } from "./errors.ts";
import { encodeRequestHeader, type RequestHeader, requestInfo, splitRequest } from "./request_header.ts";

/** What the client keeps to read the response. */
export interface SealedRequest {
  body: Uint8Array<ArrayBuffer>;
  enc: Uint8Array<ArrayBuffer>;
  context: SenderContext;
}

/**
 * Seals a request to a key (client side). The plaintext is built once the header and `enc` exist, so it
 * can carry a device signature over them (device_proof.ts); it must come back padded.
 */
export async function sealRequest(
  suite: CipherSuite,
  key: { keyId: number; publicKey: Uint8Array<ArrayBuffer> },
  plaintext:
    | Uint8Array<ArrayBuffer>
    | ((binding: { headerBytes: Uint8Array; enc: Uint8Array }) => Promise<Uint8Array<ArrayBuffer>>),
  options: { timestamp: number; requestId: Uint8Array<ArrayBuffer> },
): Promise<SealedRequest> {
  const headerBytes = encodeRequestHeader({ keyId: key.keyId, ...options });
  const recipientPublicKey = await suite.kem.deserializePublicKey(key.publicKey.buffer);
  const context = await suite.createSenderContext({ recipientPublicKey, info: requestInfo(headerBytes) });
  const enc = new Uint8Array(context.enc);
  const padded = typeof plaintext === "function" ? await plaintext({ headerBytes, enc }) : plaintext;
  const ciphertext = new Uint8Array(await context.seal(padded.buffer));
  if (typeof plaintext === "function") padded.fill(0);
  return { body: concat(headerBytes, enc, ciphertext), enc, context };
}

/** A request the gateway has opened. The plaintext is the caller's to wipe once parsed. */
export interface OpenedRequest {
  header: RequestHeader;
  /** The exact header bytes (bound into HPKE and into the device proof). */
  headerBytes: Uint8Array<ArrayBuffer>;
  enc: Uint8Array<ArrayBuffer>;
  context: RecipientContext;
  padded: Uint8Array<ArrayBuffer>;
}

/**
 * Opens a request (gateway side) after its header was checked by {@link splitRequest}. Any HPKE failure
 * becomes the single opaque `decryption_failed`.
 */
export async function openRequest(
  suite: CipherSuite,
  ring: KeyRing,
  split: ReturnType<typeof splitRequest>,
  nowSeconds: number,
): Promise<OpenedRequest> {
  const key = ring.lookup(split.header.keyId, nowSeconds);
  if (!key) throw new GatewayError("unknown_key_id");
  try {
    const context = await suite.createRecipientContext({
      recipientKey: key.pair,
      enc: split.enc.buffer,
      info: requestInfo(split.headerBytes),
    });
    const padded = new Uint8Array(await context.open(split.ciphertext.buffer));
    return { header: split.header, headerBytes: split.headerBytes, enc: split.enc, context, padded };
  } catch {
    throw new GatewayError("decryption_failed");
  }
}

/** Gateway side: a fresh response nonce and the cipher for this response's chunks. */
export async function createResponseCipher(
  context: RecipientContext,
  enc: Uint8Array,
): Promise<{ responseNonce: Uint8Array<ArrayBuffer>; cipher: ChunkCipher }> {
  const responseNonce = crypto.getRandomValues(new Uint8Array(RESPONSE_NONCE_LENGTH));
  const secret = new Uint8Array(await context.export(RESPONSE_EXPORT_LABEL.buffer, RESPONSE_NONCE_LENGTH));
  const cipher = await ChunkCipher.derive(secret, enc, responseNonce);
  secret.fill(0);
  return { responseNonce, cipher };
}

/** Client side: the cipher for the response, from the nonce the gateway sent. */
export async function openResponseCipher(
  context: SenderContext,
  enc: Uint8Array,
  responseNonce: Uint8Array,
): Promise<ChunkCipher> {
  if (responseNonce.byteLength !== RESPONSE_NONCE_LENGTH) throw new GatewayError("decryption_failed");
  const secret = new Uint8Array(await context.export(RESPONSE_EXPORT_LABEL.buffer, RESPONSE_NONCE_LENGTH));
  const cipher = await ChunkCipher.derive(secret, enc, responseNonce);
  secret.fill(0);
  return cipher;
}
