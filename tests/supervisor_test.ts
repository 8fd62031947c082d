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
  const { supervisor, dir } = await fakeSupervisor("fake-unhealthy.gguf");
  supervisor.start();
  // Wait for the condition itself: the process is up and its /health has answered (503) at least once.
  let answered = false;
  for (const deadline = Date.now() + 3000; !answered && Date.now() < deadline;) {
    answered = await _answers503(`${dir}/llama.sock`);
    if (!answered) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(answered, true, "the fake answered /health with 503");
  assert.equal(supervisor.state, "starting");
  await supervisor.stop();
  await Deno.remove(dir, { recursive: true });
});

async function _answers503(socketPath: string): Promise<boolean> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
  try {
    const response = await fetch("http://llama/health", { client });
    await response.body?.cancel();
    return response.status === 503;
  } catch {
    return false;
  } finally {
    client.close();
  }
}

Deno.test("Supervisor.stop() right after start() leaves no llama-server running (start/stop race)", async () => {
  const { supervisor, dir } = await fakeSupervisor("fake-ok.gguf");
  supervisor.start();
  await supervisor.stop();
  assert.equal(supervisor.state, "stopped");
  // A negative can only be bounded: give the launch path every chance to (wrongly) spawn afterwards.
  const spawned = await waitFor(() => supervisor.pid !== undefined, 500);
  const pidFile = await Deno.readTextFile(`${dir}/fake-ok.gguf.pid`).catch(() => undefined);
  if (pidFile) Deno.kill(Number(pidFile), "SIGKILL");
  assert.equal(spawned, false, "no child after stop()");
  assert.equal(pidFile, undefined, "the fake never started");
  assert.equal(supervisor.state, "stopped");
  await Deno.remove(dir, { recursive: true });
});
