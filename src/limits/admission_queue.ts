/**
 * Global admission: at most `maxActive` streams run; up to `maxQueued` more wait, each until its
 * deadline. A full queue or an expired wait is `overloaded` (503) with Retry-After: the gateway is busy,
 * not the client misbehaving.
 */
import { GatewayError } from "../protocol/mod.ts";

/** Bounded FIFO admission with deadlines. */
export class AdmissionQueue {
  readonly maxActive: number;
  readonly maxQueued: number;
  #active = 0;
  #waiting: { admit: () => void }[] = [];

  constructor(maxActive: number, maxQueued: number) {
    this.maxActive = maxActive;
    this.maxQueued = maxQueued;
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

  /** Waits for a slot; returns an idempotent release function. */
  async admit(waitMs: number, signal: AbortSignal): Promise<() => void> {
    if (this.#active < this.maxActive && this.#waiting.length === 0) return this.#take();
    if (this.#waiting.length >= this.maxQueued) {
      throw new GatewayError("overloaded", { retryAfterSeconds: 2 });
    }
    const admitted = Promise.withResolvers<void>();
    const entry = { admit: () => admitted.resolve() };
    this.#waiting.push(entry);
    const timer = setTimeout(
      () => admitted.reject(new GatewayError("overloaded", { retryAfterSeconds: 2 })),
      waitMs,
    );
    const onAbort = () => admitted.reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await admitted.promise;
      return this.#take();
    } catch (error) {
      this.#waiting = this.#waiting.filter((e) => e !== entry);
      throw error;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  #take(): () => void {
    this.#active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter.
      next?.admit();
    };
  }
}
