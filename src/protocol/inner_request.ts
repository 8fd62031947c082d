/**
 * The chat request inside the encryption: a Binary HTTP request (RFC 9292), padded to a bucket
 * (padding.ts), carrying what v1 showed in the clear (RFC 9458 §6.5: `Date` belongs inside):
 *
 *   POST https://{authority}/api/chat
 *   date: <IMF-fixdate, RFC 9110 §5.6.7>        freshness (replay_guard.ts)
 *   request-id: <base64url, 16 bytes>           optional; only hashed into traces
 *   content-type: application/json
 *   <JSON chat request (chat_request.ts)>
 *
 * The authority is the app's choice and is not interpreted (it is encrypted and the gateway serves one
 * resource). Any other method or path gets an encapsulated 405 or 404.
 */
import { utf8 } from "../crypto/bytes.ts";
import { decodeRequest, encodeRequest, type Field } from "./bhttp.ts";
import { GatewayError } from "./errors.ts";
import { padToBucket } from "./padding.ts";

/** The path of the chat resource inside the encapsulated request. */
export const CHAT_PATH = "/api/chat";

/** What the gateway needs from an opened request. */
export interface InnerRequest {
  /** The `Date` field as Unix seconds; undefined when absent or not an IMF-fixdate. */
  date?: number;
  requestId?: string;
  content: Uint8Array;
}

/** Formats Unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`). */
export function formatHttpDate(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toUTCString();
}

const _IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Parses an IMF-fixdate strictly; undefined for anything else. */
export function parseHttpDate(text: string | undefined): number | undefined {
  if (text === undefined || !_IMF_FIXDATE.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

/** The value of the first field named `name`. */
export function fieldValue(fields: Field[], name: string): string | undefined {
  return fields.find(([n]) => n === name)?.[1];
}

/** Client side: the padded Binary HTTP chat request. */
export function encodeChatRequest(
  body: Uint8Array,
  options: { nowSeconds: number; requestId?: string; authority?: string },
): Uint8Array<ArrayBuffer> {
  const fields: Field[] = [["date", formatHttpDate(options.nowSeconds)]];
  if (options.requestId) fields.push(["request-id", options.requestId]);
  fields.push(["content-type", "application/json"]);
  const message = encodeRequest({
    method: "POST",
    scheme: "https",
    authority: options.authority ?? "",
    path: CHAT_PATH,
    fields,
    content: body,
    trailers: [],
  });
  const padded = padToBucket(message);
  message.fill(0);
  return padded;
}

/** Gateway side: decodes the Binary HTTP request and checks it is a chat request. */
export function readInnerRequest(plaintext: Uint8Array): InnerRequest {
  const { message } = decodeRequest(plaintext);
  if (message.path !== CHAT_PATH) throw new GatewayError("not_found");
  if (message.method !== "POST") throw new GatewayError("method_not_allowed");
  return {
    date: parseHttpDate(fieldValue(message.fields, "date")),
    requestId: fieldValue(message.fields, "request-id"),
    content: message.content,
  };
}

/** The JSON text of a chat request body, as the SDK sends it. */
export function jsonBody(value: unknown): Uint8Array<ArrayBuffer> {
  return utf8(JSON.stringify(value));
}
