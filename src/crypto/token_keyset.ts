/**
 * The token keys, signed by the gateway's identity beside the HPKE key set (docs/protocol.md §2.3):
 * every client verifies the same signed issuer keys, so the issuer cannot give one user a key of its own
 * and recognise that user's tokens at redemption (RFC 9576 §6.2, key consistency).
 *
 *   TokenKeySet = UTF-8 JSON {"issued_at": s, "issuer_name": string,
 *                             "keys": [{"token_key_id": b64url, "spki": b64url, "not_after": ms}, …]}
 *   signature   = Ed25519(identity, "privacy-gateway token keys v1" ‖ 0x00 ‖ TokenKeySet)
 *
 * The signature covers the exact bytes the client parses (no canonicalisation); the separate context
 * keeps a token key set from ever verifying as an HPKE key set and back.
 */
import { concat, utf8 } from "./bytes.ts";
import { type Identity, verifySignature } from "./identity.ts";

/** Domain separation of the token key set's signature. */
export const TOKEN_KEYSET_SIGNATURE_CONTEXT = utf8("privacy-gateway token keys v1\0");

/** The decoded token key set. */
export interface TokenKeySet {
  issuedAt: number;
  issuerName: string;
  keys: { tokenKeyId: string; spki: string; notAfter: number }[];
}

/** Encodes the bytes the identity signs. */
export function encodeTokenKeySet(set: TokenKeySet): Uint8Array<ArrayBuffer> {
  return utf8(JSON.stringify({
    issued_at: set.issuedAt,
    issuer_name: set.issuerName,
    keys: set.keys.map((k) => ({ token_key_id: k.tokenKeyId, spki: k.spki, not_after: k.notAfter })),
  }));
}

/** Signs token key set bytes with the identity. */
export function signTokenKeySet(
  identity: Identity,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return identity.sign(concat(TOKEN_KEYSET_SIGNATURE_CONTEXT, bytes));
}

const _B64 = /^[A-Za-z0-9_-]+$/;

/**
 * Verifies and decodes; `undefined` on a bad signature or any malformed part. `verify` is the app SDK's
 * injectable Ed25519 (default WebCrypto).
 */
export async function verifyTokenKeySet(
  identityPublicKey: Uint8Array<ArrayBuffer>,
  bytes: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  verify: typeof verifySignature = verifySignature,
): Promise<TokenKeySet | undefined> {
  if (!await verify(identityPublicKey, signature, concat(TOKEN_KEYSET_SIGNATURE_CONTEXT, bytes))) {
    return undefined;
  }
  try {
    const raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    if (
      !Number.isSafeInteger(raw?.issued_at) || typeof raw.issuer_name !== "string" || !raw.issuer_name ||
      !Array.isArray(raw.keys)
    ) return undefined;
    const keys = raw.keys.map((k: Record<string, unknown>) => {
      if (
        typeof k?.token_key_id !== "string" || !_B64.test(k.token_key_id) || typeof k.spki !== "string" ||
        !_B64.test(k.spki) || !Number.isSafeInteger(k.not_after)
      ) throw new Error("malformed");
      return { tokenKeyId: k.token_key_id, spki: k.spki, notAfter: k.not_after as number };
    });
    return { issuedAt: raw.issued_at, issuerName: raw.issuer_name, keys };
  } catch {
    return undefined;
  }
}
