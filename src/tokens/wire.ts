/**
 * Privacy Pass wire formats for token type 0x0002, Blind RSA (2048-bit): RFC 9578 §6 (issuance) and
 * RFC 9577 §2 (token and challenge). All integers big-endian; Nk = 256 (modulus bytes), Nid = 32.
 *
 *   TokenChallenge = u16 token_type ‖ u16 len ‖ issuer_name ‖ u8 len ‖ redemption_context ‖ u16 len ‖ origin_info
 *   TokenRequest   = u16 token_type (0x0002) ‖ u8 truncated_token_key_id ‖ blinded_msg[Nk]        (RFC 9578 §6.1)
 *   TokenResponse  = blind_sig[Nk]                                                              (RFC 9578 §6.2)
 *   Token          = u16 token_type ‖ nonce[32] ‖ challenge_digest[32] ‖ token_key_id[Nid] ‖ authenticator[Nk]
 *   token_input    = the Token without its authenticator; authenticator = RSABSSA-SHA384-PSS-Deterministic
 *                    (RFC 9474, salt 48 bytes) signature over token_input                         (RFC 9578 §6.4)
 *   token_key_id   = SHA-256(SPKI of the public key with the RSASSA-PSS OID, RFC 9578 §6.5)
 *   challenge_digest = SHA-256(TokenChallenge)
 *
 * This gateway is origin and issuer in one, and tokens are fetched in batches ahead of use, so there is no
 * per-request challenge: every client uses the same challenge, `TokenChallenge(0x0002, issuer_name, "", "")`
 * (an empty redemption_context is RFC 9577 §2.1.1's "not bound to a context", which is what makes a token
 * spendable later, at a time unrelated to its issuance). Double spending is stopped by the nonce seen-set.
 *
 * Batch envelope (ours: RFC 9578 carries one TokenRequest per HTTP message as application/private-token-request):
 *
 *   POST /api/tokens  JSON {"requests": [b64url(TokenRequest), …], "evidence": {…}, "pow"?: {"challenge", "solution"}}
 *   200               JSON {"responses": [b64url(TokenResponse), …]}   the first k requests, k ≤ count (quota)
 */
import { TokenChallenge, util } from "@cloudflare/privacypass-ts";

/** A public token key as the signed key set carries it (here, not in issuer_keys.ts, so the
 * app SDK's wallet does not load the issuer). */
export interface PublicTokenKey {
  /** base64url of SHA-256(spki). */
  tokenKeyId: string;
  /** base64url of the SPKI with the RSASSA-PSS OID (RFC 9578 §6.5). */
  spki: string;
  /** ms since the epoch; the key is redeemable until then. */
  notAfter: number;
}

/** RFC 9578 §6: token type of Blind RSA (2048-bit). */
export const TOKEN_TYPE_BLIND_RSA = 0x0002;
/** Nk: bytes of the RSA modulus, blinded message, blind signature and authenticator. */
export const NK = 256;
/** Nid: bytes of token_key_id (SHA-256). */
export const NID = 32;
/** RFC 9577 §2.2: nonce bytes. */
export const NONCE_LENGTH = 32;
/** RFC 9474 RSABSSA-SHA384-PSS-Deterministic: salt length (the hash length of SHA-384). */
export const SALT_LENGTH = 48;
/** Length of a serialized TokenRequest. */
export const TOKEN_REQUEST_LENGTH = 2 + 1 + NK;
/** Length of a serialized Token. */
export const TOKEN_LENGTH = 2 + NONCE_LENGTH + 32 + NID + NK;
/** Offset of the authenticator inside a Token (= length of token_input). */
export const TOKEN_INPUT_LENGTH = TOKEN_LENGTH - NK;

/** The one challenge of a gateway (see the header): no redemption context, no origin info. */
export function gatewayChallenge(issuerName: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(
    new TokenChallenge(TOKEN_TYPE_BLIND_RSA, issuerName, new Uint8Array(0), undefined).serialize(),
  );
}

/** A parsed TokenRequest. */
export interface ParsedTokenRequest {
  truncatedTokenKeyId: number;
  blindedMsg: Uint8Array<ArrayBuffer>;
}

/** Parses a TokenRequest of exactly {@link TOKEN_REQUEST_LENGTH} bytes; undefined when malformed. */
export function parseTokenRequest(bytes: Uint8Array): ParsedTokenRequest | undefined {
  if (bytes.byteLength !== TOKEN_REQUEST_LENGTH) return undefined;
  if (((bytes[0] << 8) | bytes[1]) !== TOKEN_TYPE_BLIND_RSA) return undefined;
  return { truncatedTokenKeyId: bytes[2], blindedMsg: new Uint8Array(bytes.subarray(3)) };
}

/** A parsed Token. */
export interface ParsedToken {
  nonce: Uint8Array<ArrayBuffer>;
  challengeDigest: Uint8Array<ArrayBuffer>;
  tokenKeyId: Uint8Array<ArrayBuffer>;
  tokenInput: Uint8Array<ArrayBuffer>;
  authenticator: Uint8Array<ArrayBuffer>;
}

/** Parses a Token of exactly {@link TOKEN_LENGTH} bytes and type 0x0002; undefined when malformed. */
export function parseToken(bytes: Uint8Array): ParsedToken | undefined {
  if (bytes.byteLength !== TOKEN_LENGTH) return undefined;
  if (((bytes[0] << 8) | bytes[1]) !== TOKEN_TYPE_BLIND_RSA) return undefined;
  const copy = new Uint8Array(bytes);
  return {
    nonce: copy.slice(2, 2 + NONCE_LENGTH),
    challengeDigest: copy.slice(2 + NONCE_LENGTH, 2 + NONCE_LENGTH + 32),
    tokenKeyId: copy.slice(2 + NONCE_LENGTH + 32, TOKEN_INPUT_LENGTH),
    tokenInput: copy.slice(0, TOKEN_INPUT_LENGTH),
    authenticator: copy.slice(TOKEN_INPUT_LENGTH),
  };
}

/** token_key_id = SHA-256(SPKI with the RSASSA-PSS OID), RFC 9578 §6.5. */
export async function tokenKeyIdOf(pssSpki: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", pssSpki));
}

/** The RFC 9578 §6.5 key encoding (RSASSA-PSS OID, SHA-384, salt 48) of an rsaEncryption SPKI. */
export function toPssSpki(rsaEncryptionSpki: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(util.convertEncToRSASSAPSS(rsaEncryptionSpki));
}
