/**
 * The token module's one error type, mapped to HTTP here. The codes are meant to join the gateway's
 * `GatewayError` codes (src/protocol/errors.ts, owned by the protocol rewrite) when the lead wires tokens in:
 * `challenge_required`, `rate_limited` and `overloaded` exist there already; `attestation_required`,
 * `attestation_invalid`, `invalid_token_request`, `token_invalid`, `token_key_retired` and `token_spent` are new.
 * Every token failure that involves cryptography is one code (`token_invalid`): no hint of which check failed.
 */

/** Stable codes and their HTTP statuses. */
export const TOKEN_ERROR_CODES = {
  invalid_token_request: 400,
  attestation_required: 401,
  attestation_invalid: 401,
  challenge_required: 428,
  rate_limited: 429,
  token_invalid: 401,
  token_key_retired: 401,
  token_spent: 401,
  overloaded: 503,
} as const;

/** One of the token error codes. */
export type TokenErrorCode = keyof typeof TOKEN_ERROR_CODES;

/** Codes that mean "this token is unusable, drop it and spend another" (the wallet's retry-once case). */
export const TOKEN_REJECTION_CODES: ReadonlySet<string> = new Set<TokenErrorCode>([
  "token_invalid",
  "token_key_retired",
  "token_spent",
]);

const _MESSAGES: Record<TokenErrorCode, string> = {
  invalid_token_request: "Send well-formed token requests for the current token key, within the batch limit",
  attestation_required: "Prove the device: answer the attestation challenge",
  attestation_invalid: "Prove the device again: the attestation was not accepted",
  challenge_required: "Solve the proof-of-work challenge and retry",
  rate_limited: "Slow down: this device has used its tokens for now",
  token_invalid: "Use a token issued by this gateway",
  token_key_retired: "Refetch the key set: this token key is retired",
  token_spent: "Use another token: this one was already spent",
  overloaded: "Retry later: the gateway cannot check tokens right now",
};

/** A refusal with a stable code; the message is fixed per code, so no input is echoed back. */
export class TokenError extends Error {
  readonly code: TokenErrorCode;
  readonly status: number;
  readonly retryAfterSeconds?: number;
  /** For `attestation_required` / `challenge_required`: what the client must answer. */
  readonly challenge?: { token: string; difficulty?: number };

  constructor(
    code: TokenErrorCode,
    options: { retryAfterSeconds?: number; challenge?: { token: string; difficulty?: number } } = {},
  ) {
    super(_MESSAGES[code]);
    this.name = "TokenError";
    this.code = code;
    this.status = TOKEN_ERROR_CODES[code];
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.challenge = options.challenge;
  }

  /** The JSON body, in the gateway's error shape plus the challenge when there is one. */
  toBody(): {
    error: { code: TokenErrorCode; message: string };
    challenge?: { token: string; difficulty?: number };
  } {
    return {
      error: { code: this.code, message: this.message },
      ...(this.challenge ? { challenge: this.challenge } : {}),
    };
  }
}

/**
 * An issuer answer that does not finalize into a valid token: forged, or a tag for one user (the SDK's
 * `errorKind` says `integrity`, never a server hiccup to retry).
 */
export function tokenIntegrityError(detail: string): Error {
  const error = new Error(`Cannot finalize the token: ${detail}`);
  error.name = "TokenIntegrityError";
  return error;
}
