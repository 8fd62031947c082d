/**
 * Issue 12: every feature tested at least once the way it is deployed, through the launcher or the grants
 * built from the env file (never --allow-all): Redis sharing through `deno task start`'s launcher (finding
 * 12), one runtime directory per instance (finding 14), router + node over mTLS with metrics on both roles
 * and the operator gauges, OTLP export, and `privacy-gateway check`.
 */
import assert from "node:assert/strict";
import { GatewayClient } from "../src/client/mod.ts";
import { llamaServerBin } from "./helpers/gateway.ts";
import { freePort } from "./helpers/gateway_process.ts";
import {
  builtGrants,
  type DeployedProcess,
  heapLimitMiBWith,
  REPO,
  stage,
  startDeployed,
} from "./helpers/deployed.ts";
import { startRedis } from "./helpers/redis.ts";

/** `deno task start` / `deno task node`: the launcher with the task's own flags (deno.json). */
const LAUNCHER = (role: "gateway" | "node") => [
  Deno.execPath(),
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  `${REPO}/scripts/launch.ts`,
  role,
];

async function chatOnce(url: string, pin?: string): Promise<string[]> {
  const client = new GatewayClient({ baseUrl: url, pin, allowUnpinned: !pin });
  const types: string[] = [];
  for await (const event of client.chat({ messages: [{ role: "user", content: "hi" }], max_tokens: 8 })) {
    types.push(event.type);
  }
  return types;
}

async function redisKeys(port: number): Promise<number> {
  const output = await new Deno.Command("redis-cli", { args: ["-p", String(port), "DBSIZE"] }).output();
  return Number(new TextDecoder().decode(output.stdout).trim());
}

async function stopped(process: DeployedProcess): Promise<void> {
  const status = await process.stop();
  assert.doesNotMatch(process.output(), /NotCapable|Requires \w+ access/, process.output());
  assert.equal(status.code, 0, process.output());
}

Deno.test("deno task start with PG_REDIS_URL shares limits and replay state in Redis (launcher flags)", async () => {
  await using redis = await startRedis();
  const home = await Deno.makeTempDir({ prefix: "pg-home-" });
  const started = performance.now();
  const gateway = startDeployed({
    command: LAUNCHER("gateway"),
    args: [],
    extraEnv: { HOME: home, PG_BACKEND: "echo", PG_PORT: String(freePort()), PG_REDIS_URL: redis.url },
  });
  try {
    const listening = await gateway.waitFor("gateway.listening");
    console.log(`started with Redis in ${Math.round(performance.now() - started)} ms`);
    assert.equal((await chatOnce(String(listening.url))).at(-1), "done");
    assert.ok(await redisKeys(redis.port) > 0, "nothing was stored in Redis");
  } finally {
    await stopped(gateway);
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("deno task start caps V8's young generation for PG_MAX_CONCURRENT_STREAMS (launcher flags)", async () => {
  const home = await Deno.makeTempDir({ prefix: "pg-home-" });
  const heapLimit = async (extraEnv: Record<string, string>) => {
    const gateway = startDeployed({
      command: LAUNCHER("gateway"),
      args: [],
      extraEnv: { HOME: home, PG_BACKEND: "echo", PG_PORT: String(freePort()), ...extraEnv },
    });
    try {
      return (await gateway.waitFor("gateway.listening")).heap_limit_mib;
    } finally {
      await stopped(gateway);
    }
  };
  try {
    const [unflagged, eight, sixteen] = await Promise.all([undefined, 8, 16].map(heapLimitMiBWith));
    assert.equal(sixteen - eight, 24, "the heap limit moves by 3 MiB per MiB of semi-space");
    // V8 derives its default from the host's memory (32 MiB here): on any host at least one of these two
    // differs from it, so a flag that does not reach V8 fails here.
    console.log(`heap limit: ${unflagged} MiB by default, ${eight} at 8 MiB, ${sixteen} at 16`);
    assert.equal(await heapLimit({}), eight, "the default capacity, 32 streams");
    assert.equal(await heapLimit({ PG_MAX_CONCURRENT_STREAMS: "300" }), sixteen);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("A gateway whose Redis refuses connections exits at once with the cause, not a timeout", async () => {
  const home = await Deno.makeTempDir({ prefix: "pg-home-" });
  const port = freePort(); // nothing listens there
  const started = performance.now();
  const gateway = startDeployed({
    command: LAUNCHER("gateway"),
    args: [],
    extraEnv: {
      HOME: home,
      PG_BACKEND: "echo",
      PG_PORT: String(freePort()),
      PG_REDIS_URL: `redis://127.0.0.1:${port}`,
    },
  });
  const status = await gateway.exited();
  await Deno.remove(home, { recursive: true });
  assert.equal(status.code, 1);
  assert.match(
    gateway.output(),
    new RegExp(`Cannot connect to Redis at 'redis://127\\.0\\.0\\.1:${port}': .*ECONNREFUSED`),
  );
  console.log(`refused in ${Math.round(performance.now() - started)} ms`);
});

Deno.test("Two deno task start on one machine get their own runtime directories and both serve", async () => {
  const home = await Deno.makeTempDir({ prefix: "pg-home-" });
  const ports = [freePort(), freePort()];
  const gateways = ports.map((port) =>
    startDeployed({
      command: LAUNCHER("gateway"),
      args: [],
      extraEnv: { HOME: home, PG_PORT: String(port), PG_LLAMA_SERVER_BIN: llamaServerBin() },
    })
  );
  try {
    for (const gateway of gateways) await gateway.waitFor("supervisor.ready");
    for (const port of ports) {
      const stat = await Deno.stat(`${home}/.cache/privacy-gateway/gateway-${port}/llama.sock`);
      assert.ok(stat.isSocket);
    }
  } finally {
    // Stop every process before asserting on any, so a failure leaves nothing running.
    await Promise.allSettled(gateways.map((gateway) => gateway.stop()));
    await Deno.remove(home, { recursive: true });
    for (const gateway of gateways) await stopped(gateway);
  }
});

Deno.test("A second gateway on the same runtime directory is refused with a message; the first keeps serving", async () => {
  const home = await Deno.makeTempDir({ prefix: "pg-home-" });
  const shared = `${home}/run`;
  const env = (port: number) => ({
    HOME: home,
    PG_PORT: String(port),
    PG_RUNTIME_DIR: shared,
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
  });
  const first = startDeployed({ command: LAUNCHER("gateway"), args: [], extraEnv: env(freePort()) });
  try {
    const listening = await first.waitFor("supervisor.ready").then(() => first.waitFor("gateway.listening"));
    const second = startDeployed({ command: LAUNCHER("gateway"), args: [], extraEnv: env(freePort()) });
    // Without the lock the second one would start and serve on the first one's socket: give it 15 s.
    const timer = setTimeout(() => second.stop(), 15_000);
    const status = await second.exited();
    clearTimeout(timer);
    assert.equal(status.code, 1, second.output());
    assert.match(
      second.output(),
      new RegExp(`Cannot start: another privacy-gateway uses the runtime directory '${shared}'`),
    );
    assert.doesNotMatch(second.output(), /supervisor\.starting/);
    assert.equal((await chatOnce(String(listening.url))).at(-1), "done");
  } finally {
    await stopped(first);
    await Deno.remove(home, { recursive: true });
  }
});

/** Prometheus text: the value of the first sample whose name and labels start with `prefix`. */
function sample(text: string, prefix: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

Deno.test("Router and node over mTLS under their built grants: chat, metrics on both roles, OTLP export, check", async () => {
  const root = await Deno.makeTempDir({ prefix: "pg-pair-" });
  const spans: string[] = [];
  const collector = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    spans.push(
      `${request.method} ${new URL(request.url).pathname} ${(await request.arrayBuffer()).byteLength}`,
    );
    return new Response("{}", { headers: { "content-type": "application/json" } });
  });
  const nodeMetrics = `127.0.0.1:${freePort()}`;
  const routerMetrics = `127.0.0.1:${freePort()}`;
  await using node = await stage("privacy-gateway-node.env.example", "node", (v) => {
    v.set("PG_METRICS_LISTEN", nodeMetrics);
  }, root);
  await using router = await stage("privacy-gateway-router.env.example", "gateway", (v) => {
    v.set("PG_NODES", `https://${node.values.get("PG_NODE_LISTEN")}`);
    v.set("PG_METRICS_LISTEN", routerMetrics);
    v.set("PG_OTLP_ENDPOINT", `http://127.0.0.1:${collector.addr.port}/v1/traces`);
  }, root);
  const nodeProcess = startDeployed({
    args: ["node"],
    envFile: node.envFile,
    flags: await builtGrants("node", node.envFile),
  });
  const routerFlags = await builtGrants("gateway", router.envFile);
  const routerProcess = startDeployed({ args: ["serve"], envFile: router.envFile, flags: routerFlags });
  try {
    await nodeProcess.waitFor("supervisor.ready");
    const listening = await routerProcess.waitFor("gateway.listening");
    const url = String(listening.url);
    const deadline = Date.now() + 20_000;
    while ((await fetch(`${url}/ready`).then(async (r) => (await r.body?.cancel(), r.status))) !== 200) {
      assert.ok(Date.now() < deadline, "the router never saw its node ready");
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal((await chatOnce(url, router.fingerprint)).at(-1), "done");

    // The node counts a request when its response has closed, which can be a moment after the router
    // has sealed the last event: poll briefly.
    const completions = 'privacy_gateway_node_requests_total{route="POST /completion",status="200"}';
    let nodeText = "";
    for (let tries = 0; tries < 50; tries++) {
      nodeText = await (await fetch(`http://${nodeMetrics}/metrics`)).text();
      if ((sample(nodeText, completions) ?? 0) >= 1) break;
      await new Promise((r) => setTimeout(r, 40));
    }
    assert.ok(sample(nodeText, completions)! >= 1, nodeText);
    assert.equal(sample(nodeText, "privacy_gateway_node_active_streams"), 0);
    assert.equal(sample(nodeText, 'pg_supervisor_state{state="ready"}'), 1);
    assert.equal(sample(nodeText, 'pg_supervisor_state{state="failed"}'), 0);
    const nodeExpiry = sample(nodeText, 'pg_certificate_expiry_seconds{certificate="mtls"}')!;
    assert.ok(nodeExpiry > 86_400 && nodeExpiry <= 2 * 86_400, `expiry ${nodeExpiry}`);

    const routerText = await (await fetch(`http://${routerMetrics}/metrics`)).text();
    const keyAge = sample(routerText, "pg_key_age_seconds")!;
    assert.ok(keyAge >= 0 && keyAge < 120, `key age ${keyAge}`);
    assert.ok(sample(routerText, 'pg_certificate_expiry_seconds{certificate="mtls"}')! > 86_400);
    assert.equal(sample(routerText, "pg_supervisor_state"), undefined, "a router without llama-server");

    const check = startDeployed({
      command: undefined,
      args: ["check"],
      envFile: router.envFile,
      flags: routerFlags,
    });
    assert.equal((await check.exited()).code, 0, check.output());
    assert.match(
      check.output(),
      /^check: ok \(configuration, grants, files, node https:\/\/127\.0\.0\.1:\d+, redis, otlp\)$/m,
    );
  } finally {
    await Promise.allSettled([routerProcess.stop(), nodeProcess.stop()]);
    await stopped(routerProcess);
    await stopped(nodeProcess);
    await collector.shutdown();
    await Deno.remove(root, { recursive: true });
  }
  // The batch exporter flushes at shutdown at the latest.
  assert.ok(spans.some((s) => /^POST \/v1\/traces [1-9]/.test(s)), `collector saw: ${spans.join("; ")}`);
});

Deno.test("privacy-gateway check prints one line per problem and exits 1", async () => {
  await using staged = await stage("privacy-gateway-router.env.example", "gateway", (v) => {
    v.set("PG_NODES", `https://127.0.0.1:${freePort()},https://localhost:${freePort()}`);
    v.set("PG_REDIS_URL", `redis://127.0.0.1:${freePort()}`);
  });
  const flags = await builtGrants("gateway", staged.envFile);
  await Deno.remove(staged.values.get("PG_IDENTITY_KEY_FILE")!);
  const check = startDeployed({ args: ["check"], envFile: staged.envFile, flags });
  assert.equal((await check.exited()).code, 1);
  const lines = check.output().trim().split("\n");
  assert.equal(lines.length, 4, check.output());
  assert.match(lines[0], /^problem: PG_IDENTITY_KEY_FILE: cannot read '.*identity\.json' \(NotFound\)$/);
  assert.match(lines[1], /^problem: PG_NODES: (cannot reach node|node) https:\/\/127\.0\.0\.1:\d+/);
  assert.match(lines[2], /^problem: PG_NODES: (cannot reach node|node) https:\/\/localhost:\d+/);
  assert.match(lines[3], /^problem: PG_REDIS_URL: Cannot connect to Redis at .*ECONNREFUSED/);

  // The same check under a build from another env file names the missing grants instead.
  await using other = await stage("privacy-gateway-node.env.example", "node");
  const wrong = startDeployed({ args: ["check", "--role", "node"], envFile: other.envFile, flags });
  assert.equal((await wrong.exited()).code, 1);
  assert.match(
    wrong.output(),
    /^problem: (grant: missing --allow-net=127\.0\.0\.1:\d+ \(PG_NODE_LISTEN\)|config: PG_ENV_FILE)/m,
  );
});

Deno.test("privacy-gateway check --role node passes on a node as shipped, with llama-server runnable", async () => {
  await using staged = await stage("privacy-gateway-node.env.example", "node");
  const check = startDeployed({
    args: ["check", "--role", "node"],
    envFile: staged.envFile,
    flags: await builtGrants("node", staged.envFile),
  });
  assert.equal((await check.exited()).code, 0, check.output());
  assert.equal(check.output(), "check: ok (configuration, grants, files, llama-server)\n");
});
