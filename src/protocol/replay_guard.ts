/**
 * Replay protection (docs/protocol.md §3.3). A request is accepted once: its timestamp must lie within
 * ±window of the gateway's clock, and neither its `enc` nor its request id may have been seen within the
 * window. Entries only need to live as long as the window, since older requests fail the time check.
 *
 * A restart must not reopen the window: with a per-process (memory) seen-set, requests stamped before the
 * process started accepting are refused, because the process cannot know whether it saw them.
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
  #acceptingSince: number;

  constructor(seen: SeenSet, windowSeconds: number, acceptingSinceSeconds: number) {
    this.#seen = seen;
    this.#windowSeconds = windowSeconds;
    this.#acceptingSince = acceptingSinceSeconds;
  }

  /** Cheap check done before any decryption work. */
  checkTimestamp(header: RequestHeader, nowSeconds: number): void {
    if (Math.abs(nowSeconds - header.timestamp) > this.#windowSeconds) {
      throw new GatewayError("stale_request");
    }
    if (!this.#seen.shared && header.timestamp < this.#acceptingSince) {
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
