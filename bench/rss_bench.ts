/**
 * Gateway memory per open stream (`deno run --allow-read --allow-write --allow-env --allow-run --allow-net bench/rss_bench.ts [streams]`): the gateway runs as its own
 * process (`src/main.ts serve`, demo model, llama-server with one slot per stream), this process opens N
 * streams through the SDK (one device each) and keeps reading them slowly; the gateway's RSS is read from
 * /proc when idle, with all streams open, and after they are cancelled and a few seconds have passed.
 */
import { GatewayClient } from "../src/client/mod.ts";
import { demoModelFile } from "../src/inference/mod.ts";
import { SINGLE_SOURCE_LIMITS } from "../scripts/lib/bench_limits.ts";
import { spawnBenchGateway } from "../scripts/lib/bench_gateway.ts";

const STREAMS = Number(Deno.args[0] ?? 256);
const bin = Deno.env.get("PG_TEST_LLAMA_SERVER_BIN") ??
  `${Deno.env.get("HOME")}/.cache/privacy-gateway/llama-server-node-llama-cpp-3.22.1-cpu/bin/llama-server`;
const dir = await Deno.makeTempDir({ prefix: "pg-rss-" });
await Deno.chmod(dir, 0o700);
// Generated here, not in the gateway: a production gateway loads a model file, it never generates one.
await demoModelFile(dir);
const port = 20_000 + Math.floor(Math.random() * 20_000);
// RSS_BENCH_V8_FLAGS (e.g. --max-semi-space-size=32, V8's default: no cap) is passed to the gateway's V8
// after the product's own launch flags, to compare flags.
const v8Flags = Deno.env.get("RSS_BENCH_V8_FLAGS");
const env: Record<string, string> = {
  PG_RUNTIME_DIR: dir,
  PG_LLAMA_SERVER_BIN: bin,
  PG_PORT: String(port),
  PG_LOG_LEVEL: "error",
  PG_LLAMA_PARALLEL: String(STREAMS),
  PG_LLAMA_CTX: String(STREAMS * 512),
  PG_MAX_CONCURRENT_STREAMS: String(STREAMS),
  ...SINGLE_SOURCE_LIMITS,
  // Device mode: in token mode (the default) each of the 256 SDK devices would first blind a batch of
  // tokens in this process (~25 ms each, minutes in all); an open stream's state is the same either way.
  PG_AUTH: "device",
};
// The product's own permission flags for this configuration, as `deno task start` (scripts/lib/bench_gateway.ts).
const shown = Deno.env.get("RSS_BENCH_STDOUT") ? "inherit" : "null";
const child = spawnBenchGateway(env, { v8Flags, stdout: shown, stderr: shown });
const rssKiB = () => {
  const out = new Deno.Command("cat", { args: [`/proc/${child.pid}/status`] }).outputSync();
  return Number(/VmRSS:\s+(\d+)/.exec(new TextDecoder().decode(out.stdout))![1]);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
try {
  const base = `http://127.0.0.1:${port}`;
  while (!(await fetch(`${base}/ready`).then((r) => (r.body?.cancel(), r.ok), () => false))) await sleep(50);
  const clients = Array.from(
    { length: STREAMS },
    () => new GatewayClient({ baseUrl: base, maxAttempts: 1, allowUnpinned: true }),
  );
  // One warm request, so that lazily loaded parts (tokenizer, backend preparation) are in the idle figure.
  for await (const _ of clients[0].chat({ messages: [{ role: "user", content: "warm" }], max_tokens: 4 }));
  await sleep(1000);
  const idle = rssKiB();
  const controller = new AbortController();
  let open = 0;
  const streams = clients.map(async (client) => {
    let first = true;
    try {
      const input = { messages: [{ role: "user" as const, content: "long" }], max_tokens: 50_000 };
      for await (const _ of client.chat(input, controller.signal)) {
        if (first) open++;
        first = false;
      }
    } catch { /* cancelled */ }
  });
  // Every stream has delivered its first event: all are open at the gateway.
  const started = Date.now();
  while (open < STREAMS && Date.now() - started < 120_000) await sleep(200);
  await sleep(3000);
  const loaded = rssKiB();
  controller.abort();
  await Promise.all(streams);
  const ended = Date.now();
  // V8 shrinks its heap and the allocator returns pages only once the process has been idle a while: the
  // RSS is sampled every second for 30 s, and the first second it is back at the idle figure reported.
  let after = 0;
  let backAfterS: number | undefined;
  for (let second = 1; second <= 30; second++) {
    await sleep(ended + second * 1000 - Date.now());
    const now = rssKiB();
    if (second === 5) after = now;
    if (backAfterS === undefined && now <= idle) backAfterS = second;
  }
  const later = rssKiB();
  console.log(
    `Gateway RSS (${open} of ${STREAMS} streams opened): idle ${
      (idle / 1024).toFixed(0)
    } MiB, ${STREAMS} open streams ${(loaded / 1024).toFixed(0)} MiB ` +
      `(${((loaded - idle) / STREAMS).toFixed(0)} KiB per stream), 5 s after they end ${
        (after / 1024).toFixed(0)
      } MiB, 30 s after ${(later / 1024).toFixed(0)} MiB; back at the idle figure ${
        backAfterS === undefined ? "not within 30 s" : `${backAfterS} s after they end`
      }`,
  );
} finally {
  child.kill("SIGTERM");
  await child.status;
  await Deno.remove(dir, { recursive: true });
}
