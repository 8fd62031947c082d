/**
 * A global budget of HPKE decapsulations, taken before any X25519 work. Per-network limits stop one
 * address; garbage spread over many addresses was decapsulated in full (issue #10, finding 6: 150
 * addresses, each request one X25519). Two GCRA pools per process:
 *
 *   open      (1 − reserved) · perSecond, burst one second's worth: anyone
 *   reserved  reserved · perSecond: only networks that sent a request that decrypted in the last
 *             `_STANDING_MS` (networks in good standing), so a flood of garbage cannot lock them out
 *
 * The budget is per process on purpose: it protects this process's CPU.
 */
import { GatewayError } from "../protocol/mod.ts";
import { gcraStep, type Rate } from "./gcra.ts";

/** How long one successful decryption keeps a network in good standing. */
const _STANDING_MS = 10 * 60_000;
/** Networks remembered at most (oldest forgotten first): bounds memory under a spread-out flood. */
const _MAX_STANDING = 100_000;

/** The decapsulation budget. */
export class DecapsulationBudget {
  #open: Rate | undefined;
  #reserved: Rate | undefined;
  #openTat = 0;
  #reservedTat = 0;
  #standing = new Map<string, number>();
  #nowMs: () => number;

  /** `perSecond` decapsulations, of which the fraction `reserved` (0–1) only for networks in standing. */
  constructor(perSecond: number, reserved: number, nowMs: () => number = Date.now) {
    const pool = (share: number): Rate | undefined =>
      share * perSecond > 0
        ? { perMinute: share * perSecond * 60, burst: Math.max(1, share * perSecond) }
        : undefined;
    this.#open = pool(1 - reserved);
    this.#reserved = pool(reserved);
    this.#nowMs = nowMs;
  }

  /** Takes one decapsulation for `network` (a keyed hash), or throws `overloaded`. */
  take(network: string): void {
    const now = this.#nowMs();
    if (this.#open) {
      const step = gcraStep(this.#openTat, now, this.#open);
      if (step.allowed) {
        this.#openTat = step.tat;
        return;
      }
    }
    if (this.#reserved && (this.#standing.get(network) ?? 0) > now) {
      const step = gcraStep(this.#reservedTat, now, this.#reserved);
      if (step.allowed) {
        this.#reservedTat = step.tat;
        return;
      }
    }
    throw new GatewayError("overloaded", { retryAfterSeconds: 1 });
  }

  /** A request from `network` decrypted: the network is in good standing for a while. */
  vouch(network: string): void {
    this.#standing.delete(network);
    this.#standing.set(network, this.#nowMs() + _STANDING_MS);
    if (this.#standing.size > _MAX_STANDING) {
      this.#standing.delete(this.#standing.keys().next().value!);
    }
  }
}
