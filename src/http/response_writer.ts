/**
 * Writes the application's `Response` on the client connection as HTTP/1.1 (RFC 9112 §4–§7), the edge
 * being the only HTTP server (connection_guard.ts):
 *
 *   status-line CRLF *( field-line CRLF ) CRLF body
 *   status-line = "HTTP/1.1" SP status SP reason
 *   body        = exactly content-length bytes                    (every answer but a stream)
 *               | *( hex-size CRLF data CRLF ) "0" CRLF CRLF      (a stream, to an HTTP/1.1 client)
 *
 * Streams are the encrypted chat answers (`message/ohttp-chunked-res`, and `text/event-stream` in
 * general): each piece the application produces leaves as one chunk in one write, at once. Every other
 * answer is small and produced whole by the application (JSON, the key set, metrics): it is collected
 * and sent with its length in one write. `connection: close` is always sent: one request per connection
 * (connection_guard.ts). A body that fails mid-way ends the connection without the final chunk, so the
 * client sees a truncated answer, never a complete-looking one.
 *
 * Why not `Deno.serve` behind the edge (as before): the edge already owns the socket, the head and the
 * body; relaying through a second HTTP server on a UNIX socket cost a connection, hyper's parsing and
 * serialisation and a second copy of every chunk (docs/benchmarks.md, "The edge hands requests over in
 * process").
 */
import { STATUS_CODES } from "node:http";
import { concat } from "../crypto/mod.ts";
import { formatHttpDate } from "../protocol/mod.ts";

/** Where the answer goes: each write completes (or fails) before the next; `onCancel` is set while reading. */
export interface ResponseSink {
  write(bytes: Uint8Array): Promise<void>;
  /** Registers how to stop reading the body when the connection ends first (undefined: nothing to stop). */
  setCancel(cancel: (() => void) | undefined): void;
}

/** Content types streamed piece by piece; every other answer is sent whole, with its length. */
const _STREAMED = new Set(["message/ohttp-chunked-res", "text/event-stream"]);
/** Fields the edge writes itself (framing and connection management, RFC 9110 §7.6.1). */
const _OWN_FIELDS = new Set(["connection", "content-length", "transfer-encoding", "keep-alive", "date"]);
const _encoder = new TextEncoder();
const _CRLF = _encoder.encode("\r\n");
const _LAST_CHUNK = _encoder.encode("0\r\n\r\n");

/**
 * Writes `response` for a request made with `method` (as the Request normalised it: `head` is `HEAD`),
 * whole for an HTTP/1.0 client (`http10`).
 */
export async function writeResponse(
  response: Response,
  request: { method: string; http10: boolean },
  sink: ResponseSink,
): Promise<void> {
  const status = response.status;
  // RFC 9110 §6.4.1: no body for HEAD, 1xx, 204 and 304.
  const bodyless = request.method === "HEAD" || status < 200 || status === 204 || status === 304;
  const type = (response.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (bodyless || response.body === null) {
    await response.body?.cancel();
    return await sink.write(_head(response, bodyless ? [] : ["content-length: 0"]));
  }
  // HTTP/1.0 has no chunked coding, and a body delimited by the close cannot tell a cut from an end: an
  // HTTP/1.0 client gets every answer whole, with its length.
  if (!_STREAMED.has(type) || request.http10) {
    const body = await _collect(response.body, sink);
    return await sink.write(concat(_head(response, [`content-length: ${body.byteLength}`]), body));
  }
  await _pump(response.body, sink, async (value) => {
    // An empty chunk would read as the last one.
    if (value.byteLength > 0) await sink.write(_chunk(value));
  }, () => sink.write(_head(response, ["transfer-encoding: chunked"])));
  await sink.write(_LAST_CHUNK);
}

/** Reads a whole (small, application-made) body; a connection that ends meanwhile cancels it. */
async function _collect(body: ReadableStream<Uint8Array>, sink: ResponseSink): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await _pump(body, sink, (value) => void parts.push(value));
  return concat(...parts);
}

/**
 * Reads `body` to its end, handing each piece to `onPiece` (after `start`). The reader and its cancel exist
 * before anything is written, so a client that leaves at any moment, the head's write included, cancels
 * the body (review of issue 15's edge, finding 1); a failed write cancels it too. A cancelled body throws:
 * what was read before the cancel is never taken for the whole answer.
 */
async function _pump(
  body: ReadableStream<Uint8Array>,
  sink: ResponseSink,
  onPiece: (value: Uint8Array) => void | Promise<void>,
  start?: () => Promise<void>,
): Promise<void> {
  const reader = body.getReader();
  let cancelled = false;
  sink.setCancel(() => {
    cancelled = true;
    reader.cancel().catch(() => {});
  });
  let ended = false;
  try {
    await start?.();
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      await onPiece(value);
    }
    ended = true;
  } finally {
    sink.setCancel(undefined);
    if (!ended) reader.cancel().catch(() => {});
  }
  if (cancelled) throw new Error("The answer was cancelled");
}

/** `hex-size CRLF data CRLF` in one buffer (a chunk per tick per stream: no text encoding, one copy). */
function _chunk(value: Uint8Array): Uint8Array {
  const size = value.byteLength.toString(16);
  const out = new Uint8Array(size.length + value.byteLength + 4);
  for (let i = 0; i < size.length; i++) out[i] = size.charCodeAt(i);
  out.set(_CRLF, size.length);
  out.set(value, size.length + 2);
  out.set(_CRLF, out.byteLength - 2);
  return out;
}

function _head(response: Response, framing: string[]): Uint8Array {
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ""}`];
  response.headers.forEach((value, name) => {
    if (!_OWN_FIELDS.has(name)) lines.push(`${name}: ${value}`);
  });
  lines.push(`date: ${_httpDate()}`, "connection: close", ...framing);
  return _encoder.encode(`${lines.join("\r\n")}\r\n\r\n`);
}

/** The Date field (RFC 9110 §6.6.1), formatted once per second. */
let _dateSecond = -1;
let _dateText = "";
function _httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== _dateSecond) {
    _dateSecond = second;
    _dateText = formatHttpDate(second);
  }
  return _dateText;
}
