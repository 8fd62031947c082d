/**
 * The device key: an Ed25519 key that proves "the same device" to the gateway's limits (device mode) or to
 * the token issuer (token mode). Apps keep its 32-byte seed in secure storage (expo-secure-store, Keychain,
 * Keystore), which holds bytes, not WebCrypto key objects; a `CryptoKeyPair` still works on the web.
 */
import { toBase64Url } from "../crypto/bytes.ts";
import type { ClientCrypto } from "./platform_crypto.ts";

/** Signs with the device key; `publicKey` is its raw public key, base64url. */
export interface DeviceSigner {
  publicKey: string;
  sign(message: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>;
}

/** A fresh device key seed (store it, then pass it as `deviceKey`). */
export function generateDeviceKey(crypto: ClientCrypto): Uint8Array<ArrayBuffer> {
  return crypto.randomBytes(32);
}

/** The signer of a seed or a WebCrypto key pair. */
export async function deviceSigner(
  crypto: ClientCrypto,
  key: Uint8Array | CryptoKeyPair,
): Promise<DeviceSigner> {
  if (key instanceof Uint8Array) {
    if (key.byteLength !== 32) throw new RangeError("Pass the device key as a 32-byte Ed25519 seed");
    const seed = new Uint8Array(key);
    return {
      publicKey: toBase64Url(await crypto.ed25519PublicKey(seed)),
      sign: (message) => crypto.ed25519Sign(seed, message),
    };
  }
  const raw = new Uint8Array(await globalThis.crypto.subtle.exportKey("raw", key.publicKey));
  return {
    publicKey: toBase64Url(raw),
    sign: async (message) =>
      new Uint8Array(await globalThis.crypto.subtle.sign("Ed25519", key.privateKey, message)),
  };
}
