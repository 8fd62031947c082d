/// <reference lib="deno.worker" />
/**
 * Worker of scripts/load.ts: drives three paths with the same prompt ids and sampling — llama-server
 * directly, nginx as a plain reverse proxy in front of it, and the gateway through the SDK — and reports
 * per-level medians, then a sequential run of gateway requests with their timestamps for the timeline.
 * The clients run here so that their encryption and parsing never share the gateway's event loop.
 */
import { GatewayClient } from "../src/client/mod.ts";
import { COMPLETION_FIELDS, DEMO_SAMPLERS, LlamaClient } from "../src/inference/mod.ts";

/** What load.ts sends. */
export interface LoadJob {
  url: string;
  fingerprint: string;
  directSocket: string;
  nginxSocket?: string;
  prompt: number[];
  bias: [number, false][];
  tokens: number;
  rounds: number;
  levels: number[];
  timelineRequests: number;
}

/** Medians of one path at one level. */
export interface PathResult {
  tokensPerSecond: number;
  ttftP50: number;
}

/** One level's results by path. */
export interface LevelResult {
  level: number;
  paths: Record<string, PathResult>;
}

/** One sequential gateway request, in epoch milliseconds (comparable across the process's threads). */
export interface TimedRequest {
  sentAt: number;
  firstTextAt: number;
  doneAt: number;
}

/** What the worker answers. */
export interface LoadResult {
  levels: LevelResult[];
  timeline: TimedRequest[];
  directTtft: number[];
}

const _now = () => performance.timeOrigin + performance.now();
const _median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface _Sample {
  ttftMs: number;
  tokens: number;
}

self.onmessage = async (event: MessageEvent<LoadJob>) => {
  const job = event.data;
  const upstream = (socket: string) => {
    const llama = LlamaClient.forSocket("load", socket);
    return async (): Promise<_Sample> => {
      const t0 = performance.now();
      let ttft = 0;
      let count = 0;
      for await (
        const chunk of llama.completion(
          {
            prompt: job.prompt,
            n_predict: job.tokens,
            temperature: 1,
            top_p: 1,
            cache_prompt: false,
            return_tokens: true,
            response_fields: COMPLETION_FIELDS,
            logit_bias: job.bias,
            samplers: DEMO_SAMPLERS,
          },
          new AbortController().signal,
          { connectMs: 10_000, firstTokenMs: 120_000, idleMs: 60_000 },
        )
      ) {
        if (chunk.content && !ttft) ttft = performance.now() - t0;
        if (chunk.stop) count = chunk.tokens_predicted ?? count;
      }
      return { ttftMs: ttft, tokens: count };
    };
  };
  // One SDK client (one device key) per concurrent stream, as many phones would be.
  const maxLevel = Math.max(...job.levels);
  // In token mode client 0 also runs the sequential series (2 × timelineRequests): larger batches. Wallets
  // are filled by `refill` below before each timed part, and the SDK's background refill (which starts
  // when a wallet falls under its low-water mark) must never run during one: its blinding takes ~25 ms
  // of this thread per token, which showed as a 4× TTFT at one stream. Hence a low-water mark of 1.
  const clients = Array.from(
    { length: maxLevel },
    (_, i) =>
      new GatewayClient({
        baseUrl: job.url,
        pin: job.fingerprint,
        maxAttempts: 1,
        tokenLowWater: 1,
        ...(i === 0 ? { tokenBatchSize: 100 } : {}),
      }),
  );
  await Promise.all(clients.map((c) => c.keys()));
  // Token mode (the gateway's default): every chat spends a Privacy Pass token, and a client with an empty
  // wallet fetches a batch first (issuance and the client's blinding, ~25 ms per token here): wallets are
  // filled outside the timed requests, as an app does ahead of time (prefetchTokens).
  const tokenMode = clients[0].tokenMode;
  const refill = async (some: GatewayClient[], needed: number) => {
    if (!tokenMode) return;
    for (const c of some) {
      while (await c.tokensLeft() < needed) if (await c.prefetchTokens() === 0) break;
    }
  };
  const gatewayRequest = async (
    client: GatewayClient,
    timed?: TimedRequest[],
    maxTokens = job.tokens,
  ): Promise<_Sample> => {
    const sentAt = _now();
    const t0 = performance.now();
    let ttft = 0;
    let firstTextAt = 0;
    let count = 0;
    for await (
      const e of client.chat({
        messages: [{ role: "user", content: "Tell me about the sea." }],
        max_tokens: maxTokens,
      })
    ) {
      if (e.type === "text" && !ttft) {
        ttft = performance.now() - t0;
        firstTextAt = _now();
      }
      if (e.type === "done") count = e.usage.completion_tokens;
      if (e.type === "error") throw new Error(`Gateway answered an error event: ${e.code}`);
    }
    timed?.push({ sentAt, firstTextAt, doneAt: _now() });
    return { ttftMs: ttft, tokens: count };
  };
  const paths: Record<string, (i: number) => Promise<_Sample>> = {};
  const direct = upstream(job.directSocket);
  paths.direct = () => direct();
  if (job.nginxSocket) {
    const nginx = upstream(job.nginxSocket);
    paths.nginx = () => nginx();
  }
  paths.gateway = (i) => gatewayRequest(clients[i]);

  async function measure(level: number, path: (i: number) => Promise<_Sample>): Promise<PathResult> {
    const t0 = performance.now();
    const samples = await Promise.all(Array.from({ length: level }, (_, i) => path(i)));
    const wall = performance.now() - t0;
    return {
      tokensPerSecond: samples.reduce((n, s) => n + s.tokens, 0) / (wall / 1000),
      ttftP50: _median(samples.map((s) => s.ttftMs)),
    };
  }

  // Warm every path once.
  for (const path of Object.values(paths)) await path(0);
  const levels: LevelResult[] = [];
  const names = Object.keys(paths);
  for (const level of job.levels) {
    const runs: Record<string, PathResult[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let round = 0; round < job.rounds; round++) {
      await refill(clients.slice(0, level), 3);
      // Rotate the order so no path always runs on a warmer (or busier) machine.
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length];
        runs[name].push(await measure(level, paths[name]));
      }
    }
    const result: LevelResult = { level, paths: {} };
    for (const name of names) {
      result.paths[name] = {
        tokensPerSecond: _median(runs[name].map((r) => r.tokensPerSecond)),
        ttftP50: _median(runs[name].map((r) => r.ttftP50)),
      };
    }
    levels.push(result);
    console.error(`level ${level}: ${JSON.stringify(result.paths)}`);
  }

  // The timeline: sequential requests, one at a time, so load.ts can match its upstream records to them.
  await refill([clients[0]], job.timelineRequests + 1);
  self.postMessage({ phase: "timeline" });
  const timeline: TimedRequest[] = [];
  const directTtft: number[] = [];
  for (let i = 0; i < job.timelineRequests; i++) {
    await gatewayRequest(clients[0], timeline);
    directTtft.push((await direct()).ttftMs);
  }
  // The per-request part alone: the same number of sequential one-token requests (load.ts reads the
  // gateway thread's CPU around them).
  await refill([clients[0]], job.timelineRequests + 1);
  self.postMessage({ phase: "short" });
  for (let i = 0; i < job.timelineRequests; i++) await gatewayRequest(clients[0], undefined, 1);
  self.postMessage({ phase: "done", result: { levels, timeline, directTtft } satisfies LoadResult });
};
