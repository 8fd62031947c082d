/**
 * Finding 3 of issue 12: stopping the service must let open streams finish. systemd is not PID 1 where
 * the tests run, so this plays `systemctl stop` out by hand, with the settings of the shipped unit: its
 * Environment= lines, PG_DRAIN_SECONDS, TimeoutStopSec and KillMode decide which processes of the
 * service's control group (the gateway and its descendants) get SIGTERM, and when the rest gets SIGKILL.
 * The gateway runs as its own process with the product's permission flags, supervising the real
 * llama-server.
 */
import assert from "node:assert/strict";
import { type ChatEvent, GatewayClient } from "../src/client/mod.ts";
import { llamaServerBin, privateTempDir } from "./helpers/gateway.ts";
import { spawnGateway } from "./helpers/gateway_process.ts";
import { alive } from "./helpers/process.ts";
import { ROOT } from "./helpers/deploy.ts";
import { heapLimitMiBWith } from "./helpers/deployed.ts";

/** The [Service] settings of a unit that matter for stopping it. */
async function stopSettings(unit: string) {
  const text = await Deno.readTextFile(`${ROOT}systemd/${unit}`);
  const value = (key: string) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]);
  // The unit's Environment= lines except the env file, whose settings the test passes itself.
  const environment = Object.fromEntries(
    value("Environment").map((assignment) => assignment.split("=", 2) as [string, string])
      .filter(([name]) => name !== "PG_ENV_FILE"),
  );
  const timeout = /^(\d+)s$/.exec(value("TimeoutStopSec")[0] ?? "90s");
  return {
    killMode: value("KillMode").at(-1) ?? "control-group",
    timeoutStopMs: Number(timeout?.[1] ?? 90) * 1000,
    environment,
  };
}

/** The gateway and every descendant: what the service's control group would hold. */
function controlGroup(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    try {
      for (const task of Deno.readDirSync(`/proc/${pids[i]}/task`)) {
        const children = Deno.readTextFileSync(`/proc/${pids[i]}/task/${task.name}/children`).trim();
        if (children) pids.push(...children.split(/\s+/).map(Number));
      }
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

/**
 * `systemctl stop` as systemd does it for KillMode (systemd.kill(5)): SIGTERM to the main process only
 * (mixed, process) or to the whole group (control-group); once the main process has exited, or at
 * TimeoutStopSec, SIGKILL to whatever is left (mixed, control-group).
 */
async function systemdStop(
  main: Deno.ChildProcess,
  killMode: string,
  timeoutStopMs: number,
): Promise<{ status: Deno.CommandStatus; stopMs: number }> {
  const started = performance.now();
  const group = controlGroup(main.pid);
  const signal = (pid: number, sig: Deno.Signal) => {
    try {
      Deno.kill(pid, sig);
    } catch { /* gone */ }
  };
  for (const pid of killMode === "control-group" ? group : [main.pid]) signal(pid, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) =>
    timer = setTimeout(() => resolve("timeout"), timeoutStopMs)
  );
  const outcome = await Promise.race([main.status, timedOut]);
  clearTimeout(timer);
  if (killMode !== "process") {
    for (const pid of controlGroup(main.pid).concat(group)) {
      signal(pid, "SIGKILL");
    }
  }
  const status = outcome === "timeout" ? await main.status : outcome;
  return { status, stopMs: performance.now() - started };
}

Deno.test("Stopping privacy-gateway.service as systemd would lets an open stream finish while llama-server stays up", async () => {
  const settings = await stopSettings("privacy-gateway.service");
  const dir = await privateTempDir("pg-drain-");
  const gateway = await spawnGateway({
    ...settings.environment,
    PG_BACKEND: "llama",
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: dir,
    PG_STREAM_TICK_MS: "20",
    PG_LLAMA_PARALLEL: "1",
    PG_LLAMA_CTX: "8192",
    PG_MAX_TOKENS_CAP: "4000",
    PG_DRAIN_SECONDS: "30",
  });
  try {
    const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
    // The first request waits for llama-server to load the model.
    for await (const _ of client.chat({ messages: [{ role: "user", content: "warm up" }], max_tokens: 1 })) {
      /* drain */
    }
    const llamaPid = gateway.logs().find((l) => l.event === "supervisor.ready")?.pid as number;
    // The unit's settings and a 20 ms base give the tick sized for 32 streams at 320 chunks/s: 100 ms.
    const listening = gateway.logs().find((l) => l.event === "gateway.listening");
    assert.equal(listening?.tick_ms, 100);
    // The unit's capacity caps V8's young generation at 8 MiB through the launch flags the grants come
    // with (config/heap.ts; the compiled binary bakes the same list). 32 MiB is this host's default.
    assert.equal(listening?.heap_limit_mib, await heapLimitMiBWith(8));
    assert.notEqual(listening?.heap_limit_mib, await heapLimitMiBWith(32));
    assert.ok(llamaPid && alive(llamaPid), "llama-server is running");
    assert.ok(controlGroup(gateway.child.pid).includes(llamaPid), "llama-server is in the gateway's group");

    let stopping: Promise<{ status: Deno.CommandStatus; stopMs: number }> | undefined;
    const events: ChatEvent[] = [];
    let llamaAliveWhileStreaming = true;
    for await (
      // 800 tokens: ~1 s on the demo model alone, well inside the 30 s drain even on a loaded machine (a run
      // sharing 2 cores with another suite took over 30 s for 1,500 and was cut at the deadline).
      const event of client.chat({ messages: [{ role: "user", content: "drain me" }], max_tokens: 800 })
    ) {
      // SIGTERM as soon as the stream is open; from then on every event must still come from llama-server.
      stopping ??= systemdStop(gateway.child, settings.killMode, settings.timeoutStopMs);
      events.push(event);
      if (event.type === "text" && !alive(llamaPid)) llamaAliveWhileStreaming = false;
    }
    assert.ok(stopping, "the stream produced no event");
    const { status, stopMs } = await stopping;
    const last = events.at(-1);
    assert.equal(last?.type, "done", `the stream ended with ${JSON.stringify(last)}`);
    assert.equal(last?.type === "done" && last.usage.completion_tokens, 800);
    assert.ok(llamaAliveWhileStreaming, "llama-server went away before the stream ended");
    // Several batches, not one: ~1 s of answer at the tick sized for 32 streams (100 ms) is ~10.
    assert.ok(events.filter((e) => e.type === "text").length > 3, "the stream was cut short");
    // The gateway shut down by itself, within the drain deadline, and took llama-server with it.
    assert.equal(status.code, 0, gateway.output());
    assert.equal(status.signal, null);
    assert.ok(stopMs < 30_000 + 5_000, `stopping took ${stopMs} ms`);
    assert.equal(alive(llamaPid), false);
    const order = gateway.logs().map((l) => l.event);
    assert.ok(order.indexOf("gateway.shutdown_started") < order.lastIndexOf("request.finished"));
    assert.ok(order.lastIndexOf("request.finished") < order.indexOf("supervisor.stopped"));
    assert.ok(order.indexOf("supervisor.stopped") < order.indexOf("gateway.shutdown_complete"));
    await assert.rejects(Deno.lstat(`${dir}/llama.sock`), Deno.errors.NotFound);
  } finally {
    // As systemd's control group would on a failed run: llama-server runs unguarded here (the unit's
    // PG_LLAMA_GUARD=none), so a failing assertion would otherwise leave it behind (zz_leftovers_test).
    const group = controlGroup(gateway.child.pid);
    await gateway.stop("SIGKILL").catch(() => {});
    for (const pid of group.slice(1)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
    await Deno.remove(dir, { recursive: true });
  }
});
