/**
 * The gateway's long-term Ed25519 identity. It signs every published key set, so the app pins one
 * fingerprint and HPKE keys can rotate without an app update.
 *
 *   fingerprint = base64url(SHA-256(raw Ed25519 public key))   (43 characters)
 */
import { fromBase64Url, toBase64Url, utf8 } from "./bytes.ts";
import { isAcceptableEd25519PublicKey } from "./ed25519_key.ts";

/** A loaded identity: the signing key stays a non-extractable CryptoKey. */
export interface Identity {
  publicKey: Uint8Array<ArrayBuffer>;
  fingerprint: string;
  sign(message: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>>;
}

/** The on-disk identity file (`privacy-gateway keys init`). */
export interface IdentityFile {
  type: "privacy-gateway-identity";
  version: 1;
  private_key_pkcs8: string;
  public_key: string;
  fingerprint: string;
}

/** Computes the pin of a raw Ed25519 public key. */
export async function fingerprintOf(publicKey: Uint8Array<ArrayBuffer>): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey)));
}

/** Builds an {@link Identity} from a PKCS#8 private key; the key is imported non-extractable. */
export async function importIdentity(pkcs8: Uint8Array<ArrayBuffer>): Promise<Identity> {
  const extractable = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", extractable);
  const publicKey = fromBase64Url(jwk.x ?? "");
  if (!publicKey || publicKey.byteLength !== 32) throw new TypeError("Identity key is not an Ed25519 key");
  const signingKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  const fingerprint = await fingerprintOf(publicKey);
  return {
    publicKey,
    fingerprint,
    sign: async (message) => new Uint8Array(await crypto.subtle.sign("Ed25519", signingKey, message)),
  };
}

/** Generates a fresh identity and the file content that stores it. */
export async function generateIdentity(): Promise<{ identity: Identity; file: IdentityFile }> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const identity = await importIdentity(pkcs8);
  const file: IdentityFile = {
    type: "privacy-gateway-identity",
    version: 1,
    private_key_pkcs8: toBase64Url(pkcs8),
    public_key: toBase64Url(identity.publicKey),
    fingerprint: identity.fingerprint,
  };
  pkcs8.fill(0);
  return { identity, file };
}

/** Verifies an Ed25519 signature made by a raw public key. */
export async function verifySignature(
  publicKey: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  message: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  // WebCrypto verifies against small-order and non-canonical keys too; such a key is never legitimate.
  if (!isAcceptableEd25519PublicKey(publicKey)) return false;
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify("Ed25519", key, signature, message);
  } catch {
    return false;
  }
}

/** Domain separation for identity signatures, so a signature can never be reused for another purpose. */
export const KEYSET_SIGNATURE_CONTEXT = utf8("privacy-gateway keyset v3\0");
