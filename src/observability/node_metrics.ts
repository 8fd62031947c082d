/**
 * The inference node's metrics (issue 12, day two): requests by route and status, streams in progress,
 * and the operator gauges (supervisor state, mTLS certificate expiry). Served on PG_METRICS_LISTEN.
 */
import client from "prom-client";
import { type OperatorSources, registerOperatorGauges } from "./operator_gauges.ts";

/** The node's metric families; `requestStarted`/`requestFinished` match inference's NodeObserver. */
export class NodeMetrics {
  readonly registry = new client.Registry();
  #requests: client.Counter<"route" | "status">;
  #active = 0;

  constructor(sources: OperatorSources & { supervisorRestarts: () => number }) {
    const registers = [this.registry];
    this.#requests = new client.Counter({
      name: "privacy_gateway_node_requests_total",
      help: "Requests to the node by route (other: refused routes) and HTTP status",
      labelNames: ["route", "status"],
      registers,
    });
    const active = () => this.#active;
    new client.Gauge({
      name: "privacy_gateway_node_active_streams",
      help: "Completions the node is streaming now",
      registers,
      collect() {
        this.set(active());
      },
    });
    registerOperatorGauges(this.registry, sources);
  }

  requestStarted(route: string): void {
    if (route === "POST /completion") this.#active++;
  }

  requestFinished(route: string, status: number): void {
    if (route === "POST /completion") this.#active--;
    this.#requests.inc({ route, status: String(status) });
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
