/**
 * V8's young generation, sized from the configured capacity. Every launch takes it from here with the
 * grants (scripts/permissions.ts: `deno task start`, the tests' deployed gateway, and `deno compile`,
 * which bakes it into the binary), because V8 reads it once, before the heap exists.
 *
 * Why: at 256 open streams the gateway's RSS is mostly young-generation headroom, not what the streams
 * keep (~62 KiB of live heap each). Left alone, V8 grows each semi-space to its 32 MiB maximum under load
 * (96 MiB of young generation); capped at 8 MiB, 256 streams cost 136–139 KiB each instead of 249–291
 * (bench/rss_bench.ts, docs/benchmarks.md). A cap too small for the number of streams is worse than none:
 * a stream's state between two tokens then outlives two scavenges, is promoted, and old space fills with
 * garbage. Measured, that cliff follows streams per MiB of semi-space: 32 per MiB is below it (256 streams
 * at 8 MiB, 128 at 4), 64 per MiB past it (256 at 4, 128 at 2). So the cap grows with capacity at 32 streams
 * per MiB, never under 8 MiB (the CPU per stream at 32 streams is the same as uncapped: 17.1–17.7 against
 * 16.8–17.1 ms) and never over V8's own 32 MiB maximum.
 */
import type { EnvConfig } from "./schema.ts";

/** Streams per MiB of semi-space: half of the measured cliff (64). */
const _STREAMS_PER_MIB = 32;
/** The smallest cap: below it the per-request work itself would churn the scavenger for no memory gained. */
const _MIN_SEMI_SPACE_MIB = 8;
/** V8's own maximum semi-space on 64-bit (Deno 2.9.6; `heap_size_limit` moves by 3 × the cap). */
const _MAX_SEMI_SPACE_MIB = 32;

/** The semi-space cap, in MiB, for `maxStreams` concurrent streams. */
export function semiSpaceMiB(maxStreams: number): number {
  return Math.min(
    _MAX_SEMI_SPACE_MIB,
    Math.max(_MIN_SEMI_SPACE_MIB, Math.ceil(maxStreams / _STREAMS_PER_MIB)),
  );
}

/** The V8 flag a launch of `config` carries (one Deno `--v8-flags` argument). */
export function v8Flags(config: EnvConfig): string[] {
  return [`--v8-flags=--max-semi-space-size=${semiSpaceMiB(config.PG_MAX_CONCURRENT_STREAMS)}`];
}
