/**
 * Two inference nodes (the `node` role, each with its own real llama-server) behind mTLS on loopback, with
 * a test CA made by scripts/make-test-ca.sh; a gateway routes across them.
 */
import assert from "node:assert/strict";
import { GatewayClient } from "../src/client/mod.ts";
import { loadConfig } from "../src/config/mod.ts";
import { runNode } from "../src/main.ts";
import { silentLogger } from "../src/observability/mod.ts";
import { llamaServerBin, privateTempDir, startGateway } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/process.ts";

/**
 * The node refused the TLS handshake with `alert`: fetch fails with a TypeError whose cause is the TLS
 * alert (not, say, a refused connection or a 4xx answer, which would be a different bug).
 */
function _tlsRefusal(alert: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof TypeError && alert.test(String(error.cause));
}

/** CA directories made by this file, removed after each test. */
const caDirs: string[] = [];

async function makeCa(): Promise<string> {
  const dir = await privateTempDir("pg-ca-");
  caDirs.push(dir);
  const script = new URL("../scripts/make-test-ca.sh", import.meta.url).pathname;
  const result = await new Deno.Command("bash", { args: [script, `${dir}/ca`], stderr: "piped" }).output();
  assert.ok(result.success, `make-test-ca.sh failed: ${new TextDecoder().decode(result.stderr)}`);
  return `${dir}/ca`;
}

async function removeCas(): Promise<void> {
  for (const dir of caDirs.splice(0)) await Deno.remove(dir, { recursive: true }).catch(() => {});
}

async function startNode(ca: string, extra: Record<string, string> = {}, tlsReloadIntervalMs?: number) {
  const dir = await privateTempDir("pg-node-");
  const loaded = loadConfig({
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: dir,
    PG_NODE_LISTEN: "127.0.0.1:0",
    PG_MTLS_CA_FILE: `${ca}/ca.pem`,
    PG_MTLS_CERT_FILE: `${ca}/node.pem`,
    PG_MTLS_KEY_FILE: `${ca}/node-key.pem`,
    PG_LLAMA_PARALLEL: "2",
    // Two llama-servers on a 2-core machine: one thread each. llama.cpp threads spin while waiting, so
    // oversubscribing cores slowed 4 streams from 0.3 s to 16 s (measured).
    PG_LLAMA_THREADS: "1",
    ...extra,
  }, () => "");
  if (!loaded.ok) throw new Error(loaded.problems.join("; "));
  const controller = new AbortController();
  const node = await runNode(loaded.config, { logger: silentLogger, tlsReloadIntervalMs }, controller.signal);
  await node.supervisor.ensureReady(AbortSignal.timeout(20_000));
  return {
    ...node,
    dir,
    stop: async () => {
      controller.abort();
      await node.finished;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function routerGateway(ca: string, nodes: string[], extra: Record<string, string> = {}) {
  const dir = await privateTempDir("pg-router-");
  const gateway = await startGateway({
    PG_BACKEND: "llama",
    PG_LOCAL_LLAMA: "false",
    PG_DEMO_MODEL: "true",
    PG_RUNTIME_DIR: dir,
    PG_NODES: nodes.join(","),
    PG_MTLS_CA_FILE: `${ca}/ca.pem`,
    PG_MTLS_CERT_FILE: `${ca}/router.pem`,
    PG_MTLS_KEY_FILE: `${ca}/router-key.pem`,
    ...extra,
  });
  // Wait until every node has passed its first health probe: each one alone can be taken.
  const names = Object.keys(gateway.router!.circuits());
  const everyNodeReady = () =>
    names.length === nodes.length && names.every((name) => {
      try {
        gateway.router!.acquire(new Set(names.filter((n) => n !== name))).done("cancelled");
        return true;
      } catch {
        return false;
      }
    });
  if (!await waitFor(everyNodeReady, 10_000)) throw new Error("nodes never became healthy");
  return { gateway, dir };
}

async function ask(client: GatewayClient, content: string, maxTokens = 20) {
  const events = [];
  for await (const event of client.chat({ messages: [{ role: "user", content }], max_tokens: maxTokens })) {
    events.push(event);
  }
  return events;
}

Deno.test("Gateway balances requests across two mTLS nodes and refuses clients without a valid certificate", async () => {
  const ca = await makeCa();
  const [a, b] = await Promise.all([startNode(ca), startNode(ca)]);
  const { gateway, dir } = await routerGateway(ca, [a.url, b.url]);
  try {
    // Eight devices (one stream each: a device's own concurrency is capped).
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        ask(
          new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 }),
          `balance ${i}`,
          200,
        )),
    );
    for (const events of answers) assert.equal(events.at(-1)?.type, "done", JSON.stringify(events.at(-1)));
    assert.ok(
      a.server.served() > 0 && b.server.served() > 0,
      `served: ${a.server.served()} / ${b.server.served()}`,
    );

    const caPem = await Deno.readTextFile(`${ca}/ca.pem`);
    const anonymous = Deno.createHttpClient({ caCerts: [caPem] });
    await assert.rejects(
      fetch(`${a.url}/health`, { client: anonymous }),
      _tlsRefusal(/received fatal alert: CertificateRequired/),
      "no client certificate",
    );
    anonymous.close();
    const stranger = Deno.createHttpClient({
      caCerts: [caPem],
      cert: await Deno.readTextFile(`${ca}/stranger.pem`),
      key: await Deno.readTextFile(`${ca}/stranger-key.pem`),
    });
    await assert.rejects(
      fetch(`${a.url}/health`, { client: stranger }),
      // node:https drops the handshake of an unknown issuer without an alert; the router request below
      // proves the node itself is up.
      _tlsRefusal(/received fatal alert|peer closed connection without sending TLS close_notify/),
      "certificate from another CA",
    );
    stranger.close();
    const router = Deno.createHttpClient({
      caCerts: [caPem],
      cert: await Deno.readTextFile(`${ca}/router.pem`),
      key: await Deno.readTextFile(`${ca}/router-key.pem`),
    });
    const ok = await fetch(`${a.url}/health`, { client: router });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    const hidden = await fetch(`${a.url}/slots`, { client: router });
    assert.equal(hidden.status, 404, "only completion, tokenize and health are exposed");
    await hidden.body?.cancel();
    router.close();
  } finally {
    await gateway.stop();
    await Promise.all([a.stop(), b.stop()]);
    await Deno.remove(dir, { recursive: true });
    await removeCas();
  }
});

Deno.test("A node whose subject is not allow-listed refuses the router", async () => {
  const ca = await makeCa();
  const node = await startNode(ca, { PG_NODE_ALLOWED_SUBJECTS: "someone-else" });
  try {
    const caPem = await Deno.readTextFile(`${ca}/ca.pem`);
    const router = Deno.createHttpClient({
      caCerts: [caPem],
      cert: await Deno.readTextFile(`${ca}/router.pem`),
      key: await Deno.readTextFile(`${ca}/router-key.pem`),
    });
    const response = await fetch(`${node.url}/health`, { client: router });
    assert.equal(response.status, 403);
    await response.body?.cancel();
    router.close();
  } finally {
    await node.stop();
    await removeCas();
  }
});

Deno.test("SIGSTOP of one node's llama-server: deadline trips, circuit opens, traffic moves, node is readmitted", async () => {
  const ca = await makeCa();
  const [a, b] = await Promise.all([startNode(ca), startNode(ca)]);
  const { gateway, dir } = await routerGateway(ca, [a.url, b.url], {
    PG_FIRST_TOKEN_TIMEOUT_SECONDS: "1",
    PG_CIRCUIT_FAILURES: "1",
    PG_CIRCUIT_OPEN_SECONDS: "1",
  });
  const stoppedPid = a.supervisor.pid!;
  try {
    const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
    Deno.kill(stoppedPid, "SIGSTOP");
    const servedBefore = b.server.served();
    // The first request goes to node1 (tie → first), times out before its first token, and is retried on node2.
    const events = await ask(client, "while stopped");
    assert.equal(events.at(-1)?.type, "done");
    assert.deepEqual(gateway.router!.inFlight(), { node1: 0, node2: 0 }, "leases are returned");
    assert.equal(gateway.router!.circuits().node1, "open");
    assert.ok(b.server.served() > servedBefore);
    for (let i = 0; i < 3; i++) assert.equal((await ask(client, `moved ${i}`)).at(-1)?.type, "done");
    try {
      Deno.kill(stoppedPid, "SIGCONT");
    } catch { /* the node's own supervisor may already have replaced the hung process */ }
    // After the open period and a healthy probe, node1 takes a trial request and its circuit closes.
    const deadline = Date.now() + 15_000;
    while (gateway.router!.circuits().node1 !== "closed") {
      if (Date.now() > deadline) {
        assert.fail(`node1 not readmitted: ${JSON.stringify(gateway.router!.circuits())}`);
      }
      await ask(client, "probe");
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    try {
      Deno.kill(stoppedPid, "SIGCONT");
    } catch { /* gone */ }
    await gateway.stop();
    await Promise.all([a.stop(), b.stop()]);
    await Deno.remove(dir, { recursive: true });
    await removeCas();
  }
});

Deno.test("A new CA and new certificates on both sides under load: streams finish, new requests use them", async () => {
  const old = await makeCa();
  const renewed = await makeCa();
  const live = await privateTempDir("pg-live-");
  const install = async (from: string) => {
    for (const file of ["ca.pem", "node.pem", "node-key.pem", "router.pem", "router-key.pem"]) {
      await Deno.copyFile(`${from}/${file}`, `${live}/${file}.tmp`);
      await Deno.rename(`${live}/${file}.tmp`, `${live}/${file}`);
    }
  };
  await install(old);
  const node = await startNode(live, {}, 100);
  const { gateway, dir } = await routerGateway(live, [node.url]);
  try {
    const client = () =>
      new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
    // Renew only once all three streams are generating: each has delivered its first event.
    let generating = 0;
    const streams = Array.from({ length: 3 }, async (_, i) => {
      const events = [];
      for await (
        const event of client().chat({
          messages: [{ role: "user", content: `in flight ${i}` }],
          max_tokens: 1500,
        })
      ) {
        if (events.push(event) === 1) generating++;
      }
      return events;
    });
    assert.ok(await waitFor(() => generating === 3, 10_000), "all three streams are generating");
    await install(renewed);
    for (const events of await Promise.all(streams)) {
      assert.equal(events.at(-1)?.type, "done", `no stream failed: ${JSON.stringify(events.at(-1))}`);
    }
    // The node takes the new CA within 100 ms, the router its new certificate at its next probe (2 s):
    // from then on only the new credentials are accepted, so success proves both sides reloaded.
    const deadline = Date.now() + 15_000;
    let served = false;
    while (!served) {
      if (Date.now() > deadline) assert.fail("requests never succeeded with the renewed credentials");
      served = (await ask(client(), "after renewal", 5)).at(-1)?.type === "done";
      if (!served) await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await gateway.stop();
    await node.stop();
    for (const path of [dir, live]) await Deno.remove(path, { recursive: true }).catch(() => {});
    await removeCas();
  }
});

Deno.test("A node cuts a stream still running at its drain deadline (PG_DRAIN_SECONDS) and stops", async () => {
  const ca = await makeCa();
  const node = await startNode(ca, {
    PG_DRAIN_SECONDS: "1",
    PG_LLAMA_CTX: "32768",
    PG_MAX_TOKENS_CAP: "16000",
  });
  // The router sizes prompts and answers by PG_LLAMA_CTX / PG_LLAMA_PARALLEL: they describe the nodes' slots.
  const { gateway, dir } = await routerGateway(ca, [node.url], {
    PG_MAX_TOKENS_CAP: "16000",
    PG_LLAMA_CTX: "32768",
  });
  try {
    const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
    const events: string[] = [];
    const streaming = (async () => {
      for await (
        const event of client.chat({ messages: [{ role: "user", content: "go" }], max_tokens: 15000 })
      ) {
        events.push(event.type === "error" ? event.code : event.type);
      }
    })().catch((error) => events.push(String(error)));
    assert.ok(await waitFor(() => events.includes("text"), 10_000), "the stream never started");
    const started = performance.now();
    await node.stop();
    const took = performance.now() - started;
    await streaming;
    // The router's client sees an encrypted error, not a silent stop; the node did not wait for 15,000 tokens.
    assert.ok(took >= 900 && took < 3_000, `node stopped after ${Math.round(took)} ms`);
    assert.notEqual(events.at(-1), "done");
  } finally {
    await gateway.stop();
    await Deno.remove(dir, { recursive: true });
    await removeCas();
  }
});
