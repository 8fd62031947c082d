/** Abuse limits: network and device rates, error budget, proof of work, admission, shared state. */
export { AbuseGuard, type GuardObserver, type LimitName, type LimitsConfig } from "./abuse_guard.ts";
export { AdmissionQueue } from "./admission_queue.ts";
export { DecapsulationBudget } from "./decapsulation_budget.ts";
export { clientAddress, KeyHasher, networkOf } from "./client_key.ts";
export { LOOPBACK_PROXIES, parseIp, TrustedProxies } from "./trusted_proxies.ts";
export { gcraStep, type Rate } from "./gcra.ts";
export { type Challenge, ProofOfWork } from "./proof_of_work.ts";
export { type LimitStore, MemoryStore } from "./store.ts";
export { RedisStore } from "./redis_store.ts";
