/**
 * Prometheus metrics (prom-client). Closed vocabularies only: labels are routes, status codes, error
 * codes, limit names and backend names — never anything from a request's content, address or device.
 */
import client from "prom-client";
import { type OperatorSources, registerOperatorGauges } from "./operator_gauges.ts";

/** Live values read at scrape time (the operator gauges' sources are optional). */
export interface MetricsSources extends OperatorSources {
  activeStreams: () => number;
  queueDepth: () => number;
  circuits: () => Record<string, "closed" | "open" | "half_open">;
  supervisorRestarts: () => number;
}

const _CIRCUIT = { closed: 0, half_open: 1, open: 2 } as const;

/** The gateway's metric families. */
export class Metrics {
  readonly registry = new client.Registry();
  #requests: client.Counter<"route" | "status" | "code">;
  #duration: client.Histogram<"route">;
  #upstream: client.Histogram;
  #firstToken: client.Histogram;
  #tokensPerSecond: client.Histogram;
  #tokens: client.Counter;
  #rejections: client.Counter<"limit">;
  #challengesIssued: client.Counter;
  #challengesSolved: client.Counter;
  #edgeClosed: client.Counter<"reason">;
  #redemptions: client.Counter<"outcome">;
  #issuances: client.Counter<"outcome">;
  #issued: client.Counter;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.#requests = new client.Counter({
      name: "privacy_gateway_requests_total",
      help: "Requests by route, HTTP status and error code (ok when none)",
      labelNames: ["route", "status", "code"],
      registers,
    });
    this.#duration = new client.Histogram({
      name: "privacy_gateway_request_duration_seconds",
      help: "End-to-end request duration, to the end of the stream",
      labelNames: ["route"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.#upstream = new client.Histogram({
      name: "privacy_gateway_inference_duration_seconds",
      help: "Gateway to inference: from sending the prompt to the last token",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.#firstToken = new client.Histogram({
      name: "privacy_gateway_time_to_first_token_seconds",
      help: "Time from the request's arrival to its first answer text",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
    this.#tokensPerSecond = new client.Histogram({
      name: "privacy_gateway_stream_tokens_per_second",
      help: "Generated tokens per second of each completed stream",
      buckets: [1, 5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560],
      registers,
    });
    this.#tokens = new client.Counter({
      name: "privacy_gateway_generated_tokens_total",
      help: "Tokens generated for answers",
      registers,
    });
    this.#rejections = new client.Counter({
      name: "privacy_gateway_limit_rejections_total",
      help: "Requests refused by a limit",
      labelNames: ["limit"],
      registers,
    });
    this.#challengesIssued = new client.Counter({
      name: "privacy_gateway_challenges_issued_total",
      help: "Proof-of-work challenges issued",
      registers,
    });
    this.#challengesSolved = new client.Counter({
      name: "privacy_gateway_challenges_solved_total",
      help: "Proof-of-work solutions accepted",
      registers,
    });
    // Privacy Pass: closed outcome vocabularies (tokens/redeemer.ts, tokens/issuer.ts), never an identifier.
    this.#redemptions = new client.Counter({
      name: "privacy_gateway_token_redemptions_total",
      help: "Chat tokens checked, by outcome (ok, invalid, key_retired, spent, store_unavailable)",
      labelNames: ["outcome"],
      registers,
    });
    this.#issuances = new client.Counter({
      name: "privacy_gateway_token_issuances_total",
      help: "Token issuance requests, by outcome",
      labelNames: ["outcome"],
      registers,
    });
    this.#issued = new client.Counter({
      name: "privacy_gateway_tokens_issued_total",
      help: "Privacy Pass tokens blind-signed",
      registers,
    });
    this.#edgeClosed = new client.Counter({
      name: "privacy_gateway_edge_closed_total",
      help: "Connections the edge ended early: head/body timeout, too slow, stalled, refused, over a cap",
      labelNames: ["reason"],
      registers,
    });
    new client.Gauge({
      name: "privacy_gateway_active_streams",
      help: "Chat streams in progress",
      registers,
      collect() {
        this.set(sources.activeStreams());
      },
    });
    new client.Gauge({
      name: "privacy_gateway_queue_depth",
      help: "Requests waiting for admission",
      registers,
      collect() {
        this.set(sources.queueDepth());
      },
    });
    new client.Gauge({
      name: "privacy_gateway_backend_circuit_state",
      help: "Circuit breaker per backend: 0 closed, 1 half open, 2 open",
      labelNames: ["backend"],
      registers,
      collect() {
        for (const [backend, state] of Object.entries(sources.circuits())) {
          this.set({ backend }, _CIRCUIT[state]);
        }
      },
    });
    registerOperatorGauges(this.registry, sources);
  }

  /** A request refused before it was opened (no duration worth recording). */
  requestRefused(route: string, status: number, code: string): void {
    this.#requests.inc({ route, status: String(status), code });
  }

  /** One finished request. */
  requestFinished(route: string, status: number, code: string | undefined, seconds: number): void {
    this.#requests.inc({ route, status: String(status), code: code ?? "ok" });
    this.#duration.observe({ route }, seconds);
  }

  /** One completed stream's inference figures. */
  streamCompleted(figures: { firstTokenSeconds?: number; inferenceSeconds: number; tokens: number }): void {
    if (figures.firstTokenSeconds !== undefined) this.#firstToken.observe(figures.firstTokenSeconds);
    this.#upstream.observe(figures.inferenceSeconds);
    this.#tokens.inc(figures.tokens);
    if (figures.inferenceSeconds > 0 && figures.tokens > 0) {
      this.#tokensPerSecond.observe(figures.tokens / figures.inferenceSeconds);
    }
  }

  /** A limit refused a request. */
  limitRejected(limit: string): void {
    this.#rejections.inc({ limit });
  }

  /** One chat token checked. */
  tokenRedeemed(outcome: string): void {
    this.#redemptions.inc({ outcome });
  }

  /** One issuance request answered, with the number of tokens signed. */
  tokensIssued(outcome: string, tokens: number): void {
    this.#issuances.inc({ outcome });
    if (tokens > 0) this.#issued.inc(tokens);
  }

  challengeIssued(): void {
    this.#challengesIssued.inc();
  }

  challengeSolved(): void {
    this.#challengesSolved.inc();
  }

  /** The edge ended a connection early (src/http/connection_guard.ts). */
  edgeClosed(reason: string): void {
    this.#edgeClosed.inc({ reason });
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
