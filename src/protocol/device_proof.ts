/**
 * Device identity without API keys (docs/protocol.md §3.4). The app keeps an Ed25519 key in secure
 * storage; each request's JSON body (inside the encryption) names the public key and signs this request's
 * binding:
 *
 *   signature = Ed25519(device_key, "privacy-gateway device v2" ‖ 0x00 ‖ hdr ‖ enc)
 *
 * `hdr` and `enc` are the encapsulated request's (RFC 9458 §4.3); `enc` is fresh per request and is what
 * the replay seen-set records, so the signature cannot be moved to another request. Relays never see the
 * device key. (Issue 14 replaces device keys with Privacy Pass tokens.)
 */
import { concat, utf8 } from "../crypto/bytes.ts";
import { verifySignature } from "../crypto/identity.ts";

/** Domain separation label of device signatures. */
export const DEVICE_PROOF_LABEL = utf8("privacy-gateway device v2\0");

/** The bytes a device signs for one request. */
export function deviceProofMessage(hdr: Uint8Array, enc: Uint8Array): Uint8Array<ArrayBuffer> {
  return concat(DEVICE_PROOF_LABEL, hdr, enc);
}

/** Verifies a device's proof for one request. */
export function verifyDeviceProof(
  publicKey: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  hdr: Uint8Array,
  enc: Uint8Array,
): Promise<boolean> {
  if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return Promise.resolve(false);
  return verifySignature(publicKey, signature, deviceProofMessage(hdr, enc));
}
