/**
 * Device identity without API keys (docs/protocol.md §3.3). The app keeps an Ed25519 key in secure
 * storage; each request's plaintext names the public key and signs this request's binding:
 *
 *   signature = Ed25519(device_key, "privacy-gateway device v1" ‖ 0x00 ‖ Header ‖ enc)
 *
 * The signature travels inside the encryption (relays never see the device key) and covers the header
 * (timestamp, request id) and `enc`, so it cannot be replayed onto another request.
 */
import { concat, utf8, verifySignature } from "../crypto/mod.ts";

/** Domain separation label of device signatures. */
export const DEVICE_PROOF_LABEL = utf8("privacy-gateway device v1\0");

/** The bytes a device signs for one request. */
export function deviceProofMessage(headerBytes: Uint8Array, enc: Uint8Array): Uint8Array<ArrayBuffer> {
  return concat(DEVICE_PROOF_LABEL, headerBytes, enc);
}

/** Verifies a device's proof for one request. */
export function verifyDeviceProof(
  publicKey: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  headerBytes: Uint8Array,
  enc: Uint8Array,
): Promise<boolean> {
  if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return Promise.resolve(false);
  return verifySignature(publicKey, signature, deviceProofMessage(headerBytes, enc));
}
