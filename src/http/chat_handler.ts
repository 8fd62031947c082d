/**
 * `POST /api/chat`: the request path of the gateway, in order (README "Data flow"):
 *
 *   read body (bounded) → split header → check timestamp → open (HPKE) → record replay → parse request
 *   → admit (concurrency) → generate → coalesce → seal → SSE
 *
 * Before decryption, errors are plain JSON. From the moment the request is opened, every answer —
 * including errors — is sealed to the client. Once the stream has started, a failure becomes an encrypted
 * `error` event in the final chunk: the client never sees a silent stop.
 */
import type { CipherSuite } from "@hpke/core";
import type { KeyRing } from "../crypto/mod.ts";
import type { Generator } from "../inference/mod.ts";
import type { ConcurrencyLimit } from "../limits/mod.ts";
import {
  type ChatEvent,
  type chatRequestSchema,
  createCoalesceStream,
  createResponseCipher,
  createSealStream,
  GatewayError,
  type OpenedRequest,
  openRequest,
  parseChatRequest,
  type ReplayGuard,
  REQUEST_MEDIA_TYPE,
  RESPONSE_MEDIA_TYPE,
  sealWholeResponse,
  splitRequest,
  toGatewayError,
} from "../protocol/mod.ts";
import { readBodyLimited } from "./read_body.ts";

/** What the chat handler needs, passed in explicitly by main.ts. */
export interface ChatHandlerDeps {
  suite: CipherSuite;
  ring: KeyRing;
  replay: ReplayGuard;
  schema: ReturnType<typeof chatRequestSchema>;
  generator: Generator;
  streams: ConcurrencyLimit;
  nowSeconds: () => number;
  maxBodyBytes: number;
  tickMs: number;
  chunkSize: number;
  requestTimeoutMs: number;
  /** Aborted when the gateway shuts down past its drain deadline. */
  shutdown: AbortSignal;
  /** Called once per request with the outcome, for logs and metrics (never content). */
  onFinished: (outcome: { status: number; code?: string; durationMs: number }) => void;
}

/** Handles one chat request. Throws GatewayError only before decryption (answered in the clear). */
export async function handleChat(request: Request, deps: ChatHandlerDeps): Promise<Response> {
  const contentType = request.headers.get("content-type")?.split(";")[0].trim();
  if (contentType !== REQUEST_MEDIA_TYPE) throw new GatewayError("unsupported_media_type");
  const body = await readBodyLimited(request, deps.maxBodyBytes);
  const split = splitRequest(body);
  const now = deps.nowSeconds();
  deps.replay.checkTimestamp(split.header, now);
  const opened = await openRequest(deps.suite, deps.ring, split, now);
  try {
    // Recorded only after decryption succeeded, so garbage cannot fill the seen-set; refused in the clear.
    await deps.replay.record(opened.header, opened.enc);
  } catch (error) {
    opened.padded.fill(0);
    throw error;
  }
  return await _answerOpened(opened, deps);
}

async function _answerOpened(
  opened: OpenedRequest,
  deps: ChatHandlerDeps,
): Promise<Response> {
  const { responseNonce, cipher } = await createResponseCipher(opened.context, opened.enc);
  const started = performance.now();
  let wantsStream = true;
  let release: (() => void) | undefined;
  try {
    const chat = parseChatRequest(opened.padded, deps.schema);
    wantsStream = chat.stream;
    release = deps.streams.tryAcquire();
    if (!release) throw new GatewayError("overloaded", { retryAfterSeconds: 2 });
    // Deno's request.signal also fires when a response completes, so a client disconnect is detected
    // from the response stream's cancellation instead (see _cancellable).
    const disconnected = new AbortController();
    const signal = AbortSignal.any([
      disconnected.signal,
      deps.shutdown,
      AbortSignal.timeout(deps.requestTimeoutMs),
    ]);
    const events = _eventsWithErrors(deps.generator.generate(chat, signal), signal);
    const done = release;
    let finalStatus = 200;
    let finalCode: string | undefined;
    const finish = () => {
      done();
      deps.onFinished({ status: finalStatus, code: finalCode, durationMs: performance.now() - started });
    };
    const observed = _observe(events, (event) => {
      if (event.type === "error") {
        [finalStatus, finalCode] = [new GatewayError(event.code).status, event.code];
      }
    }, finish);
    if (!chat.stream) {
      const all: ChatEvent[] = [];
      for await (const event of observed) all.push(event);
      const status = all.find((e) => e.type === "error") ? finalStatus : 200;
      return _sealedResponse(await sealWholeResponse(cipher, responseNonce, all, deps.chunkSize), status);
    }
    const sse = _cancellable(observed, disconnected)
      .pipeThrough(createCoalesceStream(deps.tickMs))
      .pipeThrough(createSealStream(cipher, responseNonce, deps.chunkSize))
      .pipeThrough(new TextEncoderStream());
    return new Response(sse, { status: 200, headers: _sseHeaders() });
  } catch (error) {
    release?.();
    const failure = toGatewayError(error);
    deps.onFinished({ status: failure.status, code: failure.code, durationMs: performance.now() - started });
    const event: ChatEvent = { type: "error", code: failure.code, message: failure.message };
    const headers: Record<string, string> = failure.retryAfterSeconds
      ? { "retry-after": String(failure.retryAfterSeconds) }
      : {};
    if (!wantsStream) {
      return _sealedResponse(
        await sealWholeResponse(cipher, responseNonce, [event], deps.chunkSize),
        failure.status,
        headers,
      );
    }
    const sse = ReadableStream.from([[event]])
      .pipeThrough(createSealStream(cipher, responseNonce, deps.chunkSize))
      .pipeThrough(new TextEncoderStream());
    return new Response(sse, { status: failure.status, headers: { ..._sseHeaders(), ...headers } });
  } finally {
    opened.padded.fill(0);
  }
}

/** A stream over `source` whose cancellation (the client went away) aborts `onCancel` at once. */
function _cancellable<T>(source: AsyncIterable<T>, onCancel: AbortController): ReadableStream<T> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<T>({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      onCancel.abort(new DOMException("Client disconnected", "AbortError"));
      await iterator.return?.();
    },
  }, { highWaterMark: 0 });
}

/** Turns a generator failure or abort into a terminal error event, so the stream always ends properly. */
async function* _eventsWithErrors(
  source: AsyncIterable<ChatEvent>,
  signal: AbortSignal,
): AsyncIterable<ChatEvent> {
  try {
    for await (const event of source) {
      yield event;
      if (event.type === "done" || event.type === "error") return;
    }
    if (signal.aborted) throw signal.reason;
    throw new GatewayError("upstream_error");
  } catch (error) {
    let failure = toGatewayError(error);
    if (!(error instanceof GatewayError) && signal.aborted) {
      const reason = signal.reason as { name?: string } | undefined;
      failure = new GatewayError(reason?.name === "TimeoutError" ? "upstream_timeout" : "shutting_down");
    }
    yield { type: "error", code: failure.code, message: failure.message };
  }
}

/** Passes events through, reporting each, and calls `finish` exactly once however the stream ends. */
async function* _observe(
  source: AsyncIterable<ChatEvent>,
  onEvent: (event: ChatEvent) => void,
  finish: () => void,
): AsyncIterable<ChatEvent> {
  try {
    for await (const event of source) {
      onEvent(event);
      yield event;
    }
  } finally {
    finish();
  }
}

function _sseHeaders(): Record<string, string> {
  return {
    "content-type": "text/event-stream",
    "cache-control": "no-store",
    "x-accel-buffering": "no",
  };
}

function _sealedResponse(
  body: Uint8Array<ArrayBuffer>,
  status: number,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: { "content-type": RESPONSE_MEDIA_TYPE, "cache-control": "no-store", ...headers },
  });
}
