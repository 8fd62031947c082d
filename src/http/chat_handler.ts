/**
 * `POST /api/chat`: the request path of the gateway, in order (README "Data flow"):
 *
 *   network limit → read body (bounded) → split header → check timestamp → open (HPKE) → record replay
 *   → parse request → device proof → device limits / proof of work → admission → generate → coalesce
 *   → seal → SSE
 *
 * Before decryption, errors are plain JSON, and malformed or undecryptable envelopes draw on the
 * network's error budget. From the moment the request is opened, every answer — including errors — is
 * sealed to the client. Once the stream has started, a failure becomes an encrypted `error` event in the
 * final chunk: the client never sees a silent stop.
 */
import type { CipherSuite } from "@hpke/core";
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
  createCoalesceStream,
  createResponseCipher,
  createSealStream,
  type ErrorCode,
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
  verifyDeviceProof,
} from "../protocol/mod.ts";
import { readBodyLimited } from "./read_body.ts";
import { stallGuarded } from "./stall_buffer.ts";

/** What the chat handler needs, passed in explicitly by main.ts. */
export interface ChatHandlerDeps {
  suite: CipherSuite;
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
  tickMs: number;
  chunkSize: number;
  requestTimeoutMs: number;
  /** A client that takes nothing of its full buffer this long loses its stream (stall_buffer.ts). */
  stallMs: number;
  queueWaitMs: number;
  /** Peers whose X-Forwarded-For is believed; undefined when no proxy is trusted. */
  trustedProxies?: TrustedProxies;
  requireDevice: boolean;
  /** Aborted when the gateway shuts down past its drain deadline. */
  shutdown: AbortSignal;
  /** Called once per request with the outcome, for logs (never content). */
  onFinished: (outcome: { status: number; code?: string; durationMs: number }) => void;
}

/** Envelope failures that spend the network's error budget (garbage, not clock or key drift). */
const _GARBAGE: ReadonlySet<ErrorCode> = new Set([
  "malformed_request",
  "unsupported_version",
  "unsupported_suite",
  "invalid_request_id",
  "decryption_failed",
  "request_too_large",
  "unsupported_media_type",
]);

/** Handles one chat request. Throws GatewayError only before decryption (answered in the clear). */
export async function handleChat(request: Request, peer: string, deps: ChatHandlerDeps): Promise<Response> {
  const address = clientAddress(peer, request.headers.get("x-forwarded-for"), deps.trustedProxies);
  const network = await deps.hasher.hash("net", networkOf(address));
  await deps.guard.checkNetwork(network);
  let opened: OpenedRequest;
  try {
    const contentType = request.headers.get("content-type")?.split(";")[0].trim();
    if (contentType !== REQUEST_MEDIA_TYPE) throw new GatewayError("unsupported_media_type");
    const split = splitRequest(await readBodyLimited(request, deps.maxBodyBytes));
    const now = deps.nowSeconds();
    deps.replay.checkTimestamp(split.header, now);
    try {
      deps.decapsulations.take(network);
    } catch (error) {
      deps.metrics?.limitRejected("decapsulation");
      throw error;
    }
    opened = await openRequest(deps.suite, deps.ring, split, now);
    deps.decapsulations.vouch(network);
  } catch (error) {
    if (error instanceof GatewayError && _GARBAGE.has(error.code)) await deps.guard.recordFailure(network);
    throw error;
  }
  try {
    // Recorded only after decryption succeeded, so garbage cannot fill the seen-set; refused in the clear.
    await deps.replay.record(opened.header, opened.enc);
  } catch (error) {
    opened.padded.fill(0);
    throw error;
  }
  return await _answerOpened(opened, network, deps);
}

async function _answerOpened(
  opened: OpenedRequest,
  network: string,
  deps: ChatHandlerDeps,
): Promise<Response> {
  const { responseNonce, cipher } = await createResponseCipher(opened.context, opened.enc);
  const started = performance.now();
  const span = startChatSpan();
  const requestIdHash = await deps.requestIds.hash(opened.header.requestId);
  let wantsStream = true;
  const releases: (() => void)[] = [];
  const releaseAll = () => releases.splice(0).forEach((release) => release());
  const report = (status: number, code?: string) => {
    const durationMs = performance.now() - started;
    deps.onFinished({ status, code, durationMs });
    deps.metrics?.requestFinished("chat", status, code, durationMs / 1000);
    endChatSpan(span, { status, code, requestIdHash });
  };
  try {
    const chat = parseChatRequest(opened.padded, deps.schema);
    opened.padded.fill(0);
    wantsStream = chat.stream;
    const device = await _device(chat, opened, network, deps);
    releases.push(await deps.guard.admitDevice(device, network, chat.pow));
    // Deno's request.signal also fires when a response completes, so a client disconnect is detected
    // from the response stream's cancellation instead (see _cancellable).
    const disconnected = new AbortController();
    const signal = AbortSignal.any([
      disconnected.signal,
      deps.shutdown,
      AbortSignal.timeout(deps.requestTimeoutMs),
    ]);
    releases.push(await deps.queue.admit(deps.queueWaitMs, signal, network));
    let finalStatus = 200;
    let finalCode: string | undefined;
    const inferenceStarted = performance.now();
    let firstTokenSeconds: number | undefined;
    const events = _observe(_eventsWithErrors(deps.generator.generate(chat, signal), signal), (event) => {
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
    if (!chat.stream) {
      const all: ChatEvent[] = [];
      for await (const event of events) all.push(event);
      const status = all.find((e) => e.type === "error") ? finalStatus : 200;
      return _sealedResponse(await sealWholeResponse(cipher, responseNonce, all, deps.chunkSize), status);
    }
    const sse = _cancellable(events, disconnected)
      .pipeThrough(createCoalesceStream(deps.tickMs))
      .pipeThrough(createSealStream(cipher, responseNonce, deps.chunkSize))
      .pipeThrough(new TextEncoderStream());
    const stalled = () => disconnected.abort(new DOMException("Client stopped reading", "AbortError"));
    return new Response(stallGuarded(sse, deps.stallMs, stalled), { status: 200, headers: _sseHeaders() });
  } catch (error) {
    opened.padded.fill(0);
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
    const headers: Record<string, string> = failure.retryAfterSeconds
      ? { "retry-after": String(failure.retryAfterSeconds) }
      : {};
    if (!wantsStream) {
      const body = await sealWholeResponse(cipher, responseNonce, [event], deps.chunkSize);
      return _sealedResponse(body, failure.status, headers);
    }
    const sse = ReadableStream.from([[event]])
      .pipeThrough(createSealStream(cipher, responseNonce, deps.chunkSize))
      .pipeThrough(new TextEncoderStream());
    return new Response(sse, { status: failure.status, headers: { ..._sseHeaders(), ...headers } });
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
    !await verifyDeviceProof(publicKey, signature, opened.headerBytes, opened.enc)
  ) {
    throw new GatewayError("device_proof_invalid");
  }
  return await deps.hasher.hash("dev", chat.device.public_key);
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
