/**
 * Reading the gateway's answer to one encapsulated request (docs/protocol.md §4–5): a clear-text refusal
 * before decapsulation, or a `200` whose encapsulated Binary HTTP response carries the real status. A
 * refused request's events are held until the whole answer has authenticated, and its error is raised with
 * the encapsulated (authenticated) `date`, the only clock source besides the signed key set.
 */
import type { ChatEvent } from "../protocol/events.ts";
import { fieldValue, parseHttpDate } from "../protocol/inner_request.ts";
import { ResponseIntegrityError } from "../protocol/response_integrity_error.ts";
import { readWholeResponse, ResponseReader } from "../protocol/response_reader.ts";
import type { ResponseHead } from "../protocol/bhttp.ts";
import { GatewayRequestError } from "./errors.ts";
import { responseNonceLength, responseOpener, type SealedRequest } from "./ohttp_client.ts";
import type { ClientCrypto } from "./platform_crypto.ts";

export { GatewayRequestError };

/** RFC 9458 §9 and chunked-OHTTP §8 media types of the answer. */
const _RESPONSE_TYPE = "message/ohttp-res";
const _CHUNKED_RESPONSE_TYPE = "message/ohttp-chunked-res";

/** Streams the events of one answer; throws GatewayRequestError or ResponseIntegrityError. */
export async function* readAnswer(
  response: Response,
  sealed: SealedRequest,
  crypto: ClientCrypto,
): AsyncIterable<ChatEvent> {
  const type = response.headers.get("content-type")?.split(";")[0].trim() ?? "";
  if (response.status !== 200) throw await _clearTextError(response);
  if (type !== (sealed.chunked ? _CHUNKED_RESPONSE_TYPE : _RESPONSE_TYPE) || !response.body) {
    await response.body?.cancel();
    throw new ResponseIntegrityError("malformed");
  }
  const nonceLength = responseNonceLength(sealed.header.aeadId);
  const cipherFor = (nonce: Uint8Array) => responseOpener(crypto, sealed, nonce);
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
  // getReader(), not async iteration or pipeThrough: React Native (expo/fetch) and Safari lack those.
  const body = response.body.getReader();
  let ended = false;
  try {
    for (;;) {
      const { done, value } = await body.read().catch((error) => {
        // A connection lost mid-answer; an abort by the app stays an AbortError. The client never retries
        // once an event was delivered (client.ts chat()).
        if ((error as { name?: string })?.name === "AbortError") throw error;
        throw new GatewayRequestError("network_error", 0);
      });
      if (done) {
        ended = true;
        break;
      }
      for (const event of await reader.push(value)) {
        if (reader.head?.status === 200) yield event;
        else held.push(event);
      }
    }
  } finally {
    // Stops the download (and, once the connection closes, generation on the gateway) when the app stops
    // reading early or the answer failed its integrity check.
    if (!ended) await body.cancel().catch(() => {});
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
