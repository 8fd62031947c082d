/**
 * Response encryption, keyed exactly as RFC 9458 §4.4 and framed as draft-ietf-ohai-chunked-ohttp-08 §6.2:
 *
 *   secret         = context.Export(label, max(Nn, Nk))
 *                    label = "message/bhttp response" (RFC 9458) or "message/bhttp chunked response" (chunked)
 *   response_nonce = random(max(Nn, Nk))
 *   prk            = HKDF-Extract(salt = enc ‖ response_nonce, ikm = secret)
 *   aead_key       = HKDF-Expand(prk, "key", Nk);  aead_nonce = HKDF-Expand(prk, "nonce", Nn)
 *   chunk i        = Seal(aead_key, aead_nonce XOR I2OSP(i, Nn), aad, plaintext_i)
 *                    aad = "" for every chunk but the last of a chunked response, whose aad is "final"
 *
 * A non-chunked RFC 9458 response is chunk 0 sealed with the empty aad. The counter makes reordering,
 * duplication and dropping detectable; the "final" AAD makes truncation detectable; keys derived from this
 * request's HPKE context make splicing from another response fail.
 */
import { concat, utf8 } from "./bytes.ts";
import { hkdfExpand, hkdfExtract } from "./hkdf.ts";
import { NativeAead, type NativeAeadContext } from "./native_aead.ts";
import { aeadInfo } from "./suite_ids.ts";

/** RFC 9458 §4.4 exporter label. */
export const RESPONSE_LABEL = "message/bhttp response";
/** draft-ietf-ohai-chunked-ohttp-08 §6.2 exporter label. */
export const CHUNKED_RESPONSE_LABEL = "message/bhttp chunked response";
const _FINAL_AAD = utf8("final");
const _EMPTY = new Uint8Array(0);
/** The counter must not wrap the nonce; 2^32 chunks is far beyond any answer. */
const _MAX_CHUNKS = 2 ** 32;

/** Length of the response nonce and of the exported secret for an AEAD: max(Nn, Nk). */
export function responseNonceLength(aeadId: number): number {
  const aead = aeadInfo(aeadId);
  if (!aead) throw new RangeError("Unsupported AEAD");
  return Math.max(aead.keyLength, aead.nonceLength);
}

/**
 * Seals or opens the chunks of one response. One instance per request, never shared or stored. The gateway's
 * side: the AEAD is the runtime's native one, synchronous (native_aead.ts); the SDK opens with its own.
 */
export class ChunkCipher {
  #aead: NativeAeadContext;
  #baseNonce: Uint8Array<ArrayBuffer>;
  #counter = 0;
  #finished = false;

  private constructor(aeadId: number, key: Uint8Array<ArrayBuffer>, baseNonce: Uint8Array<ArrayBuffer>) {
    // The context keeps its own copy and zeroes `key`.
    this.#aead = new NativeAead(aeadId).createEncryptionContext(key);
    this.#baseNonce = baseNonce;
  }

  /** Derives the chunk keys from the exported secret, `enc` and the response nonce. */
  static async derive(
    aeadId: number,
    secret: Uint8Array<ArrayBuffer>,
    enc: Uint8Array,
    responseNonce: Uint8Array,
  ): Promise<ChunkCipher> {
    const aead = aeadInfo(aeadId);
    if (!aead) throw new RangeError("Unsupported AEAD");
    const prk = await hkdfExtract(concat(enc, responseNonce), secret);
    const key = await hkdfExpand(prk, utf8("key"), aead.keyLength);
    const nonce = await hkdfExpand(prk, utf8("nonce"), aead.nonceLength);
    prk.fill(0);
    return new ChunkCipher(aeadId, key, nonce);
  }

  /** Whether the final chunk has been sealed or opened. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Seals the next chunk; `final` marks the last one. Sealing after the final chunk throws. */
  seal(plaintext: Uint8Array, final: boolean): Uint8Array<ArrayBuffer> {
    const nonce = this.#nextNonce();
    const sealed = this.#aead.sealSync(nonce, plaintext, final ? _FINAL_AAD : _EMPTY);
    if (final) this.#finish();
    return sealed;
  }

  /**
   * Opens the next chunk in order. Throws when the chunk was altered, reordered, duplicated, spliced from
   * another response, or when `final` does not match how it was sealed.
   */
  open(ciphertext: Uint8Array, final: boolean): Uint8Array<ArrayBuffer> {
    // The counter advances even on failure (a failed chunk poisons the stream), but the stream counts as
    // finished only once the chunk claiming to be final has authenticated.
    const nonce = this.#nextNonce();
    const plaintext = this.#aead.openSync(nonce, ciphertext, final ? _FINAL_AAD : _EMPTY);
    if (final) this.#finish();
    return plaintext;
  }

  /** After the final chunk the keys are no longer needed: zeroed, and nothing more is sealed or opened. */
  #finish(): void {
    this.#finished = true;
    this.#aead.dispose();
  }

  #nextNonce(): Uint8Array<ArrayBuffer> {
    if (this.#finished) throw new Error("Response already finished");
    if (this.#counter >= _MAX_CHUNKS) throw new Error("Too many chunks");
    const nonce = this.#baseNonce.slice();
    let c = this.#counter++;
    for (let i = nonce.byteLength - 1; c > 0 && i >= 0; i--) {
      nonce[i] ^= c & 0xff;
      c = Math.floor(c / 256);
    }
    return nonce;
  }
}
