/**
 * `POST /api/chat`, the Oblivious Gateway Resource (RFC 9458 §5; docs/protocol.md §3), in order:
 *
 *   network limit → read body (bounded) → split hdr/enc → enc seen-set (replay, before any KEM work)
 *   → decapsulation budget → open (HPKE) → record enc → Binary HTTP request → Date window → parse request
 *   → device proof → device limits / proof of work → admission → generate → coalesce → seal → stream
 *
 * In token mode (`PG_AUTH=token`, docs/privacy-pass.md) the request carries one Privacy Pass token and no
 * device key: "device proof → device limits" becomes "redeem the token" (valid, unspent, for a published
 * key). Per-network limits, the decapsulation budget and the admission queue's per-network share stay.
 *
 * Before decapsulation, errors are the few generic clear-text answers RFC 9458 allows (400, 415, 422 for a
 * key problem, and the edge's 408/411/413/429), and garbage or replays draw on the network's error budget.
 * From the moment the request is opened, every answer is `200` with an encapsulated Binary HTTP response
 * whose own status says what happened (RFC 9458 §5.2): a relay or TLS terminator sees no status (only that
 * a refusal is one quick chunk and an answer several over time). Metrics and logs record the real outcome. Once the stream has
 * started, a failure becomes an `error` event in the final chunk: the client never sees a silent stop.
 */
import { fromBase64Url, type KeyRing } from "../crypto/mod.ts";
import type { Generator } from "../inference/mod.ts";
import {
  type AbuseGuard,
  type AdmissionQueue,
  clientAddress,
  type DecapsulationBudget,
  type KeyHasher,
  networkOf,
  type TrustedProxies,
} from "../limits/mod.ts";
import { endChatSpan, type Metrics, type RequestIdHasher, startChatSpan } from "../observability/mod.ts";
import {
  type ChatEvent,
  type ChatRequest,
  type chatRequestSchema,
  coalesceEvents,
  createSealStream,
  encodeWholeAnswer,
  type ErrorCode,
  EVENT_STREAM_TYPE,
  type Field,
  formatHttpDate,
  GatewayError,
  OHTTP_CHUNKED_REQUEST_TYPE,
  OHTTP_CHUNKED_RESPONSE_TYPE,
  OHTTP_REQUEST_TYPE,
  OHTTP_RESPONSE_TYPE,
  type OpenedRequest,
  openRequest,
  parseChatRequest,
  readInnerRequest,
  type ReplayGuard,
  responseCipher,
  sealWholeResponse,
  splitRequest,
  toGatewayError,
  verifyDeviceProof,
} from "../protocol/mod.ts";
import { fromBase64Url as tokenFromBase64Url, type Redeemer, type Spend, TokenError } from "../tokens/mod.ts";
import { readBodyLimited } from "./read_body.ts";
import { stallGuarded } from "./stall_buffer.ts";

/** What the chat handler needs, passed in explicitly by main.ts. */
export interface ChatHandlerDeps {
  ring: KeyRing;
  replay: ReplayGuard;
  schema: ReturnType<typeof chatRequestSchema>;
  generator: Generator;
  queue: AdmissionQueue;
  guard: AbuseGuard;
  decapsulations: DecapsulationBudget;
  hasher: KeyHasher;
  requestIds: RequestIdHasher;
  metrics?: Metrics;
  nowSeconds: () => number;
  maxBodyBytes: number;
  /** The coalescing tick, sized for capacity (streamTickMs). */
  tickMs: number;
  chunkSize: number;
  requestTimeoutMs: number;
  /** A client that takes nothing of its full buffer this long loses its stream (stall_buffer.ts). */
  stallMs: number;
  queueWaitMs: number;
  /** Peers whose X-Forwarded-For is believed; undefined when no proxy is trusted. */
  trustedProxies?: TrustedProxies;
  requireDevice: boolean;
  /** Token mode: redeems the request's Privacy Pass token instead of admitting a device. */
  redeemer?: Redeemer;
  /** Aborted when the gateway shuts down past its drain deadline. */
  shutdown: AbortSignal;
  /** Called once per request with the outcome, for logs (never content). */
  onFinished: (outcome: { status: number; code?: string; durationMs: number }) => void;
}

/** Failures before decapsulation that spend the network's error budget (garbage and replays, not key drift). */
const _GARBAGE: ReadonlySet<ErrorCode> = new Set([
  "malformed_request",
  "unsupported_suite",
  "decryption_failed",
  "replayed_request",
  "request_too_large",
  "unsupported_media_type",
]);

/** Handles one chat request. Throws GatewayError only before decapsulation (answered in the clear). */
export async function handleChat(
  request: Request,
  peer: string,
  clientGone: AbortSignal,
  deps: ChatHandlerDeps,
): Promise<Response> {
  const address = clientAddress(peer, request.headers.get("x-forwarded-for"), deps.trustedProxies);
  const network = deps.hasher.hash("net", networkOf(address));
  await deps.guard.checkNetwork(network);
  let opened: OpenedRequest;
  try {
    const contentType = request.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
    const chunked = contentType === OHTTP_CHUNKED_REQUEST_TYPE;
    if (!chunked && contentType !== OHTTP_REQUEST_TYPE) throw new GatewayError("unsupported_media_type");
    const split = splitRequest(await readBodyLimited(request, deps.maxBodyBytes), chunked);
    // RFC 9458 §6.5: a replayed enc is refused before any KEM work.
    await deps.replay.checkUnseen(split.enc);
    try {
      deps.decapsulations.take(network);
    } catch (error) {
      deps.metrics?.limitRejected("decapsulation");
      throw error;
    }
    opened = await openRequest(deps.ring, split, deps.nowSeconds());
    deps.decapsulations.vouch(network);
  } catch (error) {
    if (error instanceof GatewayError && _GARBAGE.has(error.code)) await deps.guard.recordFailure(network);
    throw error;
  }
  return await _answerOpened(opened, network, deps, clientGone);
}

async function _answerOpened(
  opened: OpenedRequest,
  network: string,
  deps: ChatHandlerDeps,
  /** Aborted when the client connection ends, also before the answer starts (the edge reads the socket). */
  clientGone: AbortSignal,
): Promise<Response> {
  const { responseNonce, cipher } = await responseCipher(opened);
  const started = performance.now();
  const span = startChatSpan();
  let requestIdHash: string | undefined;
  const releases: (() => void)[] = [];
  const releaseAll = () => releases.splice(0).forEach((release) => release());
  const report = (status: number, code?: string) => {
    const durationMs = performance.now() - started;
    deps.onFinished({ status, code, durationMs });
    deps.metrics?.requestFinished("chat", status, code, durationMs / 1000);
    endChatSpan(span, { status, code, requestIdHash });
  };
  const fields = (extra: Field[] = []): Field[] => [
    ["content-type", EVENT_STREAM_TYPE],
    // Inside the encryption, so a client can take a clock correction from it (RFC 9458 §6.5).
    ["date", formatHttpDate(deps.nowSeconds())],
    ...extra,
  ];
  try {
    try {
      // Recorded only after the open succeeded, so garbage cannot fill the seen-set.
      await deps.replay.record(opened.enc);
    } catch (error) {
      if (error instanceof GatewayError && error.code === "replayed_request") {
        await deps.guard.recordFailure(network);
      }
      throw error;
    }
    const inner = readInnerRequest(opened.plaintext);
    // Traces get a keyed hash of the app's request id, or of enc when it sent none; computed only when a
    // trace is being recorded (an asynchronous HMAC per request otherwise spent for nothing).
    if (span.isRecording()) {
      const requestId = inner.requestId ? fromBase64Url(inner.requestId) : undefined;
      requestIdHash = await deps.requestIds.hash(
        requestId && requestId.byteLength > 0 ? requestId : opened.enc,
      );
    }
    deps.replay.checkDate(inner.date, deps.nowSeconds());
    const chat = parseChatRequest(inner.content, deps.schema);
    opened.plaintext.fill(0);
    // Token mode: checked now, spent only once the request holds a place in the queue (below).
    let spend: Spend | undefined;
    if (deps.redeemer) {
      spend = await _verifyToken(chat, deps.redeemer);
      // The in-flight claim ends with the request (or at once when it is refused before the commit).
      releases.push(spend.release);
    } else {
      const device = await _device(chat, opened, network, deps);
      releases.push(await deps.guard.admitDevice(device, network, chat.pow));
    }
    // Deno's request.signal also fires when a response completes, so a client disconnect is detected
    // from the response stream's cancellation instead (coalesceEvents' onCancel).
    const disconnected = new AbortController();
    const signal = AbortSignal.any([
      disconnected.signal,
      // The edge reports a client that leaves before its answer starts (queued, or a non-streamed answer).
      clientGone,
      deps.shutdown,
      AbortSignal.timeout(deps.requestTimeoutMs),
    ]);
    releases.push(await deps.queue.admit(deps.queueWaitMs, signal, network));
    if (spend) await _tokenOutcome(spend.commit);
    let finalStatus = 200;
    let finalCode: string | undefined;
    const inferenceStarted = performance.now();
    let firstTokenSeconds: number | undefined;
    const events = _reported(deps.generator.generate(chat, signal), signal, (event) => {
      if (event.type === "text" && firstTokenSeconds === undefined) {
        firstTokenSeconds = (performance.now() - started) / 1000;
      }
      if (event.type === "error") {
        [finalStatus, finalCode] = [new GatewayError(event.code).status, event.code];
      }
      if (event.type === "done") {
        deps.metrics?.streamCompleted({
          firstTokenSeconds,
          inferenceSeconds: (performance.now() - inferenceStarted) / 1000,
          tokens: event.usage.completion_tokens,
        });
      }
    }, () => {
      releaseAll();
      report(finalStatus, finalCode);
    });
    if (!opened.chunked) {
      // message/ohttp-req gets one message/ohttp-res: the whole answer at once, whatever `stream` says.
      const all: ChatEvent[] = [];
      for await (const event of events) all.push(event);
      const status = all.find((e) => e.type === "error") ? finalStatus : 200;
      const plaintext = encodeWholeAnswer({ status, fields: fields() }, all, deps.chunkSize);
      return _wholeResponse(sealWholeResponse(cipher, responseNonce, plaintext));
    }
    const onCancel = () => disconnected.abort(new DOMException("Client disconnected", "AbortError"));
    const stream = coalesceEvents(events, { tickMs: deps.tickMs, onCancel })
      .pipeThrough(
        createSealStream(cipher, responseNonce, deps.chunkSize, { status: 200, fields: fields() }),
      );
    const stalled = () => disconnected.abort(new DOMException("Client stopped reading", "AbortError"));
    return new Response(stallGuarded(stream, deps.stallMs, stalled), {
      status: 200,
      headers: _chunkedHeaders(),
    });
  } catch (error) {
    opened.plaintext.fill(0);
    releaseAll();
    const failure = toGatewayError(error);
    report(failure.status, failure.code);
    const event: ChatEvent = {
      type: "error",
      code: failure.code,
      message: failure.message,
      ...(failure.challenge ? { challenge: failure.challenge } : {}),
      ...(failure.retryAfterSeconds ? { retry_after: failure.retryAfterSeconds } : {}),
    };
    const head = {
      status: failure.status,
      fields: fields(failure.retryAfterSeconds ? [["retry-after", String(failure.retryAfterSeconds)]] : []),
    };
    if (!opened.chunked) {
      const plaintext = encodeWholeAnswer(head, [event], deps.chunkSize);
      return _wholeResponse(sealWholeResponse(cipher, responseNonce, plaintext));
    }
    const stream = ReadableStream.from([[event]])
      .pipeThrough(createSealStream(cipher, responseNonce, deps.chunkSize, head));
    return new Response(stream, { status: 200, headers: _chunkedHeaders() });
  }
}

/** The device key's keyed hash, after checking its proof; requests without one share their network's. */
async function _device(
  chat: ChatRequest,
  opened: OpenedRequest,
  network: string,
  deps: ChatHandlerDeps,
): Promise<string> {
  if (!chat.device) {
    if (deps.requireDevice) throw new GatewayError("invalid_request", { detail: "device: required" });
    return `anonymous:${network}`;
  }
  const publicKey = fromBase64Url(chat.device.public_key);
  const signature = fromBase64Url(chat.device.signature);
  if (
    !publicKey || !signature ||
    !await verifyDeviceProof(publicKey, signature, opened.hdr, opened.enc)
  ) {
    throw new GatewayError("device_proof_invalid");
  }
  return deps.hasher.hash("dev", chat.device.public_key);
}

/**
 * Token mode: the request must carry a token and no device key (RFC 9458 §6.1: nothing that identifies
 * the client inside the encapsulated request). The token is verified (valid, not yet spent) here and
 * spent by the returned function once the request has a place (tokens/redeemer.ts: an overloaded queue
 * does not burn a valid token; a spent or forged one never waits in it). A refusal keeps its code, inside
 * the encryption.
 */
async function _verifyToken(chat: ChatRequest, redeemer: Redeemer): Promise<Spend> {
  if (chat.device) throw new GatewayError("invalid_request", { detail: "device: not accepted with tokens" });
  const token = chat.token ? tokenFromBase64Url(chat.token) : undefined;
  if (!token) throw new GatewayError("invalid_request", { detail: "token: required" });
  try {
    return await _tokenOutcome(() => redeemer.verify(token));
  } finally {
    token.fill(0);
    delete chat.token;
  }
}

/** Runs a token step, mapping a {@link TokenError} to the GatewayError with its code. */
async function _tokenOutcome<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof TokenError)) throw error;
    throw new GatewayError(
      error.code,
      error.retryAfterSeconds ? { retryAfterSeconds: error.retryAfterSeconds } : {},
    );
  }
}

/**
 * Passes events through, reporting each; turns a generator failure or abort into a terminal error event,
 * so the stream always ends properly; and calls `finish` exactly once however the stream ends. One
 * generator for the three, not one each: every layer costs ~0.6 KB of promises and results per token
 * (docs/benchmarks.md, "Allocation per token").
 */
async function* _reported(
  source: AsyncIterable<ChatEvent>,
  signal: AbortSignal,
  onEvent: (event: ChatEvent) => void,
  finish: () => void,
): AsyncIterable<ChatEvent> {
  // Set while the consumer holds an event: if it leaves then (return()), the source is closed and a failure
  // of that close must not become an error event, which would pause this generator before `finish`.
  let handedOut = false;
  try {
    try {
      for await (const event of source) {
        onEvent(event);
        handedOut = true;
        yield event;
        handedOut = false;
        if (event.type === "done" || event.type === "error") return;
      }
      if (signal.aborted) throw signal.reason;
      throw new GatewayError("upstream_error");
    } catch (error) {
      if (handedOut) throw error;
      let failure = toGatewayError(error);
      if (!(error instanceof GatewayError) && signal.aborted) {
        const reason = signal.reason as { name?: string } | undefined;
        failure = new GatewayError(reason?.name === "TimeoutError" ? "upstream_timeout" : "shutting_down");
      }
      const event: ChatEvent = { type: "error", code: failure.code, message: failure.message };
      onEvent(event);
      yield event;
    }
  } finally {
    finish();
  }
}

function _chunkedHeaders(): Record<string, string> {
  return {
    "content-type": OHTTP_CHUNKED_RESPONSE_TYPE,
    "cache-control": "no-store",
    // Chunked-OHTTP §2: ask intermediaries (the relay) to forward the body incrementally.
    "incremental": "?1",
    "x-accel-buffering": "no",
  };
}

function _wholeResponse(body: Uint8Array<ArrayBuffer>): Response {
  return new Response(body, {
    status: 200,
    headers: { "content-type": OHTTP_RESPONSE_TYPE, "cache-control": "no-store" },
  });
}
