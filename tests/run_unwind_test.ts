/**
 * run() unwinds on partial failure (security review item 10): when listening fails after llama-server
 * started, nothing is left running. Uses the FAKE llama-server (tests/helpers/fake_llama_server.py).
 */
import assert from "node:assert/strict";
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
