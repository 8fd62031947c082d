/**
 * Global admission with a fair share per network: at most `maxActive` streams run and up to `maxQueued`
 * more wait, each until its deadline; one network (IPv4 address, IPv6 /64) holds at most `share` of
 * either, however many device keys it makes (issue #10, finding 5: 12 self-made device keys from one
 * address took all 32 slots). A freed slot goes to the longest-waiting request whose network is below
 * its share.
 *
 * A full queue or an expired wait is `overloaded` (503): the gateway is busy. A network over its share
 * is `ip_rate_limited` (429): that network is asking for more than its part.
 */
import { GatewayError } from "../protocol/mod.ts";

interface _Waiter {
  network: string;
  admit: () => void;
}

/** Bounded FIFO admission with deadlines and per-network shares. */
export class AdmissionQueue {
  readonly maxActive: number;
  readonly maxQueued: number;
  /** Most slots / queue places one network may hold. */
  readonly maxActivePerNetwork: number;
  readonly maxQueuedPerNetwork: number;
  #active = 0;
  #waiting: _Waiter[] = [];
  #activeBy = new Map<string, number>();
  #queuedBy = new Map<string, number>();

  /** `share` is the fraction (0–1] of the slots and of the queue one network may hold. */
  constructor(maxActive: number, maxQueued: number, share = 1) {
    this.maxActive = maxActive;
    this.maxQueued = maxQueued;
    this.maxActivePerNetwork = Math.max(1, Math.ceil(maxActive * share));
    this.maxQueuedPerNetwork = Math.max(1, Math.ceil(maxQueued * share));
  }

  /** Streams running now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting now. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** Load between 0 and 1+: running plus waiting over capacity (drives proof-of-work difficulty). */
  get load(): number {
    return (this.#active + this.#waiting.length) / this.maxActive;
  }

  /** Waits for a slot for a request from `network`; returns an idempotent release function. */
  async admit(waitMs: number, signal: AbortSignal, network = ""): Promise<() => void> {
    // A request whose client already left takes no slot and no place (an abort listener added now would
    // never fire: review of issue 15's edge, finding 2).
    signal.throwIfAborted();
    if (this.#active < this.maxActive && this.#eligible(network)) return this.#take(network);
    if (this.#waiting.length >= this.maxQueued) {
      throw new GatewayError("overloaded", { retryAfterSeconds: 2 });
    }
    if ((this.#queuedBy.get(network) ?? 0) >= this.maxQueuedPerNetwork) {
      throw new GatewayError("ip_rate_limited", { retryAfterSeconds: 2 });
    }
    // Leaving the queue (admitted, timed out, aborted) happens synchronously, so a slot handed over
    // by a release can never go to a request that has already given up.
    const admitted = Promise.withResolvers<() => void>();
    const leave = () => {
      const index = this.#waiting.indexOf(entry);
      if (index < 0) return false;
      this.#waiting.splice(index, 1);
      _bump(this.#queuedBy, network, -1);
      return true;
    };
    const entry: _Waiter = {
      network,
      admit: () => {
        leave();
        admitted.resolve(this.#take(network));
      },
    };
    this.#waiting.push(entry);
    _bump(this.#queuedBy, network, 1);
    const timer = setTimeout(() => {
      if (leave()) admitted.reject(new GatewayError("overloaded", { retryAfterSeconds: 2 }));
    }, waitMs);
    const onAbort = () => {
      if (leave()) admitted.reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await admitted.promise;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  #eligible(network: string): boolean {
    return (this.#activeBy.get(network) ?? 0) < this.maxActivePerNetwork;
  }

  #take(network: string): () => void {
    this.#active++;
    _bump(this.#activeBy, network, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
      _bump(this.#activeBy, network, -1);
      // The slot passes straight to the longest-waiting request whose network is below its share.
      this.#waiting.find((w) => this.#eligible(w.network))?.admit();
    };
  }
}

function _bump(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
