/**
 * A benchmark's gateway as its own process, the way `deno task start` runs it: `src/main.ts serve` under
 * the product's own permission flags for `env` (scripts/permissions.ts), never -A (bench/cpu_bench.ts,
 * bench/rss_bench.ts, bench/startup_bench.ts).
 */
import { permissionFlags, scopeFromEnv } from "../permissions.ts";

/**
 * Spawns the gateway for `env`, with the launch flags its configuration gets (grants and the young
 * generation's cap, src/config/heap.ts); `v8Flags` go to its V8 after those and win, to compare flags
 * (`--max-semi-space-size=32` is V8's own default, i.e. no cap).
 * BENCH_PROF_DIR, when set, makes the gateway write a V8 CPU profile there when it exits (`--cpu-prof`);
 * BENCH_GATEWAY_ENV, a JSON object of PG_* values, is added to `env`, to compare settings (e.g.
 * `{"PG_STREAM_CHUNKS_PER_SECOND":"0"}`).
 */
export function spawnBenchGateway(
  env: Record<string, string>,
  options: { v8Flags?: string; stdout: "inherit" | "null"; stderr: "inherit" | "null" },
): Deno.ChildProcess {
  const all = { ...env, ...JSON.parse(Deno.env.get("BENCH_GATEWAY_ENV") ?? "{}") };
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...permissionFlags(scopeFromEnv("gateway", all)),
      ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
      ...(Deno.env.get("BENCH_PROF_DIR")
        ? ["--cpu-prof", `--cpu-prof-dir=${Deno.env.get("BENCH_PROF_DIR")}`]
        : []),
      new URL("../../src/main.ts", import.meta.url).pathname,
      "serve",
    ],
    env: all,
    stdout: options.stdout,
    stderr: options.stderr,
  }).spawn();
}
