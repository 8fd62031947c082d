/**
 * HPKE's KDF, HKDF-SHA256 (RFC 9180 §4, §7.2), computed synchronously with sha256.ts instead of WebCrypto:
 * the key schedule of every request (RFC 9180 §5.1: LabeledExtract of psk_id_hash, info_hash and secret,
 * LabeledExpand of key, base_nonce and exporter_secret) and the exporter (§5.3) used for the response keys.
 * hpke-js builds the labels (`buildLabeledIkm`/`buildLabeledInfo`, unchanged); only the three HKDF
 * primitives are replaced, each with the library's own checks. WebCrypto cost two asynchronous
 * operations (~20 µs) per HMAC, ~10 HMACs per request (docs/benchmarks.md, "One core").
 */
import { HkdfSha256 } from "@hpke/core";
import { hkdfExpand, hkdfExtract } from "./hkdf.ts";

const _HASH_LENGTH = 32;

type _Input = ArrayBufferLike | ArrayBufferView;

function _bytes(input: _Input): Uint8Array<ArrayBuffer> {
  return ArrayBuffer.isView(input)
    ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength).slice()
    : new Uint8Array(input).slice();
}

/** hpke-js's HkdfSha256 with synchronous HMAC (same results; tests/unit/hpke_vectors_test.ts). */
export class SyncHkdfSha256 extends HkdfSha256 {
  override async extract(salt: _Input, ikm: _Input): Promise<ArrayBuffer> {
    const saltBytes = _bytes(salt);
    if (saltBytes.byteLength !== 0 && saltBytes.byteLength !== _HASH_LENGTH) {
      throw new RangeError("The salt length must be the same as the hashSize");
    }
    return (await hkdfExtract(saltBytes, _bytes(ikm))).buffer;
  }

  override async expand(prk: _Input, info: _Input, len: number): Promise<ArrayBuffer> {
    return (await hkdfExpand(_bytes(prk), _bytes(info), len)).buffer;
  }

  override async extractAndExpand(
    salt: _Input,
    ikm: _Input,
    info: _Input,
    len: number,
  ): Promise<ArrayBuffer> {
    const prk = await hkdfExtract(_bytes(salt), _bytes(ikm));
    const out = await hkdfExpand(prk, _bytes(info), len);
    prk.fill(0);
    return out.buffer;
  }
}
