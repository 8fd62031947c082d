/// <reference lib="deno.worker" />
/**
 * Worker of bench/heap_bench.ts: opens streams through the SDK (one device each) and keeps them open,
 * reading, until told to stop; answers once every stream has delivered its first event.
 */
import { GatewayClient } from "../src/client/mod.ts";

const controller = new AbortController();
const open: Promise<void>[] = [];

self.onmessage = async (event: MessageEvent) => {
  const job = event.data as { url: string; fingerprint: string; streams: number; warm: boolean; stop?: true };
  if (job.stop) {
    controller.abort();
    await Promise.allSettled(open);
    self.postMessage("stopped");
    return;
  }
  if (job.warm) {
    const client = new GatewayClient({ baseUrl: job.url, pin: job.fingerprint, maxAttempts: 1 });
    for await (const _ of client.chat({ messages: [{ role: "user", content: "BENCH-TOKENS-4" }] }));
    self.postMessage("warm");
    return;
  }
  let started = 0;
  const all = Promise.withResolvers<void>();
  for (let i = 0; i < job.streams; i++) {
    const client = new GatewayClient({ baseUrl: job.url, pin: job.fingerprint, maxAttempts: 1 });
    open.push((async () => {
      let first = true;
      try {
        const input = { messages: [{ role: "user" as const, content: "BENCH-TOKENS-100000-EVERY-20" }] };
        for await (const _ of client.chat({ ...input, max_tokens: 100_000 }, controller.signal)) {
          if (first && ++started === job.streams) all.resolve();
          first = false;
        }
      } catch { /* stopped */ }
    })());
  }
  await all.promise;
  // Let every stream pass a few ticks, so steady-state buffers are in place.
  await new Promise((r) => setTimeout(r, 1000));
  self.postMessage("open");
};
