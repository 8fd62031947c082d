/**
 * One client connection at the edge, from accept to close. `Deno.serve` has no head, body, idle or stall
 * timeouts and no connection limits (issue #10: a half-sent head was kept 70 s and counting), so the
 * edge accepts connections itself, reads each request under its bounds, hands it to the application in
 * process, and writes the answer (response_writer.ts), enforcing on the way:
 *
 *   accept ─ head (TLS handshake included) within headTimeoutMs, at most maxHeadBytes
 *          ─ body: complete within bodyTimeoutMs, and never slower than bodyMinBytesPerSecond on average
 *            after a grace period; collected whole (≤ maxBodyBytes) before the application sees it
 *          ─ answer: started within responseStartMs; every write to the client completes within
 *            stallTimeoutMs
 *          ─ one request per connection: the edge sends `connection: close`, so there is no idle
 *            keep-alive state to hold (a front proxy, deploy/caddy, offers keep-alive with its own timeouts)
 *
 * Refusals (400/408/411/413/417/431/505) are answered by the edge itself and the connection is closed at
 * once: the rest of a refused body is never read (finding 3). Bytes a client sends after its body are
 * discarded (never a second request), up to a small bound, then the connection is closed. A connection
 * that ends first (the client left, a deadline) cancels the answer being read, which is how the
 * application learns that a stream lost its reader.
 */
import { GatewayError } from "../protocol/mod.ts";
import type { EdgeConn } from "./node_socket_conn.ts";
import { edgeAnswer, headEnd, parseHead, REFUSAL_CODES } from "./request_head.ts";
import { writeResponse } from "./response_writer.ts";

/** The edge's per-connection limits (configuration: PG_HEAD_TIMEOUT_MS and friends). */
export interface ConnectionLimits {
  headTimeoutMs: number;
  maxHeadBytes: number;
  bodyTimeoutMs: number;
  bodyMinBytesPerSecond: number;
  stallTimeoutMs: number;
  maxBodyBytes: number;
  /** The application must start its answer within this (its queue wait plus its request deadline). */
  responseStartMs: number;
}

/** What the listener gives each connection besides its limits. */
export interface ConnectionHooks {
  onOutcome: (outcome: EdgeOutcome) => void;
  /** Time already spent since accept (an HTTPS handshake counts against the head's deadline). */
  elapsedMs?: number;
  /** Aborted when the listener's drain deadline has passed: the connection is closed at once. */
  force?: AbortSignal;
  /** Takes `bytes` from the process-wide budget of bodies being collected; false when it is spent. */
  reserveBody?: (bytes: number) => boolean;
  releaseBody?: (bytes: number) => void;
  /** Runs once when the connection ends. */
  onClose?: () => void;
  /** Runs once the whole request has arrived (the connection is no longer idle). */
  onRequest?: () => void;
}

/** Why the edge ended a connection early (metrics label). */
export type EdgeOutcome =
  | "head_timeout"
  | "body_timeout"
  | "body_too_slow"
  | "stalled"
  | "response_timeout"
  | "body_budget"
  | "refused_head"
  | "trailing_bytes";

/** A slow mobile network's first round trips, during which no body rate is demanded. */
const _BODY_GRACE_MS = 2_000;
/** Bytes a client may send after its request before the connection is closed (a stray CRLF is fine). */
const _TRAILING_LIMIT = 64 * 1024;
/**
 * A read this small before the request is complete is followed by a pause before the next one, doubling
 * from `_SMALL_READ_FIRST_PAUSE_MS` with every further small read up to `_SMALL_READ_MAX_PAUSE_MS`, so a
 * client sending one byte per segment costs ~5 reads a second and its bytes gather in the kernel instead.
 * Each read has a fixed cost in the runtime: 100 clients × 4 KiB in one-byte segments grew a bare Deno read
 * loop by 28 MiB, paced by 15 MiB; at a fixed 50 ms pause the same attack still took ~20 % of a core
 * (docs/benchmarks.md, "Edge attacks"). A real client's head and body arrive in one or two large reads.
 */
const _SMALL_READ_BYTES = 512;
const _SMALL_READ_FIRST_PAUSE_MS = 10;
const _SMALL_READ_MAX_PAUSE_MS = 200;
/** How long a refused client gets to read its answer before the connection is closed. */
const _LINGER_MS = 1_000;
const _encoder = new TextEncoder();
/** Scratch buffer for what a refused client still sends while its answer lingers. */
const _BUFFER_BYTES = 4 * 1024;
/** What the client may still send after its request is only watched for (and discarded). */
const _WATCH_BYTES = 1024;

/** The application, called once per connection with the whole request. */
export type Dispatch = (request: Request) => Response | Promise<Response>;

/** Serves one connection's request with `dispatch`; resolves when the connection is closed. */
export async function guardConnection(
  client: EdgeConn,
  dispatch: Dispatch,
  limits: ConnectionLimits,
  hooks: ConnectionHooks,
): Promise<void> {
  const { onOutcome } = hooks;
  const timer = new _Deadline(() => {
    onOutcome(
      phase === "head"
        ? "head_timeout"
        : phase === "body"
        ? bodyOutcome
        : answered
        ? "stalled"
        : "response_timeout",
    );
    if (phase === "sent") return closeAll();
    // The request loop may be inside a read of its own: answer, but do not drain.
    _answerAndClose(client, edgeAnswer(new GatewayError("request_timeout")), false).finally(closeAll);
  });
  let phase: "head" | "body" | "sent" = "head";
  let answered = false;
  let reserved = 0;
  let bodyOutcome: EdgeOutcome = "body_timeout";
  /** Stops reading the application's answer (set while one is read). */
  let cancelAnswer: (() => void) | undefined;
  let closed = false;
  const closeAll = () => {
    if (closed) return;
    closed = true;
    timer.dispose();
    hooks.onClose?.();
    hooks.force?.removeEventListener("abort", closeAll);
    if (reserved > 0) hooks.releaseBody?.(reserved);
    reserved = 0;
    try {
      client.close();
    } catch { /* already closed */ }
    cancelAnswer?.();
  };

  if (hooks.force?.aborted) return closeAll();
  hooks.force?.addEventListener("abort", closeAll, { once: true });
  try {
    const pace = _smallReadPacer();
    // Head: read until CRLFCRLF, within the deadline and the size bound.
    timer.arm(limits.headTimeoutMs - (hooks.elapsedMs ?? 0));
    let head: Uint8Array | undefined = new Uint8Array(limits.maxHeadBytes);
    let filled = 0;
    let end = -1;
    while (end < 0) {
      if (filled === head.length) return await _refuse(client, 431, onOutcome, timer);
      const n = await client.read(head.subarray(filled));
      if (n === null) return closeAll();
      end = headEnd(head, filled + n, filled);
      filled += n;
      if (end < 0) await pace(n);
    }
    // Neither the head buffer (maxHeadBytes) nor the body is kept for the connection's life: each open
    // stream held them (docs/benchmarks.md, "Memory per open stream").
    let early: Uint8Array | undefined = head.slice(end, filled);
    const parsed = parseHead(head.subarray(0, end), limits.maxBodyBytes);
    head = undefined;
    if (typeof parsed === "number") return await _refuse(client, parsed, onOutcome, timer);

    // Body: collected whole (it is bounded by maxBodyBytes), timed, then handed over in one write, so
    // the application never sees a slow body nor a body in thousands of tiny pieces.
    phase = "body";
    // Bodies are held whole until complete: their sum is bounded, whatever the number of connections.
    if (parsed.contentLength > 0 && hooks.reserveBody) {
      if (!hooks.reserveBody(parsed.contentLength)) {
        timer.clear();
        onOutcome("body_budget");
        return await _answerAndClose(
          client,
          edgeAnswer(new GatewayError("overloaded", { retryAfterSeconds: 1 })),
        );
      }
      reserved = parsed.contentLength;
    }
    // RFC 9110 §10.1.1: an HTTP/1.0 request's expectation is ignored.
    if (parsed.expectsContinue && !parsed.http10 && parsed.contentLength > early.byteLength) {
      await _writeAll(client, _encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    const bodyStarted = Date.now();
    let body: Uint8Array<ArrayBuffer> | undefined = new Uint8Array(parsed.contentLength);
    let received = Math.min(early.byteLength, parsed.contentLength);
    body.set(early.subarray(0, received));
    const alreadyTrailing = Math.max(0, early.byteLength - parsed.contentLength);
    early = undefined;
    const armBody = () => {
      const byRate = _BODY_GRACE_MS + (received / limits.bodyMinBytesPerSecond) * 1000;
      const byTotal = limits.bodyTimeoutMs;
      bodyOutcome = byRate < byTotal ? "body_too_slow" : "body_timeout";
      timer.arm(Math.min(byRate, byTotal) - (Date.now() - bodyStarted));
    };
    while (received < body.length) {
      armBody();
      const n = await client.read(body.subarray(received));
      if (n === null) return closeAll();
      received += n;
      if (received < body.length) await pace(n);
    }
    phase = "sent";
    hooks.onRequest?.();
    timer.arm(limits.responseStartMs);
    const request = parsed.toRequest(body);
    // Handed over: the body's memory now belongs to the application (which has its own bound), and this
    // connection no longer holds it.
    body = undefined;
    if (reserved > 0) hooks.releaseBody?.(reserved);
    reserved = 0;
    if (!request) return await _refuse(client, 400, onOutcome, timer);
    const buffer = new Uint8Array(_WATCH_BYTES);

    // While the application works and answers: watch for the client leaving (its disconnect cancels the
    // answer, and the application's signal for this connection fires through onClose).
    const watch = (async () => {
      let trailing = alreadyTrailing;
      while (trailing <= _TRAILING_LIMIT) {
        const n = await client.read(buffer);
        if (n === null) break;
        trailing += n;
      }
      if (trailing > _TRAILING_LIMIT) onOutcome("trailing_bytes");
      closeAll();
    })().catch(closeAll);
    const answer = (async () => {
      let response: Response;
      try {
        response = await dispatch(request);
      } catch {
        // The application maps its own errors; anything escaping it is answered without detail.
        response = Response.json(new GatewayError("internal_error").toBody(), { status: 500 });
      }
      if (closed) return void await response.body?.cancel().catch(() => {});
      answered = true;
      await writeResponse(response, { method: request.method, http10: parsed.http10 }, {
        write: async (bytes) => {
          timer.arm(limits.stallTimeoutMs);
          await _writeAll(client, bytes);
          timer.clear();
        },
        setCancel: (cancel) => {
          cancelAnswer = cancel;
          // The connection ended while the answer was being set up: stop it at once.
          if (closed) cancel?.();
        },
      });
    })().catch(closeAll);
    await Promise.race([answer, watch]);
  } catch {
    // A reset or a write to a closed socket: the connection is over either way.
  } finally {
    closeAll();
  }
}

async function _refuse(
  client: EdgeConn,
  status: keyof typeof REFUSAL_CODES,
  onOutcome: (outcome: EdgeOutcome) => void,
  timer: _Deadline,
): Promise<void> {
  timer.clear();
  onOutcome("refused_head");
  await _answerAndClose(client, edgeAnswer(new GatewayError(REFUSAL_CODES[status])));
}

/**
 * Writes a short answer, stops sending, and discards a bounded amount of what the client still sends
 * for a short while before closing: closing with unread data makes the kernel send a reset, which can
 * destroy the answer before the client reads it (the "lingering close" of RFC 9112 §9.6).
 */
async function _answerAndClose(conn: EdgeConn, bytes: Uint8Array, drain = true): Promise<void> {
  const limit = AbortSignal.timeout(_LINGER_MS);
  const until = new Promise<void>((resolve) => limit.addEventListener("abort", () => resolve()));
  try {
    await Promise.race([_writeAll(conn, bytes), until]);
    if (limit.aborted || !drain) return;
    await conn.closeWrite();
    const sink = new Uint8Array(_BUFFER_BYTES);
    let drained = 0;
    while (drained < _TRAILING_LIMIT && !limit.aborted) {
      const n = await Promise.race([conn.read(sink), until.then(() => null)]);
      if (n === null) break;
      drained += n;
    }
  } catch {
    // The client is gone.
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** A pacer for one connection's small reads (see _SMALL_READ_BYTES). */
function _smallReadPacer(): (n: number) => Promise<void> | undefined {
  let small = 0;
  return (n) => {
    if (n >= _SMALL_READ_BYTES) return undefined;
    const pause = Math.min(_SMALL_READ_MAX_PAUSE_MS, _SMALL_READ_FIRST_PAUSE_MS * 2 ** small++);
    return new Promise((resolve) => setTimeout(resolve, pause));
  };
}

async function _writeAll(conn: EdgeConn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/**
 * One lazily re-armed timer per connection. Re-arming on every read (a one-byte body is thousands of
 * reads) churned timers: measured +100 MiB RSS for 100 such bodies. Here `arm` only moves the deadline;
 * the single pending timer, when it fires early, sleeps again until the deadline it finds.
 */
class _Deadline {
  #id: ReturnType<typeof setTimeout> | undefined;
  #at = Infinity;
  #firesAt = Infinity;
  #expired = false;
  #onExpire: () => void;

  constructor(onExpire: () => void) {
    this.#onExpire = onExpire;
  }

  /** (Re)sets the deadline to `ms` from now; after it has expired once, nothing re-arms it. */
  arm(ms: number): void {
    if (this.#expired) return;
    this.#at = Date.now() + Math.max(0, ms);
    if (this.#id === undefined || this.#firesAt > this.#at) this.#schedule();
  }

  /** Stops the clock; the pending timer, if any, finds no deadline and ends. */
  clear(): void {
    this.#at = Infinity;
  }

  /** Removes the pending timer for good (the connection is closed); nothing re-arms it afterwards. */
  dispose(): void {
    this.#expired = true;
    this.#at = Infinity;
    if (this.#id !== undefined) clearTimeout(this.#id);
    this.#id = undefined;
  }

  #schedule(): void {
    if (this.#id !== undefined) clearTimeout(this.#id);
    this.#firesAt = this.#at;
    this.#id = setTimeout(() => this.#fire(), Math.max(0, this.#at - Date.now()));
  }

  #fire(): void {
    this.#id = undefined;
    if (this.#at === Infinity) return;
    if (this.#at > Date.now()) return this.#schedule();
    this.#at = Infinity;
    this.#expired = true;
    this.#onExpire();
  }
}
