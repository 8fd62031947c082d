/** Test helpers for src/tokens: shared issuer keys, an issuer with limits, a PoW solver, a recording store. */
import { Buffer } from "node:buffer";
import { KeyHasher, type LimitStore, MemoryStore, ProofOfWork, type Rate } from "../../src/limits/mod.ts";
import {
  type Attester,
  blindTokenRequest,
  gatewayChallenge,
  type IssuanceLimits,
  Issuer,
  IssuerKeys,
} from "../../src/tokens/mod.ts";

export const ISSUER_NAME = "gateway.example";
export const HOUR = 3_600_000;
/** The tests' clock origin (2027-01-15). */
export const T0 = 1_800_000_000_000;
export const SCHEDULE = { lifetimeMs: 24 * HOUR, overlapMs: 2 * HOUR };

/** Default limits for tests: generous unless a test narrows them. */
export const LIMITS: IssuanceLimits = {
  maxBatch: 32,
  tokensPerWindow: 100,
  windowSeconds: 3600,
  newDevicesPerNetworkPerHour: 10,
  powLoadThreshold: 2,
  powBits: 4,
  powTtlSeconds: 60,
};

/** An attester that trusts `{"device": name}` evidence (issuance tests that are not about attestation). */
export const namedDevices: Attester = {
  verify(evidence) {
    const device = (evidence as { device?: unknown } | undefined)?.device;
    return Promise.resolve(
      typeof device === "string"
        ? { deviceId: `dev-${device}` }
        : { refusal: "attestation_required" as const, challenge: { token: "name yourself" } },
    );
  },
};

export function pow(): Promise<ProofOfWork> {
  return ProofOfWork.fromSecret(new Uint8Array(32).fill(3));
}

export function hasher(): KeyHasher {
  return KeyHasher.fromSecret(new Uint8Array(32).fill(4));
}

/** Solves a proof-of-work challenge (SHA-256(token ‖ "." ‖ counter) with `difficulty` leading zero bits). */
export async function solve(token: string, difficulty: number): Promise<string> {
  for (let counter = 0;; counter++) {
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${token}.${counter}`)),
    );
    let bits = 0;
    for (const byte of digest) {
      if (byte === 0) {
        bits += 8;
        continue;
      }
      bits += Math.clz32(byte) - 24;
      break;
    }
    if (bits >= difficulty) return String(counter);
  }
}

/** Builds an issuer over `keys` and `store`. */
export async function issuer(
  keys: IssuerKeys,
  store: LimitStore,
  options: {
    limits?: Partial<IssuanceLimits>;
    attester?: Attester;
    load?: () => number;
    nowMs?: () => number;
  } = {},
): Promise<Issuer> {
  return new Issuer({
    keys,
    store,
    attester: options.attester ?? namedDevices,
    limits: { ...LIMITS, ...options.limits },
    pow: await pow(),
    load: options.load,
    nowMs: options.nowMs ?? (() => T0),
  });
}

/** `count` blinded requests against the issuing key, with their finalizers. */
export async function blinded(keys: IssuerKeys, nowMs: number, count: number) {
  const [key] = keys.publicKeys(nowMs);
  const spki = new Uint8Array(Buffer.from(key.spki, "base64url"));
  return await Promise.all(
    Array.from({ length: count }, () => blindTokenRequest(gatewayChallenge(ISSUER_NAME), spki)),
  );
}

/** Issues `count` finished tokens to `device`. */
export async function tokens(
  keys: IssuerKeys,
  issue: Issuer,
  nowMs: number,
  count: number,
  device = "alice",
): Promise<Uint8Array[]> {
  const pending = await blinded(keys, nowMs, count);
  const responses = await issue.issue(pending.map((p) => p.request), {
    network: "net-1",
    evidence: { device },
  });
  return await Promise.all(responses.map((r, i) => pending[i].finalize(r)));
}

/** A MemoryStore that records every argument of every call (the whole state a redeemer can leave behind). */
export class RecordingStore extends MemoryStore {
  readonly calls: { op: string; args: (string | number)[] }[] = [];
  override addIfAbsent(key: string, ttlSeconds: number) {
    this.calls.push({ op: "addIfAbsent", args: [key, ttlSeconds] });
    return super.addIfAbsent(key, ttlSeconds);
  }
  override rate(key: string, rate: Rate, nowMs: number) {
    this.calls.push({ op: "rate", args: [key, rate.perMinute, rate.burst, nowMs] });
    return super.rate(key, rate, nowMs);
  }
  override addMember(key: string, member: string, ttlSeconds: number) {
    this.calls.push({ op: "addMember", args: [key, member, ttlSeconds] });
    return super.addMember(key, member, ttlSeconds);
  }
  override hasMember(key: string, member: string) {
    this.calls.push({ op: "hasMember", args: [key, member] });
    return super.hasMember(key, member);
  }
}

/** A store whose every operation fails (an outage). */
export class DownStore extends MemoryStore {
  override addIfAbsent(): Promise<boolean> {
    return Promise.reject(new Error("store down"));
  }
  override rate(): Promise<{ allowed: boolean; retryAfterMs: number }> {
    return Promise.reject(new Error("store down"));
  }
  override addMember(): Promise<number> {
    return Promise.reject(new Error("store down"));
  }
  override hasMember(): Promise<boolean> {
    return Promise.reject(new Error("store down"));
  }
}
