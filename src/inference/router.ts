/**
 * Routing across backends (the local socket and/or mTLS nodes): active health checks, least-in-flight
 * choice, and a circuit breaker per backend. Retries are the generator's business and happen only before
 * the first token reaches the client.
 */
import type { Logger } from "../observability/mod.ts";
import { GatewayError } from "../protocol/mod.ts";
import type { LlamaClient } from "./llama_client.ts";

/** One place inference can run. */
export interface Backend {
  name: string;
  client: LlamaClient;
  /** Whether the backend's own health says it can take work (supervisor state or last probe). */
  healthy(): boolean;
}

/** Circuit breaker states (exported for metrics). */
export type CircuitState = "closed" | "open" | "half_open";

/** Breaker policy: open after `failureThreshold` consecutive failures, probe again after `openMs`. */
export interface CircuitPolicy {
  failureThreshold: number;
  openMs: number;
}

class _Circuit {
  state: CircuitState = "closed";
  failures = 0;
  openedAt = 0;
  probing = false;
}

/** A backend taken for one request; call `done` exactly once. */
export interface Lease {
  backend: Backend;
  done(outcome: "success" | "failure" | "cancelled"): void;
}

/** Chooses backends. */
export class Router {
  #backends: { backend: Backend; inFlight: number; circuit: _Circuit }[];
  #policy: CircuitPolicy;
  #logger: Logger;
  #now: () => number;

  constructor(backends: Backend[], policy: CircuitPolicy, logger: Logger, now: () => number = Date.now) {
    this.#backends = backends.map((backend) => ({ backend, inFlight: 0, circuit: new _Circuit() }));
    this.#policy = policy;
    this.#logger = logger;
    this.#now = now;
  }

  /** Whether any backend could take a request now. */
  ready(): boolean {
    return this.#backends.some((b) => b.backend.healthy() && this.#admits(b.circuit, false));
  }

  /** Circuit state per backend (metrics, tests). */
  circuits(): Record<string, CircuitState> {
    return Object.fromEntries(this.#backends.map((b) => [b.backend.name, this.#effective(b.circuit)]));
  }

  /** In-flight count per backend (tests). */
  inFlight(): Record<string, number> {
    return Object.fromEntries(this.#backends.map((b) => [b.backend.name, b.inFlight]));
  }

  /**
   * Waits up to `waitMs` for a backend to be available (e.g. llama-server still loading), then takes it.
   * Polls because health changes arrive from probes on their own schedule; 50 ms is far below any
   * model's load time and costs nothing.
   */
  async acquireWhenReady(exclude: ReadonlySet<string>, waitMs: number, signal: AbortSignal): Promise<Lease> {
    const deadline = Date.now() + waitMs;
    while (true) {
      try {
        return this.acquire(exclude);
      } catch (error) {
        if (Date.now() >= deadline || signal.aborted) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Takes the healthy backend with the fewest requests in flight, skipping `exclude`. */
  acquire(exclude: ReadonlySet<string> = new Set()): Lease {
    const candidates = this.#backends
      .filter((b) => !exclude.has(b.backend.name) && b.backend.healthy() && this.#admits(b.circuit, false))
      .sort((a, b) => a.inFlight - b.inFlight);
    const chosen = candidates[0];
    if (!chosen) throw new GatewayError("upstream_unavailable", { retryAfterSeconds: 2 });
    this.#admits(chosen.circuit, true);
    chosen.inFlight++;
    let finished = false;
    return {
      backend: chosen.backend,
      done: (outcome) => {
        if (finished) return;
        finished = true;
        chosen.inFlight--;
        this.#record(chosen.backend.name, chosen.circuit, outcome);
      },
    };
  }

  #effective(circuit: _Circuit): CircuitState {
    if (circuit.state === "open" && this.#now() - circuit.openedAt >= this.#policy.openMs) return "half_open";
    return circuit.state;
  }

  #admits(circuit: _Circuit, take: boolean): boolean {
    const state = this.#effective(circuit);
    if (state === "closed") return true;
    if (state === "open") return false;
    // Half open: exactly one trial request at a time.
    if (circuit.probing) return false;
    if (take) {
      circuit.state = "half_open";
      circuit.probing = true;
    }
    return true;
  }

  #record(name: string, circuit: _Circuit, outcome: "success" | "failure" | "cancelled"): void {
    circuit.probing = false;
    if (outcome === "cancelled") {
      // A cancelled trial proves nothing: the next request may try again.
      return;
    }
    if (outcome === "success") {
      if (circuit.state !== "closed") this.#logger.log("info", "backend.circuit_closed", { backend: name });
      circuit.state = "closed";
      circuit.failures = 0;
      return;
    }
    circuit.failures++;
    if (circuit.state === "half_open" || circuit.failures >= this.#policy.failureThreshold) {
      if (circuit.state !== "open") this.#logger.log("warn", "backend.circuit_opened", { backend: name });
      circuit.state = "open";
      circuit.openedAt = this.#now();
    }
  }
}

/**
 * Health checker for a remote node: probes `/health` on an interval and exposes the last answer.
 * Stop with the signal.
 */
export function probedBackend(
  client: LlamaClient,
  intervalMs: number,
  timeoutMs: number,
  signal: AbortSignal,
): Backend {
  let healthy = false;
  const tick = async () => {
    if (signal.aborted) return;
    await client.refreshCredentials();
    healthy = await client.health(timeoutMs);
    if (!signal.aborted) setTimeout(tick, intervalMs);
  };
  tick();
  return { name: client.name, client, healthy: () => healthy };
}
