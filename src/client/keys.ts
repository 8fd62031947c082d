/**
 * Fetching and verifying the gateway's key set against the pinned identity fingerprint. The pin is the
 * only trust anchor: TLS and the server's JSON labels are not trusted, only the signed key set bytes.
 */
import { constantTimeEqual, fromBase64Url, toBase64Url, utf8 } from "../crypto/bytes.ts";
import {
  type KeySet,
  KEYSET_MAX_AGE_SECONDS,
  KEYSET_REISSUE_SECONDS,
  verifyKeySet,
} from "../crypto/keyset.ts";
import { AEAD_PREFERENCE, KDF_HKDF_SHA256, KEM_PREFERENCE } from "../crypto/suite_ids.ts";
import { type TokenKeySet, verifyTokenKeySet } from "../crypto/token_keyset.ts";
import { type ClientCrypto, detectCrypto } from "./platform_crypto.ts";

/** A key the client may seal to, with the AEAD it will use (the most preferred one the key offers). */
export interface UsableKey {
  keyId: number;
  kemId: number;
  aeadId: number;
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
  /** KEMs the client accepts, most preferred first (default KEM_PREFERENCE: X-Wing, then X25519). */
  kems?: readonly number[];
  /** The crypto to verify with (default: {@link detectCrypto}). */
  crypto?: ClientCrypto;
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
): Promise<{ keySet: KeySet; fingerprint: string; usable: UsableKey[]; tokenKeys?: TokenKeySet }> {
  const doc = document as Record<string, unknown> | null;
  if (typeof doc !== "object" || doc === null) throw new KeyVerificationError("malformed");
  const identity = typeof doc.identity_key === "string" ? fromBase64Url(doc.identity_key) : undefined;
  const keyset = typeof doc.keyset === "string" ? fromBase64Url(doc.keyset) : undefined;
  const signature = typeof doc.signature === "string" ? fromBase64Url(doc.signature) : undefined;
  if (!identity || identity.byteLength !== 32 || !keyset || !signature) {
    throw new KeyVerificationError("malformed");
  }
  const c = options.crypto ?? await detectCrypto();
  const verify = (key: Uint8Array, sig: Uint8Array, message: Uint8Array) =>
    c.ed25519Verify(key, sig, message);
  // The pin: base64url(SHA-256(raw identity key)), as crypto/identity.ts fingerprintOf().
  const fingerprint = toBase64Url(await c.sha256(identity));
  if (pin !== undefined && !constantTimeEqual(utf8(fingerprint), utf8(pin.trim()))) {
    throw new KeyVerificationError("pin_mismatch");
  }
  const keySet = await verifyKeySet(identity, keyset, signature, verify);
  if (!keySet) throw new KeyVerificationError("bad_signature");
  if (keySet.issuedAt < (options.newestIssuedAt ?? -Infinity)) throw new KeyVerificationError("rollback");
  if (keySet.issuedAt + KEYSET_MAX_AGE_SECONDS < nowSeconds) throw new KeyVerificationError("expired");
  const now = options.windowClock?.(keySet.issuedAt) ?? nowSeconds;
  const kems = options.kems ?? KEM_PREFERENCE;
  const usable = keySet.entries
    .filter((e) => e.notBefore <= now + _NOT_BEFORE_SLACK_SECONDS && now <= e.notAfter)
    .filter((e) => kems.includes(e.decoded.kemId))
    .flatMap((e) => {
      const aeadId = AEAD_PREFERENCE.find((id) =>
        e.decoded.algorithms.some((a) => a.kdfId === KDF_HKDF_SHA256 && a.aeadId === id)
      );
      return aeadId === undefined ? [] : [{ ...e, aeadId }];
    })
    // Preferred KEM first (X-Wing by default), then the newest key.
    .sort((a, b) =>
      kems.indexOf(a.decoded.kemId) - kems.indexOf(b.decoded.kemId) || b.notBefore - a.notBefore
    )
    .map((e) => ({
      keyId: e.decoded.keyId,
      kemId: e.decoded.kemId,
      aeadId: e.aeadId,
      publicKey: e.decoded.publicKey,
      notBefore: e.notBefore,
      notAfter: e.notAfter,
    }));
  if (usable.length === 0) throw new KeyVerificationError("no_valid_key");
  return {
    keySet,
    fingerprint,
    usable,
    tokenKeys: await _tokenKeys(doc.token_keys, identity, keySet, verify),
  };
}

/**
 * Token mode: the token keys signed by the same identity, with the same `issued_at` as the HPKE key set
 * (one signing moment, so an old token key set cannot be paired with a fresh HPKE one). The SDK takes
 * token keys from here only, never from unsigned JSON; whether there must be any is the key set's signed
 * `auth`, so a document stripped of them is refused rather than read as device mode.
 */
async function _tokenKeys(
  field: unknown,
  identity: Uint8Array<ArrayBuffer>,
  keySet: KeySet,
  verify: (key: Uint8Array, sig: Uint8Array, message: Uint8Array) => Promise<boolean>,
): Promise<TokenKeySet | undefined> {
  // The signed mode decides: token keys must come with a token key set and never without one.
  if (keySet.auth === "device") {
    if (field !== undefined) throw new KeyVerificationError("malformed");
    return undefined;
  }
  if (field === undefined) throw new KeyVerificationError("malformed");
  const f = field as Record<string, unknown> | null;
  const bytes = typeof f?.keyset === "string" ? fromBase64Url(f.keyset) : undefined;
  const signature = typeof f?.signature === "string" ? fromBase64Url(f.signature) : undefined;
  if (!bytes || !signature) throw new KeyVerificationError("malformed");
  const tokenKeys = await verifyTokenKeySet(identity, bytes, signature, verify);
  if (!tokenKeys || tokenKeys.issuedAt !== keySet.issuedAt) throw new KeyVerificationError("bad_signature");
  return tokenKeys;
}
