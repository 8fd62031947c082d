/// <reference lib="deno.worker" />
/**
 * Worker of scripts/load.ts: drives the direct llama-server path and the gateway path with the same
 * prompt and sampling, and reports Markdown table rows.
 */
import { GatewayClient } from "../src/client/mod.ts";
import { LlamaClient } from "../src/inference/mod.ts";

interface Job {
  url: string;
  fingerprint: string;
  socketPath: string;
  prompt: number[];
  bias: [number, false][];
  tokens: number;
  rounds: number;
  levels: number[];
}

self.onmessage = async (event: MessageEvent<Job>) => {
  const { url, fingerprint, socketPath, prompt, bias, tokens, rounds, levels } = event.data;
  const llama = LlamaClient.forSocket("direct", socketPath);
  const client = new GatewayClient({ baseUrl: url, pin: fingerprint, maxAttempts: 1 });
  await client.keys();

  interface Sample {
    ttftMs: number;
    tokens: number;
    durationMs: number;
  }

  async function direct(): Promise<Sample> {
    const t0 = performance.now();
    let ttft = 0;
    let count = 0;
    for await (
      const chunk of llama.completion(
        {
          prompt,
          n_predict: tokens,
          temperature: 1,
          top_p: 1,
          cache_prompt: false,
          return_tokens: true,
          logit_bias: bias,
        },
        new AbortController().signal,
        { connectMs: 10_000, firstTokenMs: 60_000, idleMs: 60_000 },
      )
    ) {
      if (chunk.content && !ttft) ttft = performance.now() - t0;
      if (chunk.stop) count = chunk.tokens_predicted ?? count;
    }
    return { ttftMs: ttft, tokens: count, durationMs: performance.now() - t0 };
  }

  async function throughGateway(): Promise<Sample> {
    const t0 = performance.now();
    let ttft = 0;
    let count = 0;
    for await (
      const event of client.chat({
        messages: [{ role: "user", content: "Tell me about the sea." }],
        max_tokens: tokens,
      })
    ) {
      if (event.type === "text" && !ttft) ttft = performance.now() - t0;
      if (event.type === "done") count = event.usage.completion_tokens;
      if (event.type === "error") throw new Error(`gateway error ${event.code}`);
    }
    return { ttftMs: ttft, tokens: count, durationMs: performance.now() - t0 };
  }

  async function measure(level: number, path: () => Promise<Sample>) {
    const t0 = performance.now();
    const samples = await Promise.all(Array.from({ length: level }, path));
    const wall = performance.now() - t0;
    const ttfts = samples.map((s) => s.ttftMs).sort((a, b) => a - b);
    return {
      tokensPerSecond: samples.reduce((n, s) => n + s.tokens, 0) / (wall / 1000),
      ttftP50: ttfts[Math.floor(ttfts.length / 2)],
    };
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows: string[] = [];
  // Warm both paths once.
  await direct();
  await throughGateway();
  for (const level of levels) {
    const d: { tokensPerSecond: number; ttftP50: number }[] = [];
    const g: { tokensPerSecond: number; ttftP50: number }[] = [];
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so neither path always runs on a warmer machine.
      if (round % 2 === 0) {
        d.push(await measure(level, direct));
        g.push(await measure(level, throughGateway));
      } else {
        g.push(await measure(level, throughGateway));
        d.push(await measure(level, direct));
      }
    }
    const dt = median(d.map((x) => x.tokensPerSecond));
    const gt = median(g.map((x) => x.tokensPerSecond));
    const df = median(d.map((x) => x.ttftP50));
    const gf = median(g.map((x) => x.ttftP50));
    rows.push(
      `| ${level} | ${dt.toFixed(0)} | ${gt.toFixed(0)} | **${(gt / dt).toFixed(2)}** | ${df.toFixed(1)} | ${
        gf.toFixed(1)
      } | **${(gf / df).toFixed(2)}** |`,
    );
    console.error(rows.at(-1));
  }
  (self as unknown as Worker).postMessage(rows);
};
