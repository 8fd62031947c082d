/**
 * run() unwinds on partial failure (security review item 10): when listening fails after llama-server
 * started, nothing is left running. Uses the FAKE llama-server (tests/helpers/fake_llama_server.py).
 */
import assert from "node:assert/strict";
import { type ChatEvent, GatewayClient } from "../src/client/mod.ts";
import { EchoGenerator, type Generator } from "../src/inference/mod.ts";
import { privateTempDir, startGateway } from "./helpers/gateway.ts";
import { alive, waitFor } from "./helpers/process.ts";
import { startRedis } from "./helpers/redis.ts";

const FAKE = new URL("./helpers/fake_llama_server.py", import.meta.url).pathname;

Deno.test("run() stops llama-server, the rotation timer and Redis when listening fails", async () => {
  await using redis = await startRedis();
  const dir = await privateTempDir("pg-unwind-");
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      startGateway({
        PG_BACKEND: "llama",
        PG_LOCAL_LLAMA: "true",
        PG_LLAMA_SERVER_BIN: FAKE,
        PG_LLAMA_GUARD: "none",
        PG_RUNTIME_DIR: `${dir}/run`,
        PG_MODEL_PATH: `${dir}/fake-ok.gguf`,
        PG_REDIS_URL: redis.url,
        PG_PORT: String(taken.addr.port),
      }),
      (e) => e instanceof Deno.errors.AddrInUse,
    );
    // The fake writes its pid once spawned (normally long before the listener fails); the supervisor must
    // have stopped it and removed its socket.
    const pidText = await Deno.readTextFile(`${dir}/fake-ok.gguf.pid`).catch(() => undefined);
    if (pidText) {
      const pid = Number(pidText);
      const gone = await waitFor(() => !alive(pid), 3000);
      if (!gone) Deno.kill(pid, "SIGKILL");
      assert.equal(gone, true, "llama-server outlived a failed start");
    }
    await assert.rejects(Deno.lstat(`${dir}/run/llama.sock`), Deno.errors.NotFound);
    // The rotation interval and the Redis connection: Deno's op and resource sanitizers fail this test
    // if either is still open when it ends.
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A stream still open at the drain deadline ends with an encrypted shutting_down, not a cut connection", async () => {
  const echo = new EchoGenerator();
  // A generation that never ends by itself: one word every 50 ms until the gateway aborts it.
  const endless: Generator = {
    ready: () => true,
    async *generate(request, signal) {
      for (let i = 0; !signal.aborted; i++) {
        yield { type: "text", delta: `w${i} ` };
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      yield* echo.generate(request, signal);
    },
  };
  const gateway = await startGateway({ PG_DRAIN_SECONDS: "2", PG_STREAM_TICK_MS: "0" }, {
    generator: endless,
  });
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  let texts = 0;
  let last: ChatEvent | undefined;
  let stopping: Promise<void> | undefined;
  const started = performance.now();
  let failure: unknown;
  try {
    for await (const event of client.chat({ messages: [{ role: "user", content: "go on" }] })) {
      if (event.type === "text") texts++;
      last = event;
      stopping ??= gateway.stop();
    }
  } catch (error) {
    failure = error;
  }
  await stopping;
  const elapsed = performance.now() - started;
  assert.equal(failure, undefined, `the stream failed with ${String(failure)} (a cut connection)`);
  assert.ok(texts > 5, `only ${texts} text events before the deadline`);
  assert.equal(last?.type === "error" && last.code, "shutting_down");
  assert.ok(elapsed < 4_000, `shutdown took ${Math.round(elapsed)} ms`);
});
