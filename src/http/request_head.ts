/**
 * The edge's view of an HTTP/1.1 request head (RFC 9112 §2–§6), just enough to bound a connection and to
 * hand the request to the application:
 *
 *   head = request-line CRLF *( field-line CRLF ) CRLF        (at most `maxHeadBytes`)
 *
 * The edge needs the body's length to know when the request is complete, so it can time the head and the
 * body separately, and it refuses what it cannot bound:
 * - `Transfer-Encoding` is refused (411): a body must declare its `Content-Length`, so its end is known
 *   without parsing chunk framing here and a body of one-byte chunks cannot exist (issue #10, finding 1).
 * - `Content-Length` must be one decimal number (repeated identical values are merged, RFC 9110 §8.6);
 *   anything else is refused (400).
 * - The request target must be in origin form (`/path?query`) or absolute form (RFC 9112 §3.2); the
 *   application sees only its path and query, on a fixed origin (never the client's Host).
 */
import type { ErrorCode, GatewayError } from "../protocol/mod.ts";

/** A request head the edge accepted. */
export interface RequestHead {
  /** Bytes of the head, including the final empty line. */
  length: number;
  /** Declared body length (0 when absent). */
  contentLength: number;
  /** The client waits for `100 Continue` before sending its body (RFC 9110 §10.1.1). */
  expectsContinue: boolean;
  /** HTTP/1.0: the answer's body is delimited by the connection's close (no chunked coding in 1.0). */
  http10: boolean;
  /**
   * The request for the application, with `body` (the whole body, collected by the edge; dropped for GET
   * and HEAD, which cannot carry one in a Request), or undefined when the runtime refuses the method or a
   * field (CONNECT, TRACE): the edge answers 400.
   */
  toRequest(body: Uint8Array<ArrayBuffer> | undefined): Request | undefined;
}

/** The application's origin: requests are routed by path only, and a client's Host is never trusted. */
const _ORIGIN = "http://gateway.invalid";

/** Why a head was refused: the HTTP status the edge answers with, then closes. */
export type HeadRefusal = 400 | 411 | 413 | 417 | 431 | 505;

const _CRLF_CRLF = [13, 10, 13, 10];
const _latin1 = new TextDecoder("latin1");
const _encoder = new TextEncoder();

/** Index just past the head's final CRLFCRLF in `bytes[0..length)`, or -1 while it is incomplete. */
export function headEnd(bytes: Uint8Array, length: number, from = 0): number {
  for (let i = Math.max(0, from - 3); i + 3 < length; i++) {
    if (
      bytes[i] === _CRLF_CRLF[0] && bytes[i + 1] === _CRLF_CRLF[1] && bytes[i + 2] === _CRLF_CRLF[2] &&
      bytes[i + 3] === _CRLF_CRLF[3]
    ) return i + 4;
  }
  return -1;
}

/**
 * Any control character but HTAB, anywhere in the head: a bare LF is a line break to some parsers (RFC 9112
 * §2.2 lets a recipient accept it) but not to a CRLF splitter, so `X: a\nContent-Length: 1` once hid a body
 * from the edge when hyper parsed the head behind it (review of issue #10's edge); a front proxy may still.
 */
// deno-lint-ignore no-control-regex -- matching control bytes is the point here
const _CONTROL = /[\x00-\x08\x0A-\x1F\x7F]/;
const _TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses a complete head (`bytes` ends with CRLFCRLF); a refusal is a status to answer with. */
export function parseHead(bytes: Uint8Array, maxBodyBytes: number): RequestHead | HeadRefusal {
  const text = _latin1.decode(bytes);
  const lines = text.slice(0, -4).split("\r\n");
  if (lines.some((line) => _CONTROL.test(line))) return 400;
  const requestLine = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(lines[0]);
  if (!requestLine) return 400;
  if (requestLine[3] !== "1" || (requestLine[4] !== "0" && requestLine[4] !== "1")) return 505;
  const path = _originPath(requestLine[2]);
  if (path === undefined) return 400;
  let contentLength: string | undefined;
  let expectsContinue = false;
  const kept: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    // No field name, a name that is not a token (whitespace before the colon, RFC 9112 §5.1, obsolete
    // line folding, odd bytes): refuse.
    if (colon <= 0 || !_TOKEN.test(line.slice(0, colon))) return 400;
    const name = line.slice(0, colon).toLowerCase();
    // Only SP and HTAB are whitespace around a value (RFC 9110 §5.5); JavaScript's trim() would also strip
    // NBSP and NEL.
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (name === "transfer-encoding") return 411;
    // The edge answers `Expect: 100-continue` itself (it collects the body before the application sees
    // the request), so the field is not passed on; any other expectation cannot be met (RFC 9110 §10.1.1).
    if (name === "expect") {
      if (value.toLowerCase() !== "100-continue") return 417;
      expectsContinue = true;
      continue;
    }
    kept.push([name, value]);
    if (name === "content-length") {
      // One decimal number; a repeated identical line is accepted (RFC 9110 §8.6), a list is not.
      if (!/^\d{1,15}$/.test(value) || (contentLength !== undefined && contentLength !== value)) return 400;
      contentLength = value;
    }
  }
  const declared = contentLength === undefined ? 0 : Number(contentLength);
  if (declared > maxBodyBytes) return 413;
  return {
    length: bytes.length,
    contentLength: declared,
    expectsContinue,
    http10: requestLine[4] === "0",
    toRequest(body: Uint8Array<ArrayBuffer> | undefined): Request | undefined {
      const method = requestLine[1];
      try {
        const headers = new Headers();
        // Values are ByteStrings read as latin1: obs-text bytes arrive unchanged, as they were sent.
        for (const [name, value] of kept) headers.append(name, value);
        const bodyless = method === "GET" || method === "HEAD" || !body || body.byteLength === 0;
        return new Request(_ORIGIN + path, { method, headers, body: bodyless ? null : body });
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * The path and query of an origin-form or absolute-form target (RFC 9112 §3.2), else undefined. A target
 * is ASCII (non-ASCII is percent-encoded by clients): raw bytes above 0x7F are refused rather than read
 * as latin1 and encoded again.
 */
function _originPath(target: string): string | undefined {
  if (/[^\x21-\x7e]/.test(target)) return undefined;
  if (target.startsWith("/")) return target;
  if (!/^https?:\/\//i.test(target)) return undefined;
  try {
    const url = new URL(target);
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}

/** The stable error code the edge answers each refusal with. */
export const REFUSAL_CODES = {
  400: "malformed_request",
  411: "length_required",
  413: "request_too_large",
  417: "expectation_failed",
  431: "request_head_too_large",
  505: "unsupported_http_version",
} as const satisfies Record<HeadRefusal, ErrorCode>;

/** A complete HTTP/1.1 error answer, in the gateway's one JSON shape, that the edge writes before closing. */
export function edgeAnswer(error: GatewayError): Uint8Array {
  const body = JSON.stringify(error.toBody());
  return _encoder.encode(
    `HTTP/1.1 ${error.status} ${error.code}\r\ncontent-type: application/json\r\ncache-control: no-store\r\n` +
      `connection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
  );
}
