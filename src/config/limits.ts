/** Abuse limits per profile; explicit PG_* settings override the profile's defaults. */
import type { LimitsConfig } from "../limits/mod.ts";
import type { EdgeLimits } from "../http/mod.ts";
import type { EnvConfig } from "./schema.ts";

const _DEFAULTS = {
  development: {
    ip: [600, 100],
    device: [120, 30],
    concurrency: 4,
    newDevices: 100,
    errors: [60, 30],
    powNew: false,
    load: 90,
    bits: [8, 16],
  },
  production: {
    ip: [120, 30],
    device: [20, 5],
    concurrency: 2,
    newDevices: 10,
    errors: [20, 10],
    powNew: true,
    load: 80,
    bits: [12, 20],
  },
} as const;

/** The effective limits for a configuration. */
export function limitsFor(config: EnvConfig): LimitsConfig & { requireDevice: boolean } {
  const d = _DEFAULTS[config.PG_PROFILE];
  return {
    network: { perMinute: config.PG_IP_RATE_PER_MINUTE ?? d.ip[0], burst: config.PG_IP_BURST ?? d.ip[1] },
    device: {
      perMinute: config.PG_DEVICE_RATE_PER_MINUTE ?? d.device[0],
      burst: config.PG_DEVICE_BURST ?? d.device[1],
    },
    errorBudget: {
      perMinute: config.PG_ERROR_BUDGET_PER_MINUTE ?? d.errors[0],
      burst: config.PG_ERROR_BURST ?? d.errors[1],
    },
    deviceConcurrency: config.PG_DEVICE_CONCURRENCY ?? d.concurrency,
    newDevicesPerNetworkPerHour: config.PG_NEW_DEVICES_PER_NETWORK_PER_HOUR ?? d.newDevices,
    powForNewDevices: config.PG_POW_FOR_NEW_DEVICES ?? d.powNew,
    powLoadThreshold: (config.PG_POW_LOAD_PERCENT ?? d.load) / 100,
    powBaseBits: config.PG_POW_BASE_BITS ?? d.bits[0],
    powMaxBits: config.PG_POW_MAX_BITS ?? d.bits[1],
    powTtlSeconds: 120,
    storeFailure: config.PG_REDIS_LIMITS_ON_FAILURE,
    requireDevice: config.PG_REQUIRE_DEVICE ?? config.PG_PROFILE === "production",
  };
}

/** Beyond the application's own deadlines: the time its error answer needs to be written. */
const _RESPONSE_GRACE_MS = 10_000;

/** The edge's connection limits and timeouts (src/http/listener.ts). */
export function edgeLimitsFor(config: EnvConfig): EdgeLimits {
  return {
    headTimeoutMs: config.PG_HEAD_TIMEOUT_SECONDS * 1000,
    // Deno's own parser allows far more; no legitimate client of this API sends more than a few hundred bytes.
    maxHeadBytes: 16 * 1024,
    bodyTimeoutMs: config.PG_BODY_TIMEOUT_SECONDS * 1000,
    bodyMinBytesPerSecond: config.PG_BODY_MIN_BYTES_PER_SECOND,
    stallTimeoutMs: config.PG_STALL_TIMEOUT_SECONDS * 1000,
    maxBodyBytes: config.PG_MAX_BODY_BYTES,
    maxConnections: config.PG_MAX_CONNECTIONS,
    maxConnectionsPerNetwork: config.PG_MAX_CONNECTIONS_PER_NETWORK,
    // 64 MiB, or room for four maximum-size bodies: with 512 connections × 16 MiB bodies the sum could
    // otherwise reach 8 GiB (review of the edge).
    maxBodyBytesInFlight: Math.max(64 * 1024 * 1024, 4 * config.PG_MAX_BODY_BYTES),
    // The application answers once admitted (queue wait) and, without streaming, once generated.
    responseStartMs: (config.PG_QUEUE_WAIT_SECONDS + config.PG_REQUEST_TIMEOUT_SECONDS) * 1000 +
      _RESPONSE_GRACE_MS,
  };
}
