/**
 * Replay protection (docs/protocol.md §3.3). A request is accepted once: its timestamp must lie within
 * ±window of the gateway's clock, and neither its `enc` nor its request id may have been seen within the
 * window. Entries only need to live as long as the window, since older requests fail the time check.
 *
 * A restart must not reopen the window. A previous process with a per-process (memory) seen-set may have
 * accepted any timestamp up to its own clock + window, and its clock was at most this process's start, so
 * every timestamp below `start + window` may already have been seen: those are refused (review item 2;
 * the old rule, `timestamp < start`, let a request stamped 40 s ahead be replayed after a restart). The
 * rule is needed only when the keys outlive the process: freshly generated in-memory keys cannot open a
 * request sealed before the process started, so such a gateway skips the rule and serves at once.
 */
import { toBase64Url } from "../crypto/mod.ts";
import { GatewayError } from "./errors.ts";
import type { RequestHeader } from "./request_header.ts";

/** A set of recently seen values with expiry, shared by all gateways when it lives in Redis. */
export interface SeenSet {
  /** Adds `key` for `ttlSeconds`; resolves false when it was already present. Rejects when unavailable. */
  addIfAbsent(key: string, ttlSeconds: number): Promise<boolean>;
  /** Whether the set is shared across processes and restarts. */
  readonly shared: boolean;
}

/** Checks timestamps and records seen requests. */
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

  /** Cheap check done before any decryption work. */
  checkTimestamp(header: RequestHeader, nowSeconds: number): void {
    if (Math.abs(nowSeconds - header.timestamp) > this.#windowSeconds) {
      throw new GatewayError("stale_request");
    }
    if (header.timestamp < this.#refuseBefore) {
      throw new GatewayError("stale_request");
    }
  }

  /**
   * Records `enc` and the request id; done only after successful decryption so that garbage cannot fill
   * the set. A store outage fails closed (`upstream_unavailable` would mislead; the request is refused as
   * overloaded and can be retried).
   */
  async record(header: RequestHeader, enc: Uint8Array): Promise<void> {
    // Entries outlive the window on both sides of the clock.
    const ttl = 2 * this.#windowSeconds + 1;
    let fresh: boolean;
    try {
      const [encFresh, idFresh] = await Promise.all([
        this.#seen.addIfAbsent(`e:${toBase64Url(enc)}`, ttl),
        this.#seen.addIfAbsent(`r:${toBase64Url(header.requestId)}`, ttl),
      ]);
      fresh = encFresh && idFresh;
    } catch {
      throw new GatewayError("overloaded", { retryAfterSeconds: 1 });
    }
    if (!fresh) throw new GatewayError("replayed_request");
  }
}
