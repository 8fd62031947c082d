/**
 * Retry across backends, only before the first event reaches the client: a backend fault (unavailable,
 * error, timeout) before any output moves the request to another backend after a capped, jittered
 * backoff; after output has been sent, the fault is final (generated text is never duplicated).
 */
import { type ChatEvent, GatewayError } from "../protocol/mod.ts";
import type { LlamaClient } from "./llama_client.ts";
import type { Router } from "./router.ts";

/** Retry policy. */
export interface FailoverOptions {
  /** How long the first attempt may wait for a backend that is starting. */
  readyWaitMs: number;
  /** Attempts on distinct backends. */
  maxAttempts: number;
}

/** Runs `attempt` on a backend, failing over as described above. */
export async function* failover(
  router: Router,
  options: FailoverOptions,
  signal: AbortSignal,
  attempt: (client: LlamaClient) => AsyncIterable<ChatEvent>,
): AsyncIterable<ChatEvent> {
  const tried = new Set<string>();
  for (let n = 1;; n++) {
    const lease = await router.acquireWhenReady(tried, n === 1 ? options.readyWaitMs : 0, signal);
    tried.add(lease.backend.name);
    let yielded = false;
    let outcome: "success" | "failure" = "success";
    try {
      for await (const event of attempt(lease.backend.client)) {
        yielded = true;
        yield event;
      }
      return;
    } catch (error) {
      if (isBackendFault(error) && !signal.aborted) outcome = "failure";
      if (signal.aborted || yielded || outcome !== "failure" || n >= options.maxAttempts) throw error;
    } finally {
      // Also runs when the consumer stops early (after `done`, or on disconnect): the lease never leaks.
      lease.done(signal.aborted ? "cancelled" : outcome);
    }
    const delay = Math.min(2000, 100 * 2 ** (n - 1)) * (0.5 + Math.random());
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** Whether an error is the backend's fault (worth another backend). */
export function isBackendFault(error: unknown): boolean {
  return error instanceof GatewayError &&
    (error.code === "upstream_unavailable" || error.code === "upstream_error" ||
      error.code === "upstream_timeout");
}
