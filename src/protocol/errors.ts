/**
 * The one error type of the gateway. Every failure a client can see has a stable `code` and an HTTP
 * `status`; the message is fixed per code, so no input is ever echoed back. Crypto failures share one
 * code (`decryption_failed`) and never say which step failed.
 *
 * Before decapsulation only the statuses RFC 9458 §5.2–5.3 allows go out in the clear (400, 415, 422 with
 * the `ohttp-key` problem type, and the edge's generic 408/411/413/429/431/505). After it the outer answer
 * is always 200 and `status` is the inner Binary HTTP response's status.
 */

/** Stable error codes and their HTTP statuses. */
export const ERROR_CODES = {
  // Before decapsulation: sent in the clear.
  malformed_request: 400,
  unsupported_suite: 422,
  unknown_key_id: 422,
  replayed_request: 400,
  decryption_failed: 400,
  request_too_large: 413,
  request_timeout: 408,
  length_required: 411,
  expectation_failed: 417,
  request_head_too_large: 431,
  unsupported_http_version: 505,
  unsupported_media_type: 415,
  not_found: 404,
  method_not_allowed: 405,
  ip_rate_limited: 429,
  // After decapsulation: the status of the encapsulated (inner) response.
  stale_request: 400,
  invalid_message: 400,
  invalid_utf8: 400,
  invalid_json: 400,
  invalid_request: 422,
  device_proof_invalid: 401,
  // Privacy Pass (docs/privacy-pass.md): a chat token, and the issuance endpoint's refusals.
  token_invalid: 401,
  token_key_retired: 401,
  token_spent: 401,
  attestation_required: 401,
  attestation_invalid: 401,
  invalid_token_request: 400,
  context_too_long: 422,
  rate_limited: 429,
  overloaded: 503,
  challenge_required: 428,
  upstream_unavailable: 503,
  upstream_error: 502,
  upstream_rejected: 502,
  upstream_timeout: 504,
  shutting_down: 503,
  internal_error: 500,
} as const;

/** One of the stable error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

const _MESSAGES: Record<ErrorCode, string> = {
  malformed_request: "Send a well-formed encapsulated request",
  unsupported_suite: "Refetch the key configuration: use a suite it offers",
  unknown_key_id: "Refetch the key configuration: the key id is unknown or retired",
  stale_request: "Check the device clock: the request Date is outside the accepted window",
  invalid_message: "Encode the request as Binary HTTP (RFC 9292)",
  replayed_request: "Send a fresh request: this one was already received",
  decryption_failed: "Seal the request to a published key",
  request_too_large: "Send a smaller request",
  request_timeout: "Send the whole request promptly: the connection was too slow or idle",
  length_required: "Send the body with a Content-Length, not Transfer-Encoding",
  expectation_failed: "Send no Expect field, or Expect: 100-continue",
  request_head_too_large: "Send a smaller request head",
  unsupported_http_version: "Use HTTP/1.1",
  unsupported_media_type: "Send the request as message/ohttp-req or message/ohttp-chunked-req",
  not_found: "Use a documented route",
  method_not_allowed: "Use the documented method for this route",
  ip_rate_limited: "Slow down: too many requests from this network",
  invalid_utf8: "Encode the request as UTF-8",
  invalid_json: "Encode the request as JSON",
  invalid_request: "Fix the chat request: it does not match the schema",
  device_proof_invalid: "Sign the request with the device key it names",
  token_invalid: "Use a token issued by this gateway",
  token_key_retired: "Refetch the key set: this token key is retired",
  token_spent: "Use another token: this one was already spent",
  attestation_required: "Prove the device: answer the attestation challenge",
  attestation_invalid: "Prove the device again: the attestation was not accepted",
  invalid_token_request: "Send well-formed token requests for the current token key, within the batch limit",
  context_too_long: "Shorten the conversation: it does not fit the model's context",
  rate_limited: "Slow down: too many requests from this device",
  overloaded: "Retry later: the gateway is at capacity",
  challenge_required: "Solve the proof-of-work challenge and retry",
  upstream_unavailable: "Retry later: no inference backend is ready",
  upstream_error: "Retry: the inference backend failed",
  upstream_rejected: "Change the request: the inference backend refused it",
  upstream_timeout: "Retry: the inference backend timed out",
  shutting_down: "Retry: the gateway is shutting down",
  internal_error: "Retry later: the gateway failed unexpectedly",
};

/** A failure with a stable code; `detail` is a fixed, input-free hint (e.g. a schema path). */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail?: string;
  readonly retryAfterSeconds?: number;
  /** For `challenge_required`: the proof-of-work challenge to solve. */
  readonly challenge?: { token: string; difficulty: number };

  constructor(
    code: ErrorCode,
    options: {
      detail?: string;
      retryAfterSeconds?: number;
      challenge?: { token: string; difficulty: number };
    } = {},
  ) {
    super(_MESSAGES[code]);
    this.name = "GatewayError";
    this.code = code;
    this.status = ERROR_CODES[code];
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.challenge = options.challenge;
  }

  /** The JSON body shape used in the clear and inside encrypted error events. */
  toBody(): { error: { code: ErrorCode; message: string; detail?: string } } {
    return {
      error: { code: this.code, message: this.message, ...(this.detail ? { detail: this.detail } : {}) },
    };
  }
}

/** Maps anything thrown to a {@link GatewayError}; unknown failures become `internal_error`. */
export function toGatewayError(error: unknown): GatewayError {
  return error instanceof GatewayError ? error : new GatewayError("internal_error");
}
