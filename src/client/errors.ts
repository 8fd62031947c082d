/**
 * The SDK's errors. Three classes keep their own detail (GatewayRequestError: the gateway's stable `code`;
 * ResponseIntegrityError: a tampered, truncated or malformed stream; KeyVerificationError: the pin or the
 * signed key set), and {@link errorKind} folds any of them into the few cases an app acts on.
 */
import type { ErrorCode } from "../protocol/errors.ts";
import { ResponseIntegrityError } from "../protocol/response_integrity_error.ts";

/**
 * Failures the client detects itself: `network_error` (no answer), `auth_mode_mismatch` (the signed key
 * set's `auth` is not the one the app asked for, or a gateway once seen in token mode now says `device`).
 */
export type ClientErrorCode = "network_error" | "auth_mode_mismatch";

/** A failure reported by the gateway (or detected by the client), with its stable code. */
export class GatewayRequestError extends Error {
  /**
   * `status` is the encapsulated response's status when `encapsulated`, else the clear-text HTTP status.
   * `serverDate` is the gateway's `Date` (Unix seconds) from an encapsulated answer, never from clear text.
   */
  constructor(
    readonly code: ErrorCode | ClientErrorCode,
    readonly status: number,
    readonly retryAfterSeconds?: number,
    readonly challenge?: { token: string; difficulty: number },
    readonly encapsulated = false,
    readonly serverDate?: number,
  ) {
    super(`Gateway refused the request: ${code} (HTTP ${status})`);
    this.name = "GatewayRequestError";
  }

  /** Seconds to wait before asking again, when the gateway said so. */
  get retryAfter(): number | undefined {
    return this.retryAfterSeconds;
  }
}

/** What the app does about an error (each maps to one screen state in examples/expo-chat). */
export type ErrorKind =
  /** No connection or the gateway is unreachable: offer to retry. */
  | "network"
  /** The gateway's keys rotated or its key set failed verification twice: retry later, update the app if it persists. */
  | "key_rotation"
  /** The pinned identity does not match: never retry; the app (or the network) is misconfigured. */
  | "pin_mismatch"
  /** Too many requests: wait `retryAfter` seconds. */
  | "rate_limited"
  /** A proof-of-work or attestation challenge the SDK could not satisfy. */
  | "challenge"
  /** The answer was altered, cut or malformed on the way: discard what was shown of it. */
  | "integrity"
  /** The request itself was refused (too long, invalid, token problems). */
  | "refused"
  /** The gateway or its model failed, or it is shutting down: retry later. */
  | "server"
  /** The app cancelled (AbortSignal). */
  | "aborted"
  /** The gateway's signed auth mode (device or token) is not what the app expects: update the app. */
  | "auth_mode";

const _KINDS: Partial<Record<ErrorCode | ClientErrorCode, ErrorKind>> = {
  network_error: "network",
  auth_mode_mismatch: "auth_mode",
  unknown_key_id: "key_rotation",
  unsupported_suite: "key_rotation",
  token_key_retired: "key_rotation",
  rate_limited: "rate_limited",
  ip_rate_limited: "rate_limited",
  challenge_required: "challenge",
  attestation_required: "challenge",
  attestation_invalid: "challenge",
  decryption_failed: "integrity",
  internal_error: "server",
  overloaded: "server",
  upstream_unavailable: "server",
  upstream_error: "server",
  upstream_rejected: "server",
  upstream_timeout: "server",
  shutting_down: "server",
};

/** The kind of any error the SDK throws (anything unknown counts as `server`). */
export function errorKind(error: unknown): ErrorKind {
  if (error instanceof GatewayRequestError) return _KINDS[error.code] ?? "refused";
  if (error instanceof ResponseIntegrityError) return "integrity";
  const name = (error as { name?: string } | null)?.name;
  if (name === "AbortError" || name === "TimeoutError") return "aborted";
  if (name === "KeyVerificationError") {
    const reason = (error as { reason?: string }).reason;
    if (reason === "pin_mismatch") return "pin_mismatch";
    // A key set that fails its signature or cannot be parsed, under the right pin, is forged or broken:
    // never something to wait out (review of issue 16, finding 6).
    if (reason === "bad_signature" || reason === "malformed") return "integrity";
    return "key_rotation";
  }
  // An issuer answer whose blind signature does not verify is forged or tagging, not a server hiccup.
  if (name === "TokenIntegrityError") return "integrity";
  return "server";
}
