/**
 * V8's young generation, sized from the configured capacity. Every launch takes it from here with the
 * grants (scripts/permissions.ts: `deno task start`, the tests' deployed gateway, and `deno compile`,
 * which bakes it into the binary), because V8 reads it once, before the heap exists.
 *
 * Why: at 256 open streams the gateway's RSS is mostly young-generation headroom, not what the streams
 * keep (~62 KiB of live heap each). Left alone, V8 grows each semi-space under load up to its default
 * maximum, which it derives from the host's memory (32 MiB on a 24 GiB host: 96 MiB of young generation);
 * capped at 8 MiB, 256 streams cost 136–148 KiB each instead of 288–290 (bench/rss_bench.ts,
 * docs/benchmarks.md). A cap too small for the number of streams is worse than none: a stream's state
 * between two of its tokens then outlives two scavenges, is promoted, and old space fills with garbage.
 * What a stream allocates between two of its tokens does not depend on the token rate, so that cliff
 * follows streams per MiB of semi-space; measured: 32 per MiB is below it (256 streams at 8 MiB, 128 at
 * 4), 64 per MiB past it (256 at 4, 128 at 2). So the cap grows with capacity, at most 32 streams per MiB,
 * never under 8 MiB (the CPU per stream at 32 streams is the same as uncapped: 17.1–17.7 against
 * 16.8–17.1 ms) and never over 32 MiB, the default of a large host. Above 256 streams the rule is
 * extrapolated: llama-server serves at most 256 slots here, so no more streams could be opened to measure.
 *
 * Only the gateway role: an inference node relays streams through node:https and was not measured, so it
 * keeps V8's default. Like the grants, a compiled binary keeps the cap of the env file it was built from:
 * changing PG_MAX_CONCURRENT_STREAMS means rebuilding (`gateway.listening` logs the heap limit it got).
 */
import type { Role } from "./grants.ts";
import type { EnvConfig } from "./schema.ts";

/** Streams per MiB of semi-space: half of the measured cliff (64). */
const _STREAMS_PER_MIB = 32;
/** The smallest cap: the one measured at the default capacity (32 streams); smaller ones were not. */
const _MIN_SEMI_SPACE_MIB = 8;
/** V8's default on a large host (Deno 2.9.6, 24 GiB; `heap_size_limit` moves by 3 MiB per MiB of cap). */
const _MAX_SEMI_SPACE_MIB = 32;

/**
 * The semi-space cap, in MiB, for `maxStreams` concurrent streams: a power of two, because V8 rounds the
 * flag up to one (9 MiB gives 16, measured by the heap limit).
 */
export function semiSpaceMiB(maxStreams: number): number {
  const needed = 2 ** Math.ceil(Math.log2(Math.max(1, maxStreams / _STREAMS_PER_MIB)));
  return Math.min(_MAX_SEMI_SPACE_MIB, Math.max(_MIN_SEMI_SPACE_MIB, needed));
}

/** The V8 flags a launch of `config` in `role` carries (one Deno `--v8-flags` argument, or none). */
export function v8Flags(config: EnvConfig, role: Role): string[] {
  if (role !== "gateway") return [];
  return [`--v8-flags=--max-semi-space-size=${semiSpaceMiB(config.PG_MAX_CONCURRENT_STREAMS)}`];
}
