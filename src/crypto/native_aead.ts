/**
 * The gateway's AEADs (RFC 9180 §7.3: ChaCha20-Poly1305 and AES-128-GCM, 16-byte tags) on the runtime's
 * native node:crypto, synchronous, behind hpke-js's AEAD interface: the recipient suite opens requests
 * with them and the response chunks are sealed with them.
 *
 * Why not hpke-js's own here: its ChaCha20-Poly1305 is pure TypeScript (~11.5 µs per 512-byte chunk on
 * one core against ~4 µs here), and its AES-128-GCM is WebCrypto, whose every call is a hop to the
 * runtime's thread pool, which waits for a core while llama-server keeps both busy (docs/benchmarks.md,
 * "Bursts"). The SDK keeps hpke-js's (it runs where node:crypto does not). Every result is a fresh
 * buffer of exactly its length (node may hand out slices of a shared pool).
 */
import * as nodeCrypto from "node:crypto";
import type { AeadEncryptionContext, AeadInterface } from "@hpke/core";
import { concat } from "./bytes.ts";
import { AEAD_AES_128_GCM, AEAD_CHACHA20_POLY1305, aeadInfo } from "./suite_ids.ts";

const _TAG_BYTES = 16;
const _OPTIONS = { authTagLength: _TAG_BYTES };
/** Largest AES-128-GCM ciphertext opened on the event loop (see `#openAesOffThread`). */
const _NATIVE_AES_OPEN_MAX = 16 * 1024;
type _Name = "aes-128-gcm" | "chacha20-poly1305";
const _CIPHERS = new Map<number, _Name>([
  [AEAD_AES_128_GCM, "aes-128-gcm"],
  [AEAD_CHACHA20_POLY1305, "chacha20-poly1305"],
]);

type _Bytes = ArrayBufferLike | ArrayBufferView;

/** One of the two AEADs, as hpke-js's `AeadInterface`. */
export class NativeAead implements AeadInterface {
  readonly id: AeadInterface["id"];
  readonly keySize: number;
  readonly nonceSize: number;
  readonly tagSize = _TAG_BYTES;
  readonly #cipher: _Name;

  constructor(aeadId: number) {
    const cipher = _CIPHERS.get(aeadId);
    const info = aeadInfo(aeadId);
    if (!cipher || !info) throw new RangeError("Unsupported AEAD");
    this.id = aeadId as AeadInterface["id"];
    this.keySize = info.keyLength;
    this.nonceSize = info.nonceLength;
    this.#cipher = cipher;
  }

  /** Takes the key: the context keeps a copy and the caller's bytes are zeroed (as hpke-js's AES-GCM does). */
  createEncryptionContext(key: _Bytes): NativeAeadContext {
    const bytes = _view(key);
    if (bytes.byteLength !== this.keySize) throw new RangeError("AEAD key of the wrong length");
    // A private copy of the bytes, not a KeyObject: making one per context (per request) cost ~25 µs of
    // each X-Wing open on one core (228-231 µs against 251-263, bench/throughput_bench.ts).
    const copy = bytes.slice();
    bytes.fill(0);
    return new NativeAeadContext(this.#cipher, copy, this.nonceSize);
  }
}

/** One key's context: synchronous `sealSync`/`openSync`, and hpke-js's asynchronous pair over them. */
export class NativeAeadContext implements AeadEncryptionContext {
  readonly #cipher: _Name;
  readonly #key: Uint8Array;
  readonly #nonceSize: number;

  constructor(
    cipher: _Name,
    key: Uint8Array,
    nonceSize: number,
  ) {
    this.#cipher = cipher;
    this.#key = key;
    this.#nonceSize = nonceSize;
  }

  /** ciphertext ‖ tag. */
  sealSync(nonce: _Bytes, plaintext: _Bytes, aad: _Bytes): Uint8Array<ArrayBuffer> {
    // Cast for the overload only: both names take the same options.
    const cipher = nodeCrypto.createCipheriv(
      this.#cipher as "chacha20-poly1305",
      this.#key,
      this.#nonce(nonce),
      _OPTIONS,
    );
    const data = _view(plaintext);
    cipher.setAAD(_view(aad), { plaintextLength: data.byteLength });
    return concat(cipher.update(data), cipher.final(), cipher.getAuthTag());
  }

  /** The plaintext; throws when the ciphertext, tag, nonce, AAD or key do not match. */
  openSync(nonce: _Bytes, sealed: _Bytes, aad: _Bytes): Uint8Array<ArrayBuffer> {
    const data = _view(sealed);
    if (data.byteLength < _TAG_BYTES) throw new Error("AEAD ciphertext shorter than its tag");
    const length = data.byteLength - _TAG_BYTES;
    const decipher = nodeCrypto.createDecipheriv(
      this.#cipher as "chacha20-poly1305",
      this.#key,
      this.#nonce(nonce),
      _OPTIONS,
    );
    decipher.setAuthTag(data.subarray(length));
    decipher.setAAD(_view(aad), { plaintextLength: length });
    const body = decipher.update(data.subarray(0, length));
    let tail: Uint8Array;
    try {
      tail = decipher.final();
    } catch {
      // The tag did not authenticate: nothing decrypted leaves.
      body.fill(0);
      throw new Error("AEAD open failed: invalid tag");
    }
    const out = concat(body, tail);
    body.fill(0);
    return out;
  }

  // hpke-js's interface is asynchronous; a failure is a rejection, as its own AEADs' are.
  seal(nonce: _Bytes, plaintext: _Bytes, aad: _Bytes): Promise<ArrayBuffer> {
    return Promise.try(() => this.sealSync(nonce, plaintext, aad).buffer);
  }

  open(nonce: _Bytes, sealed: _Bytes, aad: _Bytes): Promise<ArrayBuffer> {
    if (this.#cipher === "aes-128-gcm" && _view(sealed).byteLength > _NATIVE_AES_OPEN_MAX) {
      return this.#openAesOffThread(nonce, sealed, aad);
    }
    return Promise.try(() => this.openSync(nonce, sealed, aad).buffer);
  }

  /** Zeroes the key; the context is unusable afterwards (ChunkCipher calls it after the final chunk). */
  dispose(): void {
    this.#key.fill(0);
  }

  /**
   * A large AES-128-GCM request (a standard OHTTP client's, up to the body limit) is opened by WebCrypto, off
   * the event loop: the runtime's node:crypto AES-GCM runs at ~175 MB/s on this thread (1.5 ms for a 256 KiB
   * body, while every stream waits), WebCrypto's ~5 times faster on the thread pool (review of issue 15's
   * fifth session). Requests and chunks of the SDK's size stay synchronous.
   */
  async #openAesOffThread(nonce: _Bytes, sealed: _Bytes, aad: _Bytes): Promise<ArrayBuffer> {
    const key = await crypto.subtle.importKey("raw", this.#key.slice(), "AES-GCM", false, ["decrypt"]);
    try {
      return await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: this.#nonce(nonce).slice(),
          additionalData: _view(aad).slice(),
          tagLength: 128,
        },
        key,
        _view(sealed).slice(),
      );
    } catch (error) {
      if (error instanceof RangeError) throw error;
      throw new Error("AEAD open failed: invalid tag");
    }
  }

  #nonce(nonce: _Bytes): Uint8Array {
    const bytes = _view(nonce);
    if (bytes.byteLength !== this.#nonceSize) throw new RangeError("AEAD nonce of the wrong length");
    return bytes;
  }
}

function _view(bytes: _Bytes): Uint8Array {
  return ArrayBuffer.isView(bytes)
    ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    : new Uint8Array(bytes);
}
