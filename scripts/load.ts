/**
 * Load tool: streamed tokens/s and time to first token through the gateway (SDK, encryption, Harmony,
 * coalescing) against the same llama-server driven directly with the same prompt ids and sampling, in the
 * same run, at several concurrencies. Prints a Markdown table (and writes it to --out).
 *
 *   deno task load [--concurrency 1,8,32] [--tokens 256] [--rounds 3] [--out docs/benchmarks.md]
 *
 * It starts its own gateway (tiny generated model, real llama-server from scripts/build-llama-server.sh)
 * on loopback, bounded in requests and time; nothing else is contacted.
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/mod.ts";
import {
  conversationFor,
  DEFAULT_POLICY,
  piecesToTokenIds,
  renderConversation,
  SPECIAL_TOKENS,
  type SpecialName,
} from "../src/harmony/mod.ts";
import { generateTinyModel, TINY_SHAPE } from "../src/inference/mod.ts";
import { run } from "../src/main.ts";
import { createLogger } from "../src/observability/mod.ts";
import { chatRequestSchema } from "../src/protocol/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    concurrency: { type: "string", default: "1,8,32" },
    tokens: { type: "string", default: "256" },
    rounds: { type: "string", default: "3" },
    out: { type: "string" },
    "llama-server": { type: "string" },
    // tiny: the demo model (overheads dominate); small: a 27M-parameter model whose per-token cost is
    // closer to a real model's, so ratios show what the gateway adds to inference that costs something.
    shape: { type: "string", default: "tiny" },
    // Threads for llama-server; leaving a core free keeps the gateway from competing with llama.cpp's
    // spinning compute threads, as on a real host with more cores than one model server uses.
    "llama-threads": { type: "string", default: "1" },
  },
});
const levels = values.concurrency!.split(",").map(Number);
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);
const maxLevel = Math.max(...levels);
const bin = values["llama-server"] ?? Deno.env.get("PG_TEST_LLAMA_SERVER_BIN") ??
  `${Deno.env.get("HOME")}/.cache/privacy-gateway/llama-server-node-llama-cpp-3.22.1-cpu/bin/llama-server`;

const dir = await Deno.makeTempDir({ prefix: "pg-load-" });
await Deno.chmod(dir, 0o700);
const shape = values.shape === "small"
  ? { embedding: 512, layers: 8, feedForward: 1536, heads: 8 }
  : TINY_SHAPE;
await Deno.writeFile(`${dir}/model.gguf`, generateTinyModel(42, shape));
const loaded = loadConfig({
  PG_PORT: "0",
  PG_LLAMA_SERVER_BIN: bin,
  PG_RUNTIME_DIR: dir,
  PG_MODEL_PATH: `${dir}/model.gguf`,
  PG_LLAMA_THREADS: values["llama-threads"]!,
  PG_DEMO_MODEL: "true",
  PG_LLAMA_PARALLEL: String(maxLevel),
  PG_LLAMA_CTX: String(maxLevel * 1024),
  PG_MAX_CONCURRENT_STREAMS: String(maxLevel * 2),
}, () => "");
if (!loaded.ok) throw new Error(loaded.problems.join("; "));
const controller = new AbortController();
const gateway = await run(
  loaded.config,
  { logger: createLogger("warn", (line) => console.error(line)) },
  controller.signal,
);
await gateway.supervisor!.ensureReady(AbortSignal.timeout(30_000));
const llama = gateway.supervisor!.client;

// The direct path gets exactly what the gateway sends: the rendered prompt ids, the demo model's bias.
const schema = chatRequestSchema({
  maxMessages: 8,
  maxMessageChars: 1000,
  maxTotalChars: 1000,
  maxTools: 0,
  maxTokensCap: 100_000,
});
const request = schema.parse({
  messages: [{ role: "user", content: "Tell me about the sea." }],
  max_tokens: tokens,
});
const byName = new Map<SpecialName, number>();
for (const [name, text] of Object.entries(SPECIAL_TOKENS) as [SpecialName, string][]) {
  byName.set(name, (await llama.tokenize(text, true))[0]);
}
const forbidden = new Set([...byName.values(), (await llama.tokenize("<|endoftext|>", true))[0]]);
const pieces = renderConversation(
  conversationFor(request, DEFAULT_POLICY, new Date().toISOString().slice(0, 10)),
  {
    mode: "completion",
    autoDropAnalysis: true,
  },
);
pieces.push({ special: "channel" }, { text: "final" }, { special: "message" });
const prompt = await piecesToTokenIds(pieces, { byName, forbidden }, (t) => llama.tokenize(t, false));
const bias: [number, false][] = [];
for (let b = 0; b < 256; b++) if ((b < 32 && b !== 10) || b > 126) bias.push([b, false]);
for (const id of forbidden) bias.push([id, false]);

// The clients run in a worker: their decryption and parsing must not share the gateway's event loop.
const worker = new Worker(new URL("./load_worker.ts", import.meta.url).href, { type: "module" });
const result = Promise.withResolvers<string[]>();
worker.onmessage = (event) => result.resolve(event.data as string[]);
worker.onerror = (event) => result.reject(new Error(event.message));
worker.postMessage({
  url: gateway.url,
  fingerprint: gateway.fingerprint,
  socketPath: `${dir}/llama.sock`,
  prompt,
  bias,
  tokens,
  rounds,
  levels,
});
const rows = await result.promise;
worker.terminate();

controller.abort();
await gateway.finished;
await Deno.remove(dir, { recursive: true });

const table = [
  `Load run of ${
    new Date().toISOString().slice(0, 10)
  }: ${tokens} tokens per stream, median of ${rounds} rounds, ` +
  `${values.shape} generated model (${shape.layers} layers × ${shape.embedding}), llama-server -np ${maxLevel} -t ${
    values["llama-threads"]
  }, ` +
  `${navigator.hardwareConcurrency} cores.`,
  "",
  "| streams | direct tok/s | gateway tok/s | tok/s ratio | direct TTFT p50 (ms) | gateway TTFT p50 (ms) | TTFT ratio |",
  "|---:|---:|---:|---:|---:|---:|---:|",
  ...rows,
].join("\n");
console.log(table);
if (values.out) {
  const text = await Deno.readTextFile(values.out).catch(() => "");
  const start = "<!-- load:start -->";
  const end = "<!-- load:end -->";
  const block = `${start}\n${table}\n${end}`;
  const next = text.includes(start)
    ? text.replace(new RegExp(`${start}[\\s\\S]*${end}`), block)
    : `${text}\n${block}\n`;
  await Deno.writeTextFile(values.out, next);
}
