/**
 * Load tool: tokens/s and time to first token of three paths in one run, on one llama-server, with the
 * same prompt ids and sampling —
 *
 *   direct   the load client → llama-server's UNIX socket
 *   nginx    the load client → Debian's nginx (a plain reverse proxy, what an admin would pick) → the same socket
 *   gateway  SDK → HPKE → gateway → Harmony → llama-server → sealed SSE → SDK
 *
 * — at several concurrencies, then a timeline of sequential gateway requests (where the time goes: before
 * llama-server, /tokenize round trips, llama-server's first token, after it; the gateway thread's CPU per
 * request). Prints Markdown tables (and writes them to --out between markers).
 *
 *   deno task load [--concurrency 1,8,32] [--tokens 256] [--rounds 5] [--model tiny|small]
 *                  [--timeline 40] [--out docs/benchmarks.md] [--no-nginx] [--tick-ms 50]
 *
 * It starts its own gateway in process (generated gpt-oss model with the real vocabulary; the real
 * llama-server from scripts/build-llama-server.sh) and its own nginx (`apt-get install nginx-light`),
 * both on private UNIX sockets and loopback; nothing else is contacted. The gateway's abuse limits are
 * raised for this single-source benchmark (one network, many devices). The task runs it with
 * `--v8-flags=--max-semi-space-size=8`, the young generation's cap the product launches with for up to
 * 256 streams (src/config/heap.ts): the gateway runs in this process, so its V8 flags are this process's.
 */
import { parseArgs } from "node:util";
import { loadConfig, semiSpaceMiB } from "../src/config/mod.ts";
import {
  conversationFor,
  DEFAULT_POLICY,
  piecesToTokenIds,
  piecesToTokenIdsLocal,
  renderConversation,
} from "../src/harmony/mod.ts";
import { generateGptOssModel, GPT_OSS_TINY_SHAPE, type GptOssShape } from "../src/inference/gpt_oss_model.ts";
import { type CompletionChunk, demoModelFile, discoverSpecialTokenIds } from "../src/inference/mod.ts";
import { run } from "../src/main.ts";
import { createLogger } from "../src/observability/mod.ts";
import { chatRequestSchema } from "../src/protocol/mod.ts";
import { checkAgainstServer, loadO200kHarmony } from "../src/tokenizer/mod.ts";
import type { LoadJob, LoadResult } from "./load_worker.ts";
import { SINGLE_SOURCE_LIMITS } from "./lib/bench_limits.ts";

/** A costlier gpt-oss shape: its per-token cost is closer to a real model's, so ratios show the rest. */
const SMALL_SHAPE: GptOssShape = {
  embedding: 256,
  layers: 8,
  heads: 8,
  headDim: 32,
  experts: 8,
  expertsUsed: 2,
  expertFeedForward: 512,
  slidingWindow: 128,
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    concurrency: { type: "string", default: "1,8,32" },
    tokens: { type: "string", default: "256" },
    rounds: { type: "string", default: "5" },
    model: { type: "string", default: "tiny" },
    timeline: { type: "string", default: "40" },
    // A fixed coalescing tick (PG_STREAM_TICK_MS, not lengthened for capacity); the product's defaults unless given.
    "tick-ms": { type: "string" },
    out: { type: "string" },
    "no-nginx": { type: "boolean", default: false },
    nginx: { type: "string", default: "/usr/sbin/nginx" },
    "llama-server": { type: "string" },
    // One thread for llama-server leaves a core for the gateway and the clients, as on a real host with
    // more cores than one model server uses.
    "llama-threads": { type: "string", default: "1" },
  },
});
const levels = values.concurrency!.split(",").map(Number);
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);
const maxLevel = Math.max(...levels);
if (semiSpaceMiB(maxLevel) !== 8) {
  console.error(
    `Note: the product launches ${maxLevel} streams of capacity with --max-semi-space-size=${
      semiSpaceMiB(maxLevel)
    }; \`deno task load\` runs with 8: pass --v8-flags yourself to match it.`,
  );
}
const shape = values.model === "small" ? SMALL_SHAPE : GPT_OSS_TINY_SHAPE;
const bin = values["llama-server"] ?? Deno.env.get("PG_TEST_LLAMA_SERVER_BIN") ??
  `${Deno.env.get("HOME")}/.cache/privacy-gateway/llama-server-node-llama-cpp-3.22.1-cpu/bin/llama-server`;
let useNginx = !values["no-nginx"];
if (useNginx && !(await Deno.stat(values.nginx!).catch(() => undefined))) {
  // Still runs (two paths) rather than failing: the nginx column is a comparison, not the measurement.
  console.error(`NOTE: no nginx at ${values.nginx}: the nginx path is skipped (apt-get install nginx-light)`);
  useNginx = false;
}

const dir = await Deno.makeTempDir({ prefix: "pg-load-" });
await Deno.chmod(dir, 0o700);
const model = values.model === "small" ? `${dir}/model.gguf` : (await demoModelFile(dir)).path;
if (values.model === "small") await Deno.writeFile(model, generateGptOssModel(42, shape));
const big = String(1_000_000);
const loaded = loadConfig({
  PG_PORT: "0",
  PG_LLAMA_SERVER_BIN: bin,
  PG_RUNTIME_DIR: dir,
  PG_MODEL_PATH: model,
  PG_LLAMA_THREADS: values["llama-threads"]!,
  PG_DEMO_MODEL: "true",
  PG_LLAMA_PARALLEL: String(maxLevel),
  PG_LLAMA_CTX: String(maxLevel * 1024),
  // As an admin sets it (one stream per slot); it also sizes the coalescing tick (100 ms for 32).
  PG_MAX_CONCURRENT_STREAMS: String(maxLevel),
  PG_QUEUE_SIZE: String(maxLevel * 2),
  // One source, many devices: the per-network and per-device abuse limits would refuse the benchmark itself.
  ...SINGLE_SOURCE_LIMITS,
  PG_MAX_CONNECTIONS: big,
  PG_DEVICE_CONCURRENCY: "1000",
  // Token mode (the default): client 0 spends ~100 tokens; batches of up to 100.
  PG_TOKEN_BATCH_SIZE: "100",
  PG_TOKENS_PER_DEVICE_PER_DAY: big,
  ...(values["tick-ms"] ? { PG_STREAM_TICK_MS: values["tick-ms"], PG_STREAM_CHUNKS_PER_SECOND: "0" } : {}),
}, () => "");
if (!loaded.ok) throw new Error(loaded.problems.join("; "));
const controller = new AbortController();
const gateway = await run(
  loaded.config,
  { logger: createLogger("warn", (line) => console.error(line)) },
  controller.signal,
);
await gateway.supervisor!.ensureReady(AbortSignal.timeout(60_000));
const llama = gateway.supervisor!.client;

// The direct and nginx paths get exactly what the gateway sends: the rendered prompt ids, the demo bias.
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
const specials = await discoverSpecialTokenIds(llama, 60_000);
const pieces = renderConversation(
  conversationFor(request, DEFAULT_POLICY, new Date().toISOString().slice(0, 10)),
  { mode: "completion", autoDropAnalysis: true },
);
pieces.push({ special: "channel" }, { text: "final" }, { special: "message" });
const tokenizer = await loadO200kHarmony();
const local = (await checkAgainstServer(tokenizer, (t) => llama.tokenize(t, false))).ok;
const prompt = local
  ? piecesToTokenIdsLocal(pieces, specials, tokenizer.encodeOrdinary)
  : await piecesToTokenIds(pieces, specials, (t) => llama.tokenize(t, false));
const bias: [number, false][] = [...specials.forbidden].map((id) => [id, false]);

let nginx: Deno.ChildProcess | undefined;
const nginxSocket = `${dir}/nginx.sock`;
if (useNginx) {
  await Deno.writeTextFile(`${dir}/nginx.conf`, _nginxConf(dir));
  nginx = new Deno.Command(values.nginx!, {
    args: ["-p", `${dir}/`, "-c", `${dir}/nginx.conf`, "-e", `${dir}/nginx-error.log`],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  for (let i = 0; !(await Deno.stat(nginxSocket).catch(() => undefined)); i++) {
    if (i > 100) throw new Error("Cannot start nginx: its socket did not appear within 5 s");
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Records of the gateway's own upstream calls, for the timeline (the generator uses this client).
const tokenizeCalls: { at: number; ms: number }[] = [];
const completions: { at: number; firstChunkAt: number }[] = [];
const _now = () => performance.timeOrigin + performance.now();
const originalTokenize = llama.tokenize.bind(llama);
llama.tokenize = async (...args: Parameters<typeof llama.tokenize>) => {
  const at = _now();
  try {
    return await originalTokenize(...args);
  } finally {
    tokenizeCalls.push({ at, ms: _now() - at });
  }
};
const originalCompletion = llama.completion.bind(llama);
let promptChecked = false;
llama.completion = async function* (...args: Parameters<typeof llama.completion>) {
  const record = { at: _now(), firstChunkAt: 0 };
  if (!promptChecked) {
    // The comparison is fair only if the direct and nginx paths send what the gateway sends.
    promptChecked = true;
    const sent = args[0] as { prompt?: number[]; n_predict?: number };
    if (JSON.stringify(sent.prompt) !== JSON.stringify(prompt) || sent.n_predict !== tokens) {
      throw new Error(
        `The gateway's request (${sent.prompt?.length} prompt ids, n_predict ${sent.n_predict}) is not the ` +
          `direct path's (${prompt.length}, ${tokens})`,
      );
    }
  }
  completions.push(record);
  for await (const chunk of originalCompletion(...args) as AsyncIterable<CompletionChunk>) {
    if (!record.firstChunkAt && chunk.content) record.firstChunkAt = _now();
    yield chunk;
  }
};

const worker = new Worker(new URL("./load_worker.ts", import.meta.url).href, { type: "module" });
const finished = Promise.withResolvers<LoadResult>();
let timelineStart: { cpu: number; completions: number; tokenize: number } | undefined;
let shortStartCpu = 0;
worker.onmessage = (event) => {
  if (event.data.phase === "short") {
    shortStartCpu = _mainThreadCpuMs();
  } else if (event.data.phase === "timeline") {
    timelineStart = {
      cpu: _mainThreadCpuMs(),
      completions: completions.length,
      tokenize: tokenizeCalls.length,
    };
  } else finished.resolve(event.data.result as LoadResult);
};
worker.onerror = (event) => finished.reject(new Error(event.message));
worker.postMessage(
  {
    url: gateway.url,
    fingerprint: gateway.fingerprint,
    directSocket: `${dir}/llama.sock`,
    nginxSocket: useNginx ? nginxSocket : undefined,
    prompt,
    bias,
    tokens,
    rounds,
    levels,
    timelineRequests: Number(values.timeline),
  } satisfies LoadJob,
);
let result: LoadResult;
try {
  result = await finished.promise;
} finally {
  worker.terminate();
  nginx?.kill("SIGQUIT");
  await nginx?.status;
  controller.abort();
  await gateway.finished;
  await Deno.remove(dir, { recursive: true });
}
const cpuPerRequest = (shortStartCpu - timelineStart!.cpu) / result.timeline.length;
const cpuPerShortRequest = (_mainThreadCpuMs() - shortStartCpu) / result.timeline.length;

// Match the sequential requests with their upstream records (one completion each, in order).
const ours = completions.slice(timelineStart!.completions);
const theirTokenize = tokenizeCalls.slice(timelineStart!.tokenize);
const rows = result.timeline.map((r, i) => {
  const c = ours[i];
  const calls = theirTokenize.filter((t) => t.at >= r.sentAt && t.at <= c.at);
  return {
    before: c.at - r.sentAt,
    tokenizeCalls: calls.length,
    tokenizeMs: calls.reduce((n, t) => n + t.ms, 0),
    llamaFirst: c.firstChunkAt - c.at,
    after: r.firstTextAt - c.firstChunkAt,
    ttft: r.firstTextAt - r.sentAt,
  };
});
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f = (x: number, digits = 1) => x.toFixed(digits);
const names = useNginx ? ["nginx", "gateway"] : ["gateway"];
const header =
  `Load run of ${new Date().toISOString().slice(0, 10)}: ${values.model} generated gpt-oss model ` +
  `(${shape.layers} layers × ${shape.embedding}, real o200k_harmony vocabulary, ` +
  `${
    local ? "in-process" : "remote /tokenize"
  } tokenization), ${tokens} tokens per stream, median of ${rounds} ` +
  `rounds, llama-server -np ${maxLevel} -t ${
    values["llama-threads"]
  }, ${navigator.hardwareConcurrency} cores.`;
const table = [
  header,
  "",
  `| streams | direct tok/s | ${names.map((n) => `${n} tok/s ratio`).join(" | ")} | direct TTFT p50 (ms) | ${
    names.map((n) => `${n} TTFT ratio`).join(" | ")
  } |`,
  `|---:|---:|${names.map(() => "---:").join("|")}|---:|${names.map(() => "---:").join("|")}|`,
  ...result.levels.map((l) => {
    const d = l.paths.direct;
    return `| ${l.level} | ${f(d.tokensPerSecond, 0)} | ${
      names.map((n) => `**${f(l.paths[n].tokensPerSecond / d.tokensPerSecond, 2)}**`).join(" | ")
    } | ${f(d.ttftP50)} | ${names.map((n) => `**${f(l.paths[n].ttftP50 / d.ttftP50, 2)}**`).join(" | ")} |`;
  }),
  // --timeline 0: the table alone (a timeline of no request has no medians).
  ...(rows.length === 0 ? [] : [
    "",
    `Timeline of ${rows.length} sequential gateway requests (p50 of each step, ms; one stream at a time):`,
    "",
    "| step | p50 (ms) |",
    "|---|---:|",
    `| SDK seal + send → gateway calls llama-server /completion (HTTP, HPKE open, validate, render, tokenize) | ${
      f(p50(rows.map((r) => r.before)), 2)
    } |`,
    `| of which /tokenize round trips (count p50: ${p50(rows.map((r) => r.tokenizeCalls))}) | ${
      f(p50(rows.map((r) => r.tokenizeMs)), 2)
    } |`,
    `| llama-server: /completion → first token chunk | ${f(p50(rows.map((r) => r.llamaFirst)), 2)} |`,
    `| first chunk → first text in the SDK (parse, filter, coalesce, seal, SSE, open) | ${
      f(p50(rows.map((r) => r.after)), 2)
    } |`,
    `| gateway TTFT (sequential) | ${f(p50(rows.map((r) => r.ttft)), 2)} |`,
    `| direct TTFT (sequential, same prompt) | ${f(p50(result.directTtft), 2)} |`,
    `| gateway thread CPU per request (mean over the run, everything but llama-server and the SDK) | ${
      f(cpuPerRequest, 2)
    } |`,
    `| the same for ${rows.length} one-token requests (the per-request part: edge, HPKE open, checks, render, tokenize, upstream request, one chunk) | ${
      f(cpuPerShortRequest, 2)
    } |`,
  ]),
].join("\n");
console.log(table);
if (values.out) {
  const text = await Deno.readTextFile(values.out).catch(() => "");
  const start = `<!-- load:${values.model}:start -->`;
  const end = `<!-- load:${values.model}:end -->`;
  const block = `${start}\n${table}\n${end}`;
  const next = text.includes(start)
    ? text.replace(new RegExp(`${start}[\\s\\S]*${end}`), block)
    : `${text.trimEnd()}\n\n${block}\n`;
  await Deno.writeTextFile(values.out, next);
}

/** nginx as an admin would put it in front of llama-server: a plain, unbuffered reverse proxy. */
function _nginxConf(dir: string): string {
  // As root, nginx's workers would switch to `nobody`, which cannot enter the private directory.
  const user = Deno.uid() === 0 ? "user root;\n" : "";
  return `${user}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  upstream llama { server unix:${dir}/llama.sock; keepalive 64; }
  server {
    listen unix:${dir}/nginx.sock;
    location / {
      proxy_pass http://llama;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 600s;
    }
  }
}
`;
}

/**
 * CPU time of this process's main thread (the gateway's event loop), from /proc (10 ms ticks). Read by
 * `cat`: Deno lets only --allow-all read /proc of its own process.
 */
function _mainThreadCpuMs(): number {
  const output = new Deno.Command("cat", { args: [`/proc/${Deno.pid}/task/${Deno.pid}/stat`] }).outputSync();
  const stat = new TextDecoder().decode(output.stdout);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of proc(5) (utime, stime), counted from after the command name.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
