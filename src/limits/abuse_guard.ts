/**
 * Abuse limits without API keys, in request order:
 *
 *   before decryption   network (IPv4 / IPv6 /64): blocked by its error budget? over its rate? → 429
 *   failed envelope     draws on the network's small error budget; when it is spent, the network is
 *                       blocked for the budget's refill time, so garbage is throttled within a few dozen tries
 *   after decryption    device: rate (GCRA), new devices per network, proof of work for new devices or
 *                       under load, concurrency per device → 429 / 428
 *
 * Every decision goes through the store (memory or Redis). If the store fails, limits either fall back
 * to a per-process memory store ("fallback", the default: still limited, per instance) or refuse
 * ("closed"); replay protection always fails closed (protocol/replay_guard.ts).
 */
import { GatewayError } from "../protocol/mod.ts";
import type { Rate } from "./gcra.ts";
import { type Challenge, ProofOfWork } from "./proof_of_work.ts";
import { type LimitStore, MemoryStore } from "./store.ts";

/** Limits of one profile. */
export interface LimitsConfig {
  network: Rate;
  device: Rate;
  errorBudget: Rate;
  deviceConcurrency: number;
  newDevicesPerNetworkPerHour: number;
  powForNewDevices: boolean;
  powLoadThreshold: number;
  powBaseBits: number;
  powMaxBits: number;
  powTtlSeconds: number;
  storeFailure: "fallback" | "closed";
}

/** Which limit refused a request (metrics label). */
export type LimitName =
  | "network"
  | "error_budget"
  | "device"
  | "new_devices"
  | "device_concurrency"
  | "challenge";

/** Observers for metrics; never receive identifiers. */
export interface GuardObserver {
  rejected(limit: LimitName): void;
  challengeIssued(): void;
  challengeSolved(): void;
}

const _KNOWN_DEVICE_SECONDS = 30 * 24 * 3600;

/** Applies the limits. */
export class AbuseGuard {
  #store: LimitStore;
  #fallback = new MemoryStore();
  #pow: ProofOfWork;
  #config: LimitsConfig;
  #load: () => number;
  #observer: GuardObserver;
  #nowMs: () => number;

  constructor(
    store: LimitStore,
    pow: ProofOfWork,
    config: LimitsConfig,
    load: () => number,
    observer: GuardObserver,
    nowMs: () => number = Date.now,
  ) {
    this.#store = store;
    this.#pow = pow;
    this.#config = config;
    this.#load = load;
    this.#observer = observer;
    this.#nowMs = nowMs;
  }

  /** Before any decryption work: refuses a blocked or too-busy network. */
  async checkNetwork(network: string): Promise<void> {
    if (await this.#call((s) => s.hasMember("blocked", network))) {
      this.#refuse("error_budget", 60_000, "ip_rate_limited");
    }
    const result = await this.#call((s) => s.rate(`net:${network}`, this.#config.network, this.#nowMs()));
    if (!result.allowed) this.#refuse("network", result.retryAfterMs, "ip_rate_limited");
  }

  /** A malformed or undecryptable request: draws on the network's error budget. */
  async recordFailure(network: string): Promise<void> {
    const result = await this.#call((s) => s.rate(`err:${network}`, this.#config.errorBudget, this.#nowMs()))
      .catch(() => ({ allowed: true, retryAfterMs: 0 }));
    if (!result.allowed) {
      const seconds = Math.max(
        1,
        Math.ceil((60 / this.#config.errorBudget.perMinute) * this.#config.errorBudget.burst),
      );
      await this.#call((s) => s.addMember("blocked", network, seconds)).catch(() => {});
    }
  }

  /**
   * After decryption: applies the device limits and the proof of work. Returns the function that gives
   * back the device's concurrency slot when the stream ends.
   */
  async admitDevice(
    device: string,
    network: string,
    pow?: { challenge: string; solution: string },
  ): Promise<() => void> {
    const rate = await this.#call((s) => s.rate(`dev:${device}`, this.#config.device, this.#nowMs()));
    if (!rate.allowed) this.#refuse("device", rate.retryAfterMs, "rate_limited");
    const known = await this.#call((s) => s.hasMember(`known:${device}`, "1"));
    if (!known) {
      const fresh = await this.#call((s) => s.addMember(`newdev:${network}`, device, 3600));
      if (fresh > this.#config.newDevicesPerNetworkPerHour) {
        this.#refuse("new_devices", 60_000, "rate_limited");
      }
    }
    const load = this.#load();
    const needsWork = (!known && this.#config.powForNewDevices) || load >= this.#config.powLoadThreshold;
    if (needsWork) await this.#checkWork(device, network, load, pow);
    const slot = `conc:${device}`;
    if (!await this.#call((s) => s.acquire(slot, this.#config.deviceConcurrency, 900))) {
      this.#refuse("device_concurrency", 1000, "rate_limited");
    }
    await this.#call((s) => s.addMember(`known:${device}`, "1", _KNOWN_DEVICE_SECONDS));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#call((s) => s.release(slot)).catch(() => {});
    };
  }

  /** Current proof-of-work difficulty: the base, one more bit per 10 % of load above the threshold. */
  difficulty(load: number): number {
    // The epsilon keeps 1.0 − 0.8 (0.1999…) from losing a step to floating point.
    const extra = Math.max(0, Math.floor((load - this.#config.powLoadThreshold) * 10 + 1e-9));
    return Math.min(this.#config.powMaxBits, this.#config.powBaseBits + extra);
  }

  async #checkWork(
    device: string,
    network: string,
    load: number,
    pow?: { challenge: string; solution: string },
  ) {
    const now = this.#nowMs() / 1000;
    if (pow) {
      const verdict = await this.#pow.verify(
        pow.challenge,
        pow.solution,
        device,
        network,
        now,
        (token, ttl) => this.#call((s) => s.addIfAbsent(`pow:${token}`, ttl), true),
      );
      if (verdict === "ok") {
        this.#observer.challengeSolved();
        return;
      }
    }
    const challenge: Challenge = await this.#pow.issue(
      device,
      network,
      this.difficulty(load),
      now,
      this.#config.powTtlSeconds,
    );
    this.#observer.challengeIssued();
    this.#observer.rejected("challenge");
    throw new GatewayError("challenge_required", { challenge });
  }

  #refuse(limit: LimitName, retryAfterMs: number, code: "rate_limited" | "ip_rate_limited"): never {
    this.#observer.rejected(limit);
    throw new GatewayError(code, { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) });
  }

  /** Runs a store operation with the configured outage behaviour; `strict` operations never fall back. */
  async #call<T>(operation: (store: LimitStore) => Promise<T>, strict = false): Promise<T> {
    try {
      return await operation(this.#store);
    } catch {
      if (strict || this.#config.storeFailure === "closed") {
        throw new GatewayError("overloaded", { retryAfterSeconds: 1 });
      }
      return await operation(this.#fallback);
    }
  }
}
