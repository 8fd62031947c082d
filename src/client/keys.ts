/**
 * Fetching and verifying the gateway's key set against the pinned identity fingerprint. The pin is the
 * only trust anchor: TLS and the server's JSON labels are not trusted, only the signed key set bytes.
 */
import {
  constantTimeEqual,
  fingerprintOf,
  fromBase64Url,
  type KeySet,
  utf8,
  verifyKeySet,
} from "../crypto/mod.ts";

/** A key the client may seal to. */
export interface UsableKey {
  keyId: number;
  publicKey: Uint8Array<ArrayBuffer>;
  notBefore: number;
  notAfter: number;
}

/** Why a key set was refused. */
export class KeyVerificationError extends Error {
  constructor(readonly reason: "pin_mismatch" | "bad_signature" | "malformed" | "no_valid_key") {
    super(`Refusing the gateway's keys: ${reason.replaceAll("_", " ")}`);
    this.name = "KeyVerificationError";
  }
}

/**
 * Verifies a `/api/pubkey` document: the identity key must hash to `pin` (when given), its signature must
 * cover the key set, and at least one key must be valid at `nowSeconds`.
 */
export async function verifyPubkeyDocument(
  document: unknown,
  pin: string | undefined,
  nowSeconds: number,
): Promise<{ keySet: KeySet; fingerprint: string; usable: UsableKey[] }> {
  const doc = document as Record<string, unknown> | null;
  if (typeof doc !== "object" || doc === null) throw new KeyVerificationError("malformed");
  const identity = typeof doc.identity_key === "string" ? fromBase64Url(doc.identity_key) : undefined;
  const keyset = typeof doc.keyset === "string" ? fromBase64Url(doc.keyset) : undefined;
  const signature = typeof doc.signature === "string" ? fromBase64Url(doc.signature) : undefined;
  if (!identity || identity.byteLength !== 32 || !keyset || !signature) {
    throw new KeyVerificationError("malformed");
  }
  const fingerprint = await fingerprintOf(identity);
  if (pin !== undefined && !constantTimeEqual(utf8(fingerprint), utf8(pin.trim()))) {
    throw new KeyVerificationError("pin_mismatch");
  }
  const keySet = await verifyKeySet(identity, keyset, signature);
  if (!keySet) throw new KeyVerificationError("bad_signature");
  const usable = keySet.entries
    .filter((e) => e.notBefore <= nowSeconds && nowSeconds <= e.notAfter)
    .filter((e) => e.decoded.algorithms.some((a) => a.kdfId === 1 && a.aeadId === 3))
    .sort((a, b) => b.notBefore - a.notBefore)
    .map((e) => ({
      keyId: e.decoded.keyId,
      publicKey: e.decoded.publicKey,
      notBefore: e.notBefore,
      notAfter: e.notAfter,
    }));
  if (usable.length === 0) throw new KeyVerificationError("no_valid_key");
  return { keySet, fingerprint, usable };
}
