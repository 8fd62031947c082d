/** Abuse limits: network and device rates, error budget, proof of work, admission, shared state. */
export { AbuseGuard, type GuardObserver, type LimitName, type LimitsConfig } from "./abuse_guard.ts";
export { AdmissionQueue } from "./admission_queue.ts";
export { DecapsulationBudget } from "./decapsulation_budget.ts";
export { clientAddress, KeyHasher, networkOf } from "./client_key.ts";
export { LOOPBACK_PROXIES, parseIp, TrustedProxies } from "./trusted_proxies.ts";
export { gcraStep, type Rate } from "./gcra.ts";
export { type Challenge, ProofOfWork } from "./proof_of_work.ts";
export { type LimitStore, MemoryStore } from "./store.ts";
export type { RedisStore } from "./redis_store.ts";

/**
 * Connects to Redis. The Redis client is loaded only here, when a Redis URL is configured: importing it
 * costs ~95 ms of start-up (measured) that a gateway without Redis should not pay (issue #15).
 */
export async function connectRedisStore(
  url: string,
  options?: Parameters<typeof import("./redis_store.ts").RedisStore.connect>[1],
): Promise<import("./redis_store.ts").RedisStore> {
  const { RedisStore } = await import("./redis_store.ts");
  return await RedisStore.connect(url, options);
}
