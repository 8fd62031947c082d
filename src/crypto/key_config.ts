/**
 * Key configurations, encoded exactly as RFC 9458 §3.1:
 *
 *   KeyConfig = key_id(8) ‖ kem_id(16) ‖ public_key(Npk·8) ‖ algorithms_length(16) ‖ { kdf_id(16) ‖ aead_id(16) }…
 *   application/ohttp-keys (RFC 9540 §3) = { length(16) ‖ KeyConfig }…
 *
 * Npk depends on the KEM (32 for X25519, 1216 for X-Wing), so only configs of a KEM in suite.ts decode.
 */
import { concat, readUintBE, uintBE } from "./bytes.ts";
import { kemInfo } from "./suite_ids.ts";

/** A decoded key configuration (RFC 9458 §3). */
export interface KeyConfig {
  keyId: number;
  kemId: number;
  publicKey: Uint8Array<ArrayBuffer>;
  algorithms: { kdfId: number; aeadId: number }[];
}

/** Encodes one key configuration. */
export function encodeKeyConfig(config: KeyConfig): Uint8Array<ArrayBuffer> {
  const kem = kemInfo(config.kemId);
  if (!kem || config.publicKey.byteLength !== kem.publicKeyLength) {
    throw new RangeError("Public key does not match the KEM");
  }
  if (config.algorithms.length === 0) throw new RangeError("A key configuration offers at least one suite");
  return concat(
    uintBE(config.keyId, 1),
    uintBE(config.kemId, 2),
    config.publicKey,
    uintBE(4 * config.algorithms.length, 2),
    ...config.algorithms.flatMap((a) => [uintBE(a.kdfId, 2), uintBE(a.aeadId, 2)]),
  );
}

/**
 * Decodes one key configuration; returns `undefined` when the bytes are not exactly one well-formed config
 * of a known KEM (the KEM fixes the public key's length).
 */
export function decodeKeyConfig(bytes: Uint8Array): KeyConfig | undefined {
  if (bytes.byteLength < 3) return undefined;
  const kemId = readUintBE(bytes, 1, 2);
  const kem = kemInfo(kemId);
  if (!kem) return undefined;
  const fixed = 1 + 2 + kem.publicKeyLength + 2;
  if (bytes.byteLength < fixed) return undefined;
  const algorithmsLength = readUintBE(bytes, fixed - 2, 2);
  if (algorithmsLength === 0 || algorithmsLength % 4 !== 0 || bytes.byteLength !== fixed + algorithmsLength) {
    return undefined;
  }
  const algorithms = [];
  for (let offset = fixed; offset < bytes.byteLength; offset += 4) {
    algorithms.push({ kdfId: readUintBE(bytes, offset, 2), aeadId: readUintBE(bytes, offset + 2, 2) });
  }
  return { keyId: bytes[0], kemId, publicKey: bytes.slice(3, 3 + kem.publicKeyLength), algorithms };
}

/** Encodes a list of configs as `application/ohttp-keys` (RFC 9540 §3: each prefixed by its 2-byte length). */
export function encodeOhttpKeys(configs: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concat(...configs.flatMap((config) => [uintBE(config.byteLength, 2), config]));
}

/** Decodes `application/ohttp-keys`, skipping configs of unknown KEMs (RFC 9540 §3); undefined if malformed. */
export function decodeOhttpKeys(bytes: Uint8Array): KeyConfig[] | undefined {
  const out: KeyConfig[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (offset + 2 > bytes.byteLength) return undefined;
    const length = readUintBE(bytes, offset, 2);
    offset += 2;
    if (length === 0 || offset + length > bytes.byteLength) return undefined;
    const config = decodeKeyConfig(bytes.subarray(offset, offset + length));
    if (config) out.push(config);
    offset += length;
  }
  return out;
}
