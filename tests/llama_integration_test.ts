/**
 * The whole gateway with the real llama-server (built by scripts/build-llama-server.sh) on the generated
 * tiny model, over the private UNIX socket: encrypted request in, decrypted stream out; llama-server
 * killed mid-stream; client disconnect; graceful shutdown.
 */
import assert from "node:assert/strict";
import { type ChatEvent, GatewayClient } from "../src/client/mod.ts";
import { llamaServerBin, privateTempDir, startGateway } from "./helpers/gateway.ts";
import { alive } from "./helpers/process.ts";

async function llamaGateway(env: Record<string, string> = {}) {
  const dir = await privateTempDir("pg-llama-");
  const gateway = await startGateway({
    PG_BACKEND: "llama",
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: dir,
    PG_STREAM_TICK_MS: "20",
    PG_LLAMA_PARALLEL: "1",
    PG_LLAMA_CTX: "16384",
    PG_MAX_TOKENS_CAP: "16000",
    ...env,
  }, { timing: { backoffBaseMs: 50, backoffCapMs: 200, livenessIntervalMs: 200 } });
  await gateway.supervisor!.ensureReady(AbortSignal.timeout(20_000));
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  return {
    gateway,
    client,
    dir,
    async [Symbol.asyncDispose]() {
      await gateway.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("Gateway streams a decrypted answer from the real llama-server over its UNIX socket", async () => {
  await using t = await llamaGateway();
  const events: ChatEvent[] = [];
  for await (
    const event of t.client.chat({
      messages: [{ role: "user", content: "hello" }],
      max_tokens: 40,
      temperature: 0,
    })
  ) {
    events.push(event);
  }
  const text = events.map((e) => (e.type === "text" ? e.delta : "")).join("");
  assert.ok(text.length > 0, "the demo model's random text arrives");
  const done = events.at(-1);
  assert.equal(done?.type, "done");
  assert.equal(done?.type === "done" && done.finish_reason, "length");
  assert.equal(done?.type === "done" && done.usage.completion_tokens, 40);
});

Deno.test("The coalescing tick is sized for capacity: 2 streams at 10 chunks/s stretch a 10 ms tick to 200 ms", async () => {
  // Capacity 2, 10 chunks per second in all: each stream's tick is 200 ms, however few streams run.
  await using t = await llamaGateway({
    PG_STREAM_TICK_MS: "10",
    PG_STREAM_CHUNKS_PER_SECOND: "10",
    PG_STREAM_TICK_MAX_MS: "1000",
    PG_MAX_CONCURRENT_STREAMS: "2",
  });
  const arrivals: number[] = [];
  let tokens = 0;
  for await (
    const event of t.client.chat({ messages: [{ role: "user", content: "hello" }], max_tokens: 800 })
  ) {
    if (event.type === "text" || event.type === "reasoning") arrivals.push(performance.now());
    if (event.type === "done") tokens = event.usage.completion_tokens;
  }
  assert.equal(tokens, 800);
  // Adjacent deltas of one kind merge within a batch, so a batch is one or two events: gaps within a
  // batch are ~0, gaps between batches one tick. The longer gaps' median is the tick.
  const gaps = arrivals.slice(1).map((at, i) => at - arrivals[i]).filter((g) => g > 5).sort((a, b) => a - b);
  assert.ok(gaps.length >= 3, `batches: ${gaps.length + 1}`);
  const median = gaps[Math.floor(gaps.length / 2)];
  assert.ok(median >= 185 && median < 300, `median gap between batches ${median.toFixed(1)} ms`);
});

Deno.test("kill -9 of llama-server mid-stream: encrypted error within a second, restart, next request succeeds", async () => {
  await using t = await llamaGateway();
  const supervisor = t.gateway.supervisor!;
  const pid = supervisor.pid!;
  let killedAt = 0;
  let errorAt = 0;
  let errorCode = "";
  // A mid-stream failure arrives as an encrypted error event ending the 200 stream; the SDK yields it.
  for await (
    const event of t.client.chat({ messages: [{ role: "user", content: "long" }], max_tokens: 15000 })
  ) {
    if (!killedAt) {
      Deno.kill(pid, "SIGKILL");
      killedAt = performance.now();
    }
    if (event.type === "done") assert.fail("the stream must not end normally");
    if (event.type === "error") {
      errorAt = performance.now();
      errorCode = event.code;
    }
  }
  if (!errorAt) assert.fail("no error event arrived");
  assert.ok(errorAt - killedAt < 1000, `error after ${errorAt - killedAt} ms`);
  assert.match(errorCode, /upstream_error|upstream_unavailable/);
  // The error event can reach the client before the supervisor has reaped the killed process: wait for
  // the restart itself, then for readiness.
  const deadline = Date.now() + 10_000;
  while (supervisor.pid === pid && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.notEqual(supervisor.pid, pid);
  await supervisor.ensureReady(AbortSignal.timeout(10_000));
  const events = [];
  for await (
    const event of t.client.chat({ messages: [{ role: "user", content: "again" }], max_tokens: 5 })
  ) events.push(event);
  assert.equal(events.at(-1)?.type, "done");
});

Deno.test("Client disconnect mid-stream stops generation in llama-server (measured with one slot)", async () => {
  await using t = await llamaGateway();
  // Control: how long a full long generation occupies the only slot.
  const t0 = performance.now();
  for await (
    const _ of t.client.chat({ messages: [{ role: "user", content: "control" }], max_tokens: 6000 })
  ) { /* drain */ }
  const fullMs = performance.now() - t0;
  assert.ok(fullMs > 1500, `control generation too short to measure (${fullMs} ms)`);
  // Disconnect after the first chunk, then time a tiny request that needs the same slot.
  const abort = new AbortController();
  try {
    for await (
      const _ of t.client.chat(
        { messages: [{ role: "user", content: "cut" }], max_tokens: 6000 },
        abort.signal,
      )
    ) {
      abort.abort();
    }
  } catch { /* aborted */ }
  const t1 = performance.now();
  for await (
    const _ of t.client.chat({ messages: [{ role: "user", content: "next" }], max_tokens: 3 })
  ) { /* drain */ }
  const nextMs = performance.now() - t1;
  assert.ok(nextMs < fullMs / 4, `next request took ${nextMs} ms; a full generation takes ${fullMs} ms`);
});

Deno.test("Graceful shutdown drains an in-flight stream, then stops llama-server and removes its socket", async () => {
  const dir = await privateTempDir("pg-drain-");
  const gateway = await startGateway({
    PG_BACKEND: "llama",
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: dir,
    PG_STREAM_TICK_MS: "20",
    PG_DRAIN_SECONDS: "30",
  });
  await gateway.supervisor!.ensureReady(AbortSignal.timeout(20_000));
  const pid = gateway.supervisor!.pid!;
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  let stopping: Promise<void> | undefined;
  let last: ChatEvent | undefined;
  for await (
    const event of client.chat({ messages: [{ role: "user", content: "drain" }], max_tokens: 2000 })
  ) {
    stopping ??= gateway.stop();
    last = event;
  }
  assert.equal(last?.type, "done", JSON.stringify(last));
  await stopping;
  assert.equal(alive(pid), false);
  await assert.rejects(Deno.lstat(`${dir}/llama.sock`), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});
