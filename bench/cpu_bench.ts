/**
 * Gateway CPU per request and per token (`deno run --allow-read --allow-write --allow-env --allow-run
 * --allow-net bench/cpu_bench.ts [--requests 40] [--tokens 1,256] [--concurrency 1] [--hold 0]`): the
 * gateway runs as its own process (`src/main.ts serve`, the generated
 * demo model, llama-server with `-t 1`), this process sends sequential SDK requests (X-Wing, the SDK's
 * defaults), and the CPU time of each gateway thread is read from /proc before and after each series
 * (`utime + stime` of /proc/PID/task/TID/stat; 10 ms ticks, so series are long). llama-server is a separate
 * process and not counted; the SDK's work is in this process and not counted.
 *
 * In token mode (the gateway's default) every request spends a Privacy Pass token (redeemed by the
 * gateway, counted); wallets are filled before each series, so issuance is not counted.
 *
 * Two series, one with 1 token and one with many, split the cost: per request = the 1-token series (HTTP
 * through the edge, HPKE open, device proof, limits, render, tokenize, upstream request, one chunk, end);
 * per token = (many − one) / (tokens − 1). `--hold SECONDS` keeps the gateway running after the series and
 * prints its pid first, for `perf record -p PID` (with CPU_BENCH_V8_FLAGS=--perf-basic-prof).
 */
import { parseArgs } from "node:util";
import { GatewayClient } from "../src/client/mod.ts";
import { demoModelFile } from "../src/inference/mod.ts";
import { SINGLE_SOURCE_LIMITS } from "../scripts/lib/bench_limits.ts";
import { spawnBenchGateway } from "../scripts/lib/bench_gateway.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "40" },
    tokens: { type: "string", default: "1,256" },
    concurrency: { type: "string", default: "1" },
    loop: { type: "string", default: "0" },
    // The scripted fake llama-server (tests/helpers/fake_harmony_llama.py) instead of the real one: tokens
    // ~0.3 ms apart, one per read, and no model competing for the cores; the gateway's cost is the same.
    fake: { type: "boolean", default: false },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const series = values.tokens!.split(",").map(Number);
const bin = Deno.env.get("PG_TEST_LLAMA_SERVER_BIN") ??
  `${Deno.env.get("HOME")}/.cache/privacy-gateway/llama-server-node-llama-cpp-3.22.1-cpu/bin/llama-server`;
const dir = await Deno.makeTempDir({ prefix: "pg-cpu-" });
await Deno.chmod(dir, 0o700);
const fake = values.fake
  ? new URL("../tests/helpers/fake_harmony_llama.py", import.meta.url).pathname
  : undefined;
if (!fake) await demoModelFile(dir);
const port = 20_000 + Math.floor(Math.random() * 20_000);
const big = "1000000";
const v8Flags = Deno.env.get("CPU_BENCH_V8_FLAGS");
const env: Record<string, string> = {
  PG_RUNTIME_DIR: dir,
  PG_LLAMA_SERVER_BIN: fake ?? bin,
  ...(fake ? { PG_MODEL_PATH: `${dir}/fake.gguf` } : {}),
  PG_PORT: String(port),
  PG_LOG_LEVEL: "error",
  PG_LLAMA_THREADS: "1",
  PG_LLAMA_PARALLEL: String(Math.max(2, concurrency)),
  PG_LLAMA_CTX: String(Math.max(2, concurrency) * 1024),
  ...SINGLE_SOURCE_LIMITS,
  // Token mode (the default): wallets are filled before each series, so issuance is not counted.
  PG_TOKEN_BATCH_SIZE: "100",
  PG_TOKENS_PER_DEVICE_PER_DAY: big,
};
// The product's own permission flags for this configuration, as `deno task start` (scripts/lib/bench_gateway.ts).
// CPU_BENCH_STDOUT shows the gateway's own output (e.g. with CPU_BENCH_V8_FLAGS=--trace-gc).
const child = spawnBenchGateway(env, {
  v8Flags,
  stdout: Deno.env.get("CPU_BENCH_STDOUT") ? "inherit" : "null",
  stderr: "inherit",
});

/** CPU ms of each gateway thread by name (the main thread is the one whose tid is the pid). */
const threadsCpu = (): Map<string, number> => {
  const out = new Deno.Command("sh", {
    args: ["-c", `for t in /proc/${child.pid}/task/*; do echo "$(basename $t) $(cat $t/stat)"; done`],
  }).outputSync();
  const byName = new Map<string, number>();
  for (const line of new TextDecoder().decode(out.stdout).trim().split("\n")) {
    const tid = Number(line.slice(0, line.indexOf(" ")));
    const name = tid === child.pid ? "main" : line.slice(line.indexOf("(") + 1, line.lastIndexOf(")"));
    const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
    const ms = (Number(fields[11]) + Number(fields[12])) * 10;
    byName.set(name, (byName.get(name) ?? 0) + ms);
  }
  return byName;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
try {
  const base = `http://127.0.0.1:${port}`;
  while (!(await fetch(`${base}/ready`).then((r) => (r.body?.cancel(), r.ok), () => false))) await sleep(50);
  const clients = Array.from(
    { length: concurrency },
    () =>
      new GatewayClient({
        baseUrl: base,
        maxAttempts: 1,
        allowUnpinned: true,
        tokenBatchSize: 100,
        tokenLowWater: requests + 1,
      }),
  );
  /** Token mode: every client holds enough tokens for a whole series before it starts. */
  const refill = async () => {
    for (const c of clients) {
      if (!c.tokenMode) continue;
      while (await c.tokensLeft() <= Math.ceil(requests / concurrency)) {
        if (await c.prefetchTokens() === 0) break;
      }
    }
  };
  const one = async (client: GatewayClient, tokens: number) => {
    let got = 0;
    const content = fake ? `BENCH-TOKENS-${tokens}` : "Tell me about the sea.";
    for await (const e of client.chat({ messages: [{ role: "user", content }], max_tokens: tokens })) {
      if (e.type === "done") got = e.usage.completion_tokens;
      if (e.type === "error") throw new Error(`Gateway answered an error event: ${e.code}`);
    }
    return got;
  };
  for (const c of clients) await one(c, 4);
  for (let i = 0; i < 5; i++) await one(clients[0], 256);
  console.log(`gateway pid ${child.pid}`);
  const results: { tokens: number; main: number; other: number; got: number; wall: number }[] = [];
  for (let pass = 0; pass <= Number(values.loop); pass++) {
    for (const tokens of series) {
      await refill();
      const before = threadsCpu();
      const t0 = performance.now();
      let got = 0;
      for (let i = 0; i < requests; i += concurrency) {
        const counts = await Promise.all(clients.map((c) => one(c, tokens)));
        got += counts.reduce((a, b) => a + b, 0);
      }
      const wall = performance.now() - t0;
      const after = threadsCpu();
      let main = 0;
      let other = 0;
      for (const [name, ms] of after) {
        const d = ms - (before.get(name) ?? 0);
        if (name === "main") main += d;
        else other += d;
      }
      const n = Math.ceil(requests / concurrency) * concurrency;
      results.push({ tokens, main: main / n, other: other / n, got: got / n, wall: wall / n });
      console.log(
        `${tokens} tokens (got ${(got / n).toFixed(0)}), ${n} requests × ${concurrency}: main thread ${
          (main / n).toFixed(2)
        } ms CPU per request, other gateway threads ${(other / n).toFixed(2)} ms, wall ${
          (wall / n).toFixed(1)
        } ms`,
      );
    }
  }
  if (results.length >= 2) {
    const [a, b] = [results[0], results[1]];
    const perToken = ((b.main - a.main) / (b.got - a.got)) * 1000;
    const perTokenAll = ((b.main + b.other - a.main - a.other) / (b.got - a.got)) * 1000;
    console.log(
      `per request (1-token series, main thread): ${a.main.toFixed(2)} ms; per token: ${
        perToken.toFixed(1)
      } µs main thread, ${perTokenAll.toFixed(1)} µs all gateway threads`,
    );
  }
} finally {
  child.kill("SIGTERM");
  await child.status;
  await Deno.remove(dir, { recursive: true });
}
