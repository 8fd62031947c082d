/**
 * Reading the gateway's answer to one encapsulated request (docs/protocol.md §4–5): a clear-text refusal
 * before decapsulation, or a `200` whose encapsulated Binary HTTP response carries the real status. A
 * refused request's events are held until the whole answer has authenticated, and its error is raised with
 * the encapsulated (authenticated) `date`, the only clock source besides the signed key set.
 */
import { responseNonceLength } from "../crypto/mod.ts";
import {
  type ChatEvent,
  type ErrorCode,
  fieldValue,
  OHTTP_CHUNKED_RESPONSE_TYPE,
  OHTTP_RESPONSE_TYPE,
  parseHttpDate,
  readWholeResponse,
  responseCipher,
  type ResponseHead,
  ResponseIntegrityError,
  ResponseReader,
  type SealedRequest,
} from "../protocol/mod.ts";

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
}

/** Streams the events of one answer; throws GatewayRequestError or ResponseIntegrityError. */
export async function* readAnswer(response: Response, sealed: SealedRequest): AsyncIterable<ChatEvent> {
  const type = response.headers.get("content-type")?.split(";")[0].trim() ?? "";
  if (response.status !== 200) throw await _clearTextError(response);
  if (type !== (sealed.chunked ? OHTTP_CHUNKED_RESPONSE_TYPE : OHTTP_RESPONSE_TYPE) || !response.body) {
    await response.body?.cancel();
    throw new ResponseIntegrityError("malformed");
  }
  const nonceLength = responseNonceLength(sealed.header.aeadId);
  const cipherFor = async (nonce: Uint8Array) => (await responseCipher(sealed, nonce)).cipher;
  if (!sealed.chunked) {
    const whole = await readWholeResponse(
      new Uint8Array(await response.arrayBuffer()),
      nonceLength,
      cipherFor,
    );
    _throwIfRefused(whole.head, whole.events);
    yield* whole.events;
    return;
  }
  const reader = new ResponseReader(nonceLength, cipherFor);
  const held: ChatEvent[] = [];
  for await (const bytes of response.body) {
    for (const event of await reader.push(bytes)) {
      if (reader.head?.status === 200) yield event;
      else held.push(event);
    }
  }
  const last = await reader.end();
  if (reader.head?.status !== 200) _throwIfRefused(reader.head!, [...held, ...last]);
  yield* last;
}

/** A clear-text refusal (before decapsulation): anyone on the path could have written it. */
async function _clearTextError(response: Response): Promise<GatewayRequestError> {
  const body = await response.json().catch(() => ({}));
  // RFC 9458 §5.3: 422 with the ohttp-key problem type means "refetch the key configuration".
  const keyProblem = response.status === 422 && typeof body?.type === "string" &&
    body.type.endsWith("#ohttp-key");
  const code = keyProblem ? "unknown_key_id" : body?.error?.code ?? "internal_error";
  const retryAfter = Number(response.headers.get("retry-after") ?? "") || undefined;
  return new GatewayRequestError(code, response.status, retryAfter);
}

/** Throws the encapsulated refusal of a non-200 inner response. */
function _throwIfRefused(head: ResponseHead, events: ChatEvent[]): void {
  if (head.status === 200) return;
  const failure = events.find((e) => e.type === "error");
  if (failure?.type !== "error") throw new ResponseIntegrityError("malformed");
  const retryAfter = Number(fieldValue(head.fields, "retry-after") ?? "") || failure.retry_after;
  throw new GatewayRequestError(
    failure.code,
    head.status,
    retryAfter,
    failure.challenge,
    true,
    parseHttpDate(fieldValue(head.fields, "date")),
  );
}
