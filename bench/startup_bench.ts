/**
 * Start-up of the embedded demo default (`deno run --allow-read --allow-write --allow-env --allow-run --allow-net bench/startup_bench.ts`): the gateway process is
 * started with no PG_MODEL_PATH, as `deno task start` does, and /ready is polled every 10 ms. Twice per
 * round in a fresh runtime directory: the first start generates the gpt-oss demo model, the second reuses
 * it. Needs the cached llama-server build. Prints medians over the rounds. Results: docs/benchmarks.md.
 */
import { spawnBenchGateway } from "../scripts/lib/bench_gateway.ts";

const ROUNDS = Number(Deno.args[0] ?? 3);
const bin = Deno.env.get("PG_TEST_LLAMA_SERVER_BIN") ??
  `${Deno.env.get("HOME")}/.cache/privacy-gateway/llama-server-node-llama-cpp-3.22.1-cpu/bin/llama-server`;

async function readyAfterMs(dir: string, port: number): Promise<number> {
  const started = performance.now();
  const env = { PG_RUNTIME_DIR: dir, PG_LLAMA_SERVER_BIN: bin, PG_PORT: String(port), PG_LOG_LEVEL: "error" };
  // The product's own permission flags for this configuration, as `deno task start`.
  // STARTUP_BENCH_V8_FLAGS (e.g. --max-semi-space-size=32, V8's default) go after the product's own flags,
  // to compare.
  const v8Flags = Deno.env.get("STARTUP_BENCH_V8_FLAGS");
  const child = spawnBenchGateway(env, { v8Flags, stdout: "null", stderr: "null" });
  try {
    while (true) {
      const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => (r.body?.cancel(), r.ok),
        () => false,
      );
      if (ok) return performance.now() - started;
      if (performance.now() - started > 60_000) throw new Error("Cannot measure: not ready within 60 s");
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

const first: number[] = [];
const again: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const dir = await Deno.makeTempDir({ prefix: "pg-startup-" });
  await Deno.chmod(dir, 0o700);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  try {
    first.push(await readyAfterMs(dir, port));
    again.push(await readyAfterMs(dir, port));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `Demo default to /ready: first start ${median(first).toFixed(0)} ms (generates the model), ` +
    `later starts ${median(again).toFixed(0)} ms (median of ${ROUNDS}; all: ${first.map(Math.round)} / ${
      again.map(Math.round)
    })`,
);
