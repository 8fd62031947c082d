/**
 * Oblivious HTTP, client side, on the injectable crypto: the same wire format as src/protocol/ohttp.ts
 * (RFC 9458 §4.3–4.4, draft-ietf-ohai-chunked-ohttp-08 §3–6), repeated here because that file is the
 * gateway's and loads hpke-js. Both are checked against the RFC 9458 and chunked-OHTTP examples.
 *
 *   hdr   = key_id(8) ‖ kem_id(16) ‖ kdf_id(16) ‖ aead_id(16);  info = label ‖ 0x00 ‖ hdr
 *   message/ohttp-req         = hdr ‖ enc ‖ ctx.Seal("", request)
 *   message/ohttp-chunked-req = hdr ‖ enc ‖ 0(i) ‖ ctx.Seal("final", request)   (the SDK sends one chunk)
 *   response keys: secret = ctx.Export(label, max(Nn, Nk)); prk = HKDF-Extract(enc ‖ response_nonce, secret)
 *                  key = HKDF-Expand(prk, "key", Nk); nonce = HKDF-Expand(prk, "nonce", Nn)
 *   chunk i = Open(key, nonce XOR I2OSP(i, Nn), aad = "final" for the last chunk else "", ciphertext)
 */
import { concat, uintBE, utf8 } from "../crypto/bytes.ts";
import { aeadInfo, KDF_HKDF_SHA256 } from "../crypto/suite_ids.ts";
import { encodeVarint } from "../protocol/varint.ts";
import { hkdf, type SenderContext, setupBaseSender, xorCounter } from "./hpke.ts";
import type { ClientCrypto } from "./platform_crypto.ts";

/** RFC 9458 §4.3 and chunked-OHTTP §6.1 `info` labels; RFC 9458 §4.4 and §6.2 exporter labels. */
const _LABELS = {
  request: "message/bhttp request",
  chunkedRequest: "message/bhttp chunked request",
  response: "message/bhttp response",
  chunkedResponse: "message/bhttp chunked response",
};
const _FINAL = utf8("final");
const _EMPTY = new Uint8Array(0);
const _MAX_CHUNKS = 2 ** 32;

/** What the client keeps of one encapsulated request to read its answer. */
export interface SealedRequest {
  body: Uint8Array<ArrayBuffer>;
  header: { keyId: number; kemId: number; kdfId: number; aeadId: number };
  hdr: Uint8Array<ArrayBuffer>;
  enc: Uint8Array<ArrayBuffer>;
  chunked: boolean;
  context: SenderContext;
}

/**
 * A request's encapsulation made before its content exists (`prepareSeal`): the KEM and the HPKE key
 * schedule, ~all of a request's public-key cost. One use only (`sealRequest` takes it), memory only.
 */
export interface PreparedSeal {
  header: SealedRequest["header"];
  hdr: Uint8Array<ArrayBuffer>;
  chunked: boolean;
  publicKey: Uint8Array;
  context: SenderContext;
}

/** Encapsulates to `key` ahead of a request. `ikm` fixes the ephemeral key (vectors and the Hermes bridge only). */
export async function prepareSeal(
  c: ClientCrypto,
  key: { keyId: number; kemId: number; publicKey: Uint8Array },
  options: { chunked: boolean; aeadId: number; ikm?: Uint8Array },
): Promise<PreparedSeal> {
  const header = { keyId: key.keyId, kemId: key.kemId, kdfId: KDF_HKDF_SHA256, aeadId: options.aeadId };
  const hdr = concat(
    uintBE(header.keyId, 1),
    uintBE(header.kemId, 2),
    uintBE(header.kdfId, 2),
    uintBE(header.aeadId, 2),
  );
  const label = options.chunked ? _LABELS.chunkedRequest : _LABELS.request;
  const context = await setupBaseSender(
    c,
    header,
    key.publicKey,
    concat(utf8(label), new Uint8Array([0]), hdr),
    options.ikm,
  );
  return { header, hdr, chunked: options.chunked, publicKey: key.publicKey, context };
}

/**
 * Encapsulates a request. The plaintext is built once `hdr` and `enc` exist, so it can carry a device
 * signature over them. `prepared` (from {@link prepareSeal}, for this very key and mode) skips the
 * encapsulation; anything else is refused rather than sealed to the wrong key.
 */
export async function sealRequest(
  c: ClientCrypto,
  key: { keyId: number; kemId: number; publicKey: Uint8Array },
  plaintext: Uint8Array | ((binding: { hdr: Uint8Array; enc: Uint8Array }) => Promise<Uint8Array>),
  options: { chunked: boolean; aeadId: number; ikm?: Uint8Array; prepared?: PreparedSeal },
): Promise<SealedRequest> {
  const prepared = options.prepared ?? await prepareSeal(c, key, options);
  if (
    prepared.publicKey !== key.publicKey || prepared.chunked !== options.chunked ||
    prepared.header.keyId !== key.keyId || prepared.header.aeadId !== options.aeadId
  ) {
    throw new Error("The prepared encapsulation is for another key or mode");
  }
  const { header, hdr, context } = prepared;
  const message = typeof plaintext === "function" ? await plaintext({ hdr, enc: context.enc }) : plaintext;
  const body = options.chunked
    ? concat(hdr, context.enc, encodeVarint(0), await context.seal(message, _FINAL))
    : concat(hdr, context.enc, await context.seal(message));
  if (typeof plaintext === "function") message.fill(0);
  return { body, header, hdr, enc: context.enc, chunked: options.chunked, context };
}

/** Length of the response nonce and exported secret: max(Nn, Nk). */
export function responseNonceLength(aeadId: number): number {
  const aead = aeadInfo(aeadId);
  if (!aead) throw new RangeError("Unsupported AEAD");
  return Math.max(aead.keyLength, aead.nonceLength);
}

/** Opens the chunks of one response in order. One per request, never shared or stored. */
export interface ResponseOpener {
  open(ciphertext: Uint8Array<ArrayBuffer>, final: boolean): Promise<Uint8Array<ArrayBuffer>>;
}

/** Derives the response keys of a sealed request from the response nonce. */
export async function responseOpener(
  c: ClientCrypto,
  sealed: SealedRequest,
  responseNonce: Uint8Array,
): Promise<ResponseOpener> {
  const aead = aeadInfo(sealed.header.aeadId)!;
  const length = responseNonceLength(sealed.header.aeadId);
  if (responseNonce.byteLength !== length) throw new RangeError("Wrong response nonce length");
  const label = utf8(sealed.chunked ? _LABELS.chunkedResponse : _LABELS.response);
  const secret = await sealed.context.export(label, length);
  const prk = await hkdf.extract(c, concat(sealed.enc, responseNonce), secret);
  const key = await hkdf.expand(c, prk, utf8("key"), aead.keyLength);
  const baseNonce = await hkdf.expand(c, prk, utf8("nonce"), aead.nonceLength);
  secret.fill(0);
  prk.fill(0);
  const cipher = c.aead(sealed.header.aeadId, key);
  let counter = 0;
  let finished = false;
  return {
    open: async (ciphertext, final) => {
      // The counter advances even on failure: a failed chunk poisons the stream.
      if (finished) throw new Error("Response already finished");
      if (counter >= _MAX_CHUNKS) throw new Error("Too many chunks");
      const plaintext = await cipher.open(
        xorCounter(baseNonce, counter++),
        ciphertext,
        final ? _FINAL : _EMPTY,
      );
      if (final) finished = true;
      return plaintext;
    },
  };
}
