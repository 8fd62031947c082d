/**
 * The abuse limits a single-source benchmark raises (scripts/load.ts, bench/cpu_bench.ts, rss_bench.ts,
 * heap_bench.ts): one machine plays many devices from one network, which the per-network and per-device
 * limits, the decapsulation budget and proof of work under load would otherwise refuse. Everything else
 * stays at its default.
 */
const _BIG = "1000000";

/** PG_* overrides for a benchmark's gateway. */
export const SINGLE_SOURCE_LIMITS: Readonly<Record<string, string>> = {
  PG_MAX_TOKENS_CAP: "100000",
  PG_NETWORK_STREAM_SHARE_PERCENT: "100",
  PG_MAX_CONNECTIONS_PER_NETWORK: _BIG,
  PG_IP_RATE_PER_MINUTE: _BIG,
  PG_IP_BURST: "100000",
  PG_DEVICE_RATE_PER_MINUTE: _BIG,
  PG_DEVICE_BURST: "100000",
  PG_NEW_DEVICES_PER_NETWORK_PER_HOUR: _BIG,
  PG_DECAPSULATIONS_PER_SECOND: _BIG,
  PG_POW_LOAD_PERCENT: "1000",
};
