/**
 * OpenTelemetry spans through @opentelemetry/api. Without PG_OTLP_ENDPOINT nothing is exported (the
 * API's no-op tracer). Spans carry only closed-vocabulary attributes and a request id hashed with a
 * per-process secret, so traces can be correlated within one process but never linked to the request
 * id the app chose.
 */
import { type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import { toBase64Url } from "../crypto/mod.ts";

const _tracer = () => trace.getTracer("privacy-gateway");

/** Hashes request ids for spans with a key that never leaves this process. */
export class RequestIdHasher {
  #key = crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]) as Promise<CryptoKey>;

  async hash(requestId: Uint8Array<ArrayBuffer>): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", await this.#key, requestId);
    return toBase64Url(new Uint8Array(mac).subarray(0, 12));
  }
}

/** Starts the span of one chat request. */
export function startChatSpan(): Span {
  return _tracer().startSpan("chat", { attributes: { "http.route": "/api/chat" } });
}

/** Ends a span with the request's outcome (closed vocabulary). */
export function endChatSpan(
  span: Span,
  outcome: { status: number; code?: string; requestIdHash?: string },
): void {
  span.setAttribute("http.response.status_code", outcome.status);
  span.setAttribute("privacy_gateway.outcome", outcome.code ?? "ok");
  if (outcome.requestIdHash) span.setAttribute("privacy_gateway.request_id_hash", outcome.requestIdHash);
  if (outcome.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/**
 * Installs an OTLP/HTTP exporter when an endpoint is configured; returns a shutdown function that flushes.
 * Loaded lazily so that the SDK is only imported when tracing is on.
 */
export async function installTracing(endpoint: string | undefined): Promise<() => Promise<void>> {
  if (!endpoint) return () => Promise.resolve();
  const { BasicTracerProvider, BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
  const provider = new BasicTracerProvider({
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }), { scheduledDelayMillis: 500 }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  return async () => {
    await provider.forceFlush().catch(() => {});
    await provider.shutdown().catch(() => {});
    trace.disable();
  };
}
