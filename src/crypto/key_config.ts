/**
 * Key configurations, encoded exactly as RFC 9458 §3.1:
 *
 *   KeyConfig = key_id(8) ‖ kem_id(16) ‖ public_key(Npk·8) ‖ algorithms_length(16) ‖ { kdf_id(16) ‖ aead_id(16) }…
 *   application/ohttp-keys (RFC 9540 §3) = { length(16) ‖ KeyConfig }…
 *
 * Protocol v1 supports one suite, so an encoded config has exactly one algorithm pair.
 */
import { concat, readUintBE, uintBE } from "./bytes.ts";
import { AEAD_ID, KDF_ID, KEM_ID, PUBLIC_KEY_LENGTH } from "./suite.ts";

/** A decoded key configuration (RFC 9458 §3). */
export interface KeyConfig {
  keyId: number;
  kemId: number;
  publicKey: Uint8Array<ArrayBuffer>;
  algorithms: { kdfId: number; aeadId: number }[];
}

/** Encodes one key configuration for this protocol's suite. */
export function encodeKeyConfig(keyId: number, publicKey: Uint8Array): Uint8Array<ArrayBuffer> {
  if (publicKey.byteLength !== PUBLIC_KEY_LENGTH) throw new RangeError("X25519 public keys are 32 bytes");
  return concat(
    uintBE(keyId, 1),
    uintBE(KEM_ID, 2),
    publicKey,
    uintBE(4, 2),
    uintBE(KDF_ID, 2),
    uintBE(AEAD_ID, 2),
  );
}

/**
 * Decodes one key configuration; returns `undefined` when the bytes are not exactly one well-formed config
 * with an X25519 key (other KEMs have other key sizes, which v1 does not accept).
 */
export function decodeKeyConfig(bytes: Uint8Array): KeyConfig | undefined {
  const fixed = 1 + 2 + PUBLIC_KEY_LENGTH + 2;
  if (bytes.byteLength < fixed) return undefined;
  const kemId = readUintBE(bytes, 1, 2);
  if (kemId !== KEM_ID) return undefined;
  const algorithmsLength = readUintBE(bytes, 1 + 2 + PUBLIC_KEY_LENGTH, 2);
  if (algorithmsLength === 0 || algorithmsLength % 4 !== 0 || bytes.byteLength !== fixed + algorithmsLength) {
    return undefined;
  }
  const algorithms = [];
  for (let offset = fixed; offset < bytes.byteLength; offset += 4) {
    algorithms.push({ kdfId: readUintBE(bytes, offset, 2), aeadId: readUintBE(bytes, offset + 2, 2) });
  }
  return { keyId: bytes[0], kemId, publicKey: bytes.slice(3, 3 + PUBLIC_KEY_LENGTH), algorithms };
}

/** Encodes a list of configs as `application/ohttp-keys` (RFC 9540 §3: each prefixed by its 2-byte length). */
export function encodeOhttpKeys(configs: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concat(...configs.flatMap((config) => [uintBE(config.byteLength, 2), config]));
}
