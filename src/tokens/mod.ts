/**
 * Privacy Pass (RFC 9576/9577/9578) publicly verifiable tokens, type 0x0002 (Blind RSA 2048): issuer keys
 * with rotation, issuance with limits and attesters, redemption with a double-spend set, the issuance
 * endpoint, and the client's wallet. See docs/privacy-pass.md for what each side can link.
 */
export { fromBase64Url, toBase64Url } from "./base64url.ts";
export { blindTokenRequest, type PendingToken } from "./blinding.ts";
export { IssuerKey, type IssuerKeyRecord, MODULUS_BITS } from "./issuer_key.ts";
export {
  IssuerKeys,
  type KeyScheduleOptions,
  type PublicTokenKey,
  type RedemptionKeys,
} from "./issuer_keys.ts";
export {
  Redeemer,
  type RedeemerOptions,
  type RedemptionOutcome,
  type Spend,
  type SpentSet,
} from "./redeemer.ts";
export { TOKEN_ERROR_CODES, TOKEN_REJECTION_CODES, TokenError, type TokenErrorCode } from "./token_error.ts";
export {
  gatewayChallenge,
  NK,
  parseToken,
  parseTokenRequest,
  TOKEN_LENGTH,
  TOKEN_REQUEST_LENGTH,
  TOKEN_TYPE_BLIND_RSA,
} from "./wire.ts";
export {
  type Attestation,
  type AttestationContext,
  type Attester,
  DeviceKeyAttester,
  ISSUANCE_PROOF_LABEL,
  ProofOfWorkAttester,
} from "./attester.ts";
export {
  type IssuanceContext,
  type IssuanceLimits,
  type IssuanceOutcome,
  Issuer,
  type IssuerOptions,
} from "./issuer.ts";
export { issuanceHandler, type IssuanceHandlerOptions } from "./issuance_handler.ts";
export {
  type IssueBatch,
  MemoryTokenStore,
  type StoredToken,
  type TokenStore,
  TokenWallet,
  type WalletOptions,
} from "./wallet.ts";
