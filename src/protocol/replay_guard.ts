/**
 * Replay protection the RFC 9458 §6.5 way (docs/protocol.md §3.3). An encapsulated request is accepted
 * once: its `enc` is looked up in a seen-set before any KEM work and recorded only after a successful open
 * (so garbage cannot fill the set), and the `Date` field inside the Binary HTTP request must lie within
 * ±window of the gateway's clock. Entries need only outlive the window, since older requests fail the
 * date check. The set holds SHA-256(enc), not enc (an X-Wing enc is 1120 bytes).
 *
 * A restart must not reopen the window. A previous process with a per-process (memory) seen-set may have
 * accepted any date up to its own clock + window, and its clock was at most this process's start, so every
 * date below `start + window` may already have been seen: those are refused (review item 2). The rule is
 * needed only when the keys outlive the process: freshly generated in-memory keys cannot open a request
 * sealed before the process started, so such a gateway skips the rule and serves at once.
 */
import { sha256, toBase64Url } from "../crypto/mod.ts";
import { GatewayError } from "./errors.ts";

/** A set of recently seen values with expiry, shared by all gateways when it lives in Redis. */
export interface SeenSet {
  /** Adds `key` for `ttlSeconds`; resolves false when it was already present. Rejects when unavailable. */
  addIfAbsent(key: string, ttlSeconds: number): Promise<boolean>;
  /** Whether `key` is present. Rejects when unavailable. */
  has(key: string): Promise<boolean>;
  /** Whether the set is shared across processes and restarts. */
  readonly shared: boolean;
}

/** Checks dates and records seen requests. */
export class ReplayGuard {
  #seen: SeenSet;
  #windowSeconds: number;
  #refuseBefore: number;

  /**
   * `startedAtSeconds` is when this process started accepting; `keysOutliveProcess` says whether a
   * request sealed before that could still be opened (keys loaded from a file), which is what makes a
   * restart dangerous for a per-process seen-set.
   */
  constructor(
    seen: SeenSet,
    windowSeconds: number,
    startedAtSeconds: number,
    keysOutliveProcess = true,
  ) {
    this.#seen = seen;
    this.#windowSeconds = windowSeconds;
    this.#refuseBefore = !seen.shared && keysOutliveProcess ? startedAtSeconds + windowSeconds : -Infinity;
  }

  /** The accepted clock difference in seconds. */
  get windowSeconds(): number {
    return this.#windowSeconds;
  }

  /**
   * Before any KEM work: refuses an `enc` already recorded (`replayed_request`, in the clear, spending the
   * network's error budget). A store outage fails closed as `overloaded`.
   */
  async checkUnseen(enc: Uint8Array): Promise<void> {
    let seen: boolean;
    try {
      seen = await this.#seen.has(_encKey(enc));
    } catch {
      throw new GatewayError("overloaded", { retryAfterSeconds: 1 });
    }
    if (seen) throw new GatewayError("replayed_request");
  }

  /** Inside the encryption: the request's `Date` (Unix seconds) must be present and within the window. */
  checkDate(date: number | undefined, nowSeconds: number): void {
    if (
      date === undefined || Math.abs(nowSeconds - date) > this.#windowSeconds || date < this.#refuseBefore
    ) {
      throw new GatewayError("stale_request");
    }
  }

  /**
   * Records `enc` after a successful open. Two copies racing past {@link checkUnseen} meet here: the
   * second is `replayed_request`. A store outage fails closed (`overloaded`, retryable).
   */
  async record(enc: Uint8Array): Promise<void> {
    // Entries outlive the window on both sides of the clock.
    const ttl = 2 * this.#windowSeconds + 1;
    let fresh: boolean;
    try {
      fresh = await this.#seen.addIfAbsent(_encKey(enc), ttl);
    } catch {
      throw new GatewayError("overloaded", { retryAfterSeconds: 1 });
    }
    if (!fresh) throw new GatewayError("replayed_request");
  }
}

/** Synchronous: a WebCrypto digest is a hop to the runtime's thread pool, slow when the cores are busy. */
function _encKey(enc: Uint8Array): string {
  return `e:${toBase64Url(sha256(enc))}`;
}
