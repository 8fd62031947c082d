/**
 * Supervisor state machine against a FAKE llama-server (tests/helpers/fake_llama_server.py) for faults the
 * real one cannot produce on demand; the real llama-server is covered in llama_integration_test.ts.
 */
import assert from "node:assert/strict";
import { DEFAULT_TIMING, Supervisor, type SupervisorTiming } from "../src/inference/mod.ts";
import { silentLogger } from "../src/observability/mod.ts";
import { privateTempDir } from "./helpers/gateway.ts";
import { alive, waitFor } from "./helpers/process.ts";

const FAKE = new URL("./helpers/fake_llama_server.py", import.meta.url).pathname;
const FAST: SupervisorTiming = {
  ...DEFAULT_TIMING,
  startupTimeoutMs: 3000,
  livenessIntervalMs: 100,
  livenessTimeoutMs: 200,
  livenessFailures: 2,
  backoffBaseMs: 50,
  backoffCapMs: 200,
  maxConsecutiveFailures: 3,
  killTimeoutMs: 300,
};

async function fakeSupervisor(mode: string, timing: SupervisorTiming = FAST) {
  const dir = await privateTempDir("pg-sup-");
  const supervisor = new Supervisor(
    {
      binary: FAKE,
      model: `${dir}/${mode}`,
      socketPath: `${dir}/llama.sock`,
      contextSize: 512,
      threads: 1,
      parallel: 1,
    },
    timing,
    silentLogger,
  );
  return { supervisor, dir };
}

Deno.test("Supervisor.ensureReady() resolves once /health answers 200", async () => {
  const { supervisor, dir } = await fakeSupervisor("fake-ok.gguf");
  supervisor.start();
  await supervisor.ensureReady(AbortSignal.timeout(3000));
  assert.equal(supervisor.state, "ready");
  await supervisor.stop();
  assert.equal(supervisor.state, "stopped");
  await assert.rejects(Deno.lstat(`${dir}/llama.sock`), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Supervisor.stop() sends SIGKILL when llama-server ignores SIGTERM", async () => {
  const { supervisor, dir } = await fakeSupervisor("fake-ignore-sigterm.gguf");
  supervisor.start();
  await supervisor.ensureReady(AbortSignal.timeout(3000));
  const pid = supervisor.pid!;
  const started = performance.now();
  await supervisor.stop();
  assert.equal(alive(pid), false);
  assert.ok(performance.now() - started >= FAST.killTimeoutMs - 50, "waited for the grace period first");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Supervisor restarts a llama-server that stops answering /health (hang)", async () => {
  const { supervisor, dir } = await fakeSupervisor("fake-hang-after.gguf");
  supervisor.start();
  await supervisor.ensureReady(AbortSignal.timeout(3000));
  const firstPid = supervisor.pid!;
  assert.ok(await waitFor(() => supervisor.restarts >= 1, 5000));
  assert.equal(alive(firstPid), false, "the hung process was killed");
  await supervisor.stop();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Supervisor reports failed after repeated crashes instead of flapping", async () => {
  const { supervisor, dir } = await fakeSupervisor("fake-crash.gguf");
  supervisor.start();
  assert.ok(await waitFor(() => supervisor.state === "failed", 5000));
  await assert.rejects(supervisor.ensureReady(AbortSignal.timeout(1000)), /failed/);
  await supervisor.stop();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Supervisor stays not ready while /health answers 503", async () => {
  const { supervisor, dir } = await fakeSupervisor("fake-unhealthy.gguf", { ...FAST, startupTimeoutMs: 400 });
  supervisor.start();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(supervisor.state, "starting");
  await supervisor.stop();
  await Deno.remove(dir, { recursive: true });
});
