/**
 * Fetching and verifying the gateway's key set against the pinned identity fingerprint. The pin is the
 * only trust anchor: TLS and the server's JSON labels are not trusted, only the signed key set bytes.
 */
import {
  constantTimeEqual,
  fingerprintOf,
  fromBase64Url,
  type KeySet,
  KEYSET_MAX_AGE_SECONDS,
  KEYSET_REISSUE_SECONDS,
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
  constructor(
    readonly reason: "pin_mismatch" | "bad_signature" | "malformed" | "no_valid_key" | "rollback" | "expired",
  ) {
    super(`Refusing the gateway's keys: ${reason.replaceAll("_", " ")}`);
    this.name = "KeyVerificationError";
  }
}

/** What else {@link verifyPubkeyDocument} checks against. */
export interface KeySetCheckOptions {
  /** The newest `issued_at` this client has accepted: anything older is a rollback. */
  newestIssuedAt?: number;
  /**
   * The time to judge the keys' windows by, given the verified `issued_at` (a client that corrects its
   * clock from the signed key set). Defaults to `nowSeconds`.
   */
  windowClock?: (issuedAt: number) => number;
}

/**
 * A key whose window opens within this many seconds counts as open: the gateway signs `issued_at` on a
 * KEYSET_REISSUE_SECONDS grid, so a clock taken from it may lag a key that has just been made, and the
 * gateway itself accepts any key it holds before its `not_before`.
 */
const _NOT_BEFORE_SLACK_SECONDS = KEYSET_REISSUE_SECONDS;

/**
 * Verifies a `/api/pubkey` document: the identity key must hash to `pin` (when given), its signature must
 * cover the key set, the key set must be no older than the newest accepted (no rollback) nor than
 * KEYSET_MAX_AGE_SECONDS by `nowSeconds`, and at least one key must be valid.
 */
export async function verifyPubkeyDocument(
  document: unknown,
  pin: string | undefined,
  nowSeconds: number,
  options: KeySetCheckOptions = {},
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
  if (keySet.issuedAt < (options.newestIssuedAt ?? -Infinity)) throw new KeyVerificationError("rollback");
  if (keySet.issuedAt + KEYSET_MAX_AGE_SECONDS < nowSeconds) throw new KeyVerificationError("expired");
  const now = options.windowClock?.(keySet.issuedAt) ?? nowSeconds;
  const usable = keySet.entries
    .filter((e) => e.notBefore <= now + _NOT_BEFORE_SLACK_SECONDS && now <= e.notAfter)
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
