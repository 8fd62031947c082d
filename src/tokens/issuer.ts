/**
 * Issuance (RFC 9578 §6.2) behind limits. Identity and limits live here, never at redemption:
 *
 *   1. batch of 1..maxBatch well-formed TokenRequests                          → invalid_token_request
 *      all for the issuing key (truncated token_key_id)                         → token_key_retired
 *   2. attester proves the device (deviceId: a keyed hash)                       → attestation_required/_invalid
 *   3. a device not seen before counts toward new devices per network per hour → rate_limited
 *   4. under load (≥ powLoadThreshold), a proof of work bound to device+network → challenge_required
 *   5. tokens per device per window: one GCRA step per token, "tdev:" deviceId; the batch is cut to the
 *      steps allowed (the first k requests), none allowed                        → rate_limited
 *   6. blind-sign each request with the issuing key
 *
 * Store failures refuse (`overloaded`): issuance is not on the chat path, and a limit that silently stops
 * limiting mints unlimited anonymous tokens.
 */
import { setImmediate } from "node:timers";
import type { LimitStore, ProofOfWork } from "../limits/mod.ts";
import type { Attester } from "./attester.ts";
import type { IssuerKeys } from "./issuer_keys.ts";
import { TokenError } from "./token_error.ts";
import { parseTokenRequest } from "./wire.ts";

/** Issuance limits. */
export interface IssuanceLimits {
  /** Largest batch one request may ask for. */
  maxBatch: number;
  /** Tokens one device may obtain per window (GCRA burst), refilled evenly over `windowSeconds`. */
  tokensPerWindow: number;
  windowSeconds: number;
  /** Devices first seen on one network within an hour. */
  newDevicesPerNetworkPerHour: number;
  /** Load (0..1) from which a proof of work is required; above 1 never. */
  powLoadThreshold: number;
  powBits: number;
  powTtlSeconds: number;
}

/** Outcomes of an issuance (metrics label; closed vocabulary). */
export type IssuanceOutcome =
  | "issued"
  | "partial"
  | "invalid"
  | "attestation"
  | "new_devices"
  | "challenge"
  | "device_quota"
  | "store_unavailable";

/** What the endpoint knows about the caller. */
export interface IssuanceContext {
  /** The keyed hash of the client's network (IPv4 or IPv6 /64), as the limits compute it. */
  network: string;
  /** The attester's evidence (untrusted JSON). */
  evidence: unknown;
  /** A solved proof-of-work challenge, when one was asked for. */
  pow?: { challenge: string; solution: string };
}

/** Options of an {@link Issuer}. */
export interface IssuerOptions {
  keys: IssuerKeys;
  store: LimitStore;
  attester: Attester;
  limits: IssuanceLimits;
  /** Proof-of-work challenges under load (src/limits). */
  pow: ProofOfWork;
  /** Current load, 0..1 (e.g. the admission queue's occupancy). */
  load?: () => number;
  observe?: (outcome: IssuanceOutcome, tokens: number) => void;
  nowMs?: () => number;
}

const _KNOWN_DEVICE_SECONDS = 30 * 24 * 3600;

/** Blind-signs batches of token requests after attestation and limits. */
export class Issuer {
  #o: Required<IssuerOptions>;

  constructor(options: IssuerOptions) {
    const l = options.limits;
    if (!(l.maxBatch >= 1 && l.maxBatch <= 100 && l.tokensPerWindow >= 1 && l.windowSeconds > 0)) {
      throw new Error(
        "Cannot create the issuer: maxBatch must be 1..100, tokensPerWindow ≥ 1, windowSeconds > 0",
      );
    }
    this.#o = {
      ...options,
      load: options.load ?? (() => 0),
      observe: options.observe ?? (() => {}),
      nowMs: options.nowMs ?? Date.now,
    };
  }

  /** Signs the first k of `requests` (serialized TokenRequests); returns the TokenResponses in order. */
  async issue(requests: Uint8Array[], context: IssuanceContext): Promise<Uint8Array<ArrayBuffer>[]> {
    const { limits, keys, attester } = this.#o;
    const now = this.#o.nowMs();
    const key = keys.current(now);
    const parsed = requests.map(parseTokenRequest);
    if (!key || requests.length < 1 || requests.length > limits.maxBatch || parsed.some((p) => !p)) {
      this.#refuse("invalid", new TokenError("invalid_token_request"));
    }
    // Blinded against a key that no longer issues (the app's key set is stale): tell it to refetch.
    if (parsed.some((p) => p!.truncatedTokenKeyId !== key!.truncatedTokenKeyId)) {
      this.#refuse("invalid", new TokenError("token_key_retired"));
    }
    const verdict = await this.#call(() =>
      attester.verify(context.evidence, { network: context.network, nowMs: now })
    );
    if ("refusal" in verdict) {
      this.#refuse("attestation", new TokenError(verdict.refusal, { challenge: verdict.challenge }));
    }
    const device = verdict.deviceId;
    await this.#checkNewDevice(device, context.network);
    await this.#checkWork(device, context, now);
    const steps = await this.#call(() =>
      Promise.all(parsed.map(() => this.#o.store.rate(`tdev:${device}`, this.#rate(), now)))
    );
    const allowed = steps.filter((s) => s.allowed).length;
    if (allowed === 0) {
      const wait = Math.min(...steps.map((s) => s.retryAfterMs));
      this.#refuse(
        "device_quota",
        new TokenError("rate_limited", { retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) }),
      );
    }
    await this.#call(() => this.#o.store.addMember(`tknown:${device}`, "1", _KNOWN_DEVICE_SECONDS));
    const responses: Uint8Array<ArrayBuffer>[] = [];
    for (const p of parsed.slice(0, allowed)) {
      // One signature holds the event loop ~1.5 ms; yielding between them keeps a batch of 32 from
      // delaying the gateway's streams by ~50 ms at once.
      if (responses.length > 0) await _yieldToEventLoop();
      const signature = key!.blindSign(p!.blindedMsg);
      if (!signature) this.#refuse("invalid", new TokenError("invalid_token_request"));
      responses.push(signature);
    }
    this.#o.observe(allowed === requests.length ? "issued" : "partial", allowed);
    return responses;
  }

  async #checkNewDevice(device: string, network: string): Promise<void> {
    const store = this.#o.store;
    if (await this.#call(() => store.hasMember(`tknown:${device}`, "1"))) return;
    const fresh = await this.#call(() => store.addMember(`tnewdev:${network}`, device, 3600));
    if (fresh > this.#o.limits.newDevicesPerNetworkPerHour) {
      this.#refuse("new_devices", new TokenError("rate_limited", { retryAfterSeconds: 60 }));
    }
  }

  async #checkWork(device: string, context: IssuanceContext, now: number): Promise<void> {
    const { limits, pow } = this.#o;
    if (this.#o.load() < limits.powLoadThreshold) return;
    if (context.pow) {
      const verdict = await this.#call(() =>
        pow.verify(
          context.pow!.challenge,
          context.pow!.solution,
          device,
          context.network,
          now / 1000,
          (token, ttl) => this.#o.store.addIfAbsent(`tpowl:${token}`, ttl),
        )
      );
      if (verdict === "ok") return;
    }
    const challenge = await pow.issue(
      device,
      context.network,
      limits.powBits,
      now / 1000,
      limits.powTtlSeconds,
    );
    this.#refuse("challenge", new TokenError("challenge_required", { challenge }));
  }

  #rate() {
    const l = this.#o.limits;
    // GCRA lets burst + 1 steps through at once (src/limits/gcra.ts), so the burst is one less.
    return { perMinute: (l.tokensPerWindow * 60) / l.windowSeconds, burst: l.tokensPerWindow - 1 };
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch {
      this.#refuse("store_unavailable", new TokenError("overloaded", { retryAfterSeconds: 1 }));
    }
  }

  #refuse(outcome: IssuanceOutcome, error: TokenError): never {
    this.#o.observe(outcome, 0);
    throw error;
  }
}

/** Lets pending I/O run (setImmediate: after the poll phase, without setTimeout's ~1 ms clamp). */
function _yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
