/**
 * Abuse prevention through a real gateway: device and network limits, the error budget, proof of work,
 * two gateways sharing a real redis-server, a Redis outage, and the metrics they produce.
 */
import assert from "node:assert/strict";
import { GatewayClient, GatewayRequestError } from "../src/client/mod.ts";
import { main } from "../src/main.ts";
import { privateTempDir, startGateway } from "./helpers/gateway.ts";
import { freePort } from "./helpers/gateway_process.ts";
import { post, readAnswer, sealFor } from "./helpers/raw_client.ts";
import { startRedis } from "./helpers/redis.ts";

async function outcome(client: GatewayClient, content = "hi"): Promise<string> {
  try {
    for await (const event of client.chat({ messages: [{ role: "user", content }] })) {
      if (event.type === "done") return "done";
    }
    return "no done";
  } catch (error) {
    if (error instanceof GatewayRequestError) {
      return `${error.status} ${error.code} retry=${error.retryAfterSeconds ?? "-"}`;
    }
    throw error;
  }
}

Deno.test("A burst from one device gets 429 with Retry-After while another device is served", async () => {
  await using gateway = await startGateway({ PG_DEVICE_RATE_PER_MINUTE: "6", PG_DEVICE_BURST: "2" });
  const a = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  const b = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  const burst = [];
  for (let i = 0; i < 5; i++) burst.push(await outcome(a));
  assert.deepEqual(burst.slice(0, 3), ["done", "done", "done"]);
  assert.match(burst[3], /^429 rate_limited retry=\d+$/);
  assert.equal(await outcome(b), "done", "another device is served normally");
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  assert.match(metrics, /privacy_gateway_limit_rejections_total\{limit="device"\} 2/);
});

Deno.test("The network limit refuses before any decryption, in the clear, with Retry-After", async () => {
  await using gateway = await startGateway({ PG_IP_RATE_PER_MINUTE: "6", PG_IP_BURST: "1" });
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const response = await post(gateway.url, (await sealFor(gateway.keyRing)).body);
    statuses.push(response.status);
    if (response.status === 429) {
      assert.equal(response.headers.get("content-type"), "application/json");
      assert.equal((await response.json()).error.code, "ip_rate_limited");
      assert.match(response.headers.get("retry-after") ?? "", /^\d+$/);
    } else await response.body?.cancel();
  }
  assert.deepEqual(statuses, [200, 200, 429]);
});

Deno.test("A client sending garbage is throttled within a few dozen tries, then blocked", async () => {
  await using gateway = await startGateway({ PG_ERROR_BUDGET_PER_MINUTE: "20", PG_ERROR_BURST: "10" });
  let tries = 0;
  while (tries < 60) {
    tries++;
    const response = await post(gateway.url, crypto.getRandomValues(new Uint8Array(100)));
    const code = (await response.json()).error.code;
    if (code === "ip_rate_limited") break;
  }
  assert.ok(tries <= 15, `throttled only after ${tries} tries`);
  // A well-formed request from the same network is refused too while the block lasts.
  const response = await post(gateway.url, (await sealFor(gateway.keyRing)).body);
  assert.equal(response.status, 429);
  await response.body?.cancel();
});

Deno.test("A device never seen before solves a proof-of-work challenge transparently, once", async () => {
  await using gateway = await startGateway({ PG_POW_FOR_NEW_DEVICES: "true", PG_POW_BASE_BITS: "8" });
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  assert.equal(await outcome(client), "done");
  assert.equal(await outcome(client), "done", "a known device is not challenged again");
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  assert.match(metrics, /privacy_gateway_challenges_issued_total 1\n/);
  assert.match(metrics, /privacy_gateway_challenges_solved_total 1\n/);
  const withoutRetries = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    maxAttempts: 1,
  });
  const refused = await outcome(withoutRetries);
  assert.match(refused, /^428 challenge_required/);
});

Deno.test("Production requires a device proof", async () => {
  const dir = await privateTempDir("pg-prod-");
  await main(["keys", "init", "--out", `${dir}/id.json`]);
  // Production refuses the echo backend: a FAKE llama-server (scripted Harmony) stands in for the model.
  await using gateway = await startGateway({
    PG_PROFILE: "production",
    PG_IDENTITY_KEY_FILE: `${dir}/id.json`,
    PG_POW_FOR_NEW_DEVICES: "false",
    PG_BACKEND: "llama",
    PG_LLAMA_SERVER_BIN: new URL("./helpers/fake_harmony_llama.py", import.meta.url).pathname,
    PG_MODEL_PATH: `${dir}/fake.gguf`,
    PG_RUNTIME_DIR: `${dir}/run`,
    // Production coalesces (the helper's development default of 0 is refused there).
    PG_STREAM_TICK_MS: "10",
  });
  await gateway.supervisor!.ensureReady(AbortSignal.timeout(10_000));
  const sealed = await sealFor(gateway.keyRing);
  const response = await post(gateway.url, sealed.body);
  // Refused inside the encryption: the outside is the uniform 200 (RFC 9458 §5.2).
  assert.equal(response.status, 200);
  const { head } = await readAnswer(sealed, new Uint8Array(await response.arrayBuffer()));
  assert.equal(head.status, 422, "a raw request without a device is refused");
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  assert.equal(await outcome(client), "done", "the SDK always proves its device");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Two gateways sharing Redis enforce one device limit and one replay set", async () => {
  await using redis = await startRedis();
  const dir = await privateTempDir("pg-two-");
  await main(["keys", "init", "--out", `${dir}/id.json`]);
  await main(["keys", "rotate", "--file", `${dir}/hpke.json`]);
  const env = {
    PG_IDENTITY_KEY_FILE: `${dir}/id.json`,
    PG_HPKE_KEYS_FILE: `${dir}/hpke.json`,
    PG_REDIS_URL: redis.url,
    PG_DEVICE_RATE_PER_MINUTE: "6",
    PG_DEVICE_BURST: "2",
  };
  await using a = await startGateway(env);
  await using b = await startGateway(env);
  const deviceKey = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const toA = new GatewayClient({ baseUrl: a.url, pin: a.fingerprint, maxAttempts: 1, deviceKey });
  const toB = new GatewayClient({ baseUrl: b.url, pin: b.fingerprint, maxAttempts: 1, deviceKey });
  const results = [await outcome(toA), await outcome(toB), await outcome(toA), await outcome(toB)];
  assert.deepEqual(results.slice(0, 3), ["done", "done", "done"]);
  assert.match(results[3], /^429 rate_limited/, "the limit is shared");
  const sealed = await sealFor(a.keyRing);
  const first = await post(a.url, sealed.body);
  await first.body?.cancel();
  assert.equal(first.status, 200);
  const replay = await post(b.url, sealed.body);
  assert.equal(replay.status, 400, "the replay set is shared (checked before decapsulation)");
  assert.equal((await replay.json()).error.code, "replayed_request");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("A Redis outage: replays fail closed, limits fall back to memory, the gateway keeps running", async () => {
  const redis = await startRedis();
  await using gateway = await startGateway({
    PG_REDIS_URL: redis.url,
    PG_IP_BURST: "2",
    PG_IP_RATE_PER_MINUTE: "1",
  });
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  assert.equal(await outcome(client), "done");
  await redis.stop();
  const response = await post(gateway.url, (await sealFor(gateway.keyRing)).body);
  assert.equal(response.status, 503);
  assert.equal((await response.json()).error.code, "overloaded");
  assert.match(response.headers.get("retry-after") ?? "", /^\d+$/);
  // The network limit still holds, now from memory: some requests pass it (and fail later, as garbage),
  // then it refuses with its own code; neither "everything passes" nor "everything is overloaded".
  const codes: string[] = [];
  for (let i = 0; i < 5; i++) {
    const garbage = await post(gateway.url, new Uint8Array(10));
    codes.push(`${garbage.status} ${(await garbage.json()).error.code}`);
  }
  assert.notEqual(codes[0], "429 ip_rate_limited", codes.join(", "));
  assert.equal(codes.at(-1), "429 ip_rate_limited", codes.join(", "));
  assert.ok(codes.every((c) => !c.startsWith("503")), `limits did not fail closed: ${codes.join(", ")}`);
  assert.equal((await fetch(`${gateway.url}/health`)).status, 200);
});

Deno.test("With PG_REDIS_LIMITS_ON_FAILURE=closed a Redis outage refuses before decryption", async () => {
  const redis = await startRedis();
  await using gateway = await startGateway({ PG_REDIS_URL: redis.url, PG_REDIS_LIMITS_ON_FAILURE: "closed" });
  await redis.stop();
  const response = await post(gateway.url, new Uint8Array(10));
  assert.equal(response.status, 503);
  assert.equal((await response.json()).error.code, "overloaded");
});

Deno.test("/metrics shows the documented families, and moves to its own address when configured", async () => {
  await using gateway = await startGateway();
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  assert.equal(await outcome(client), "done");
  await (await post(gateway.url, new Uint8Array(10))).body?.cancel();
  const response = await fetch(`${gateway.url}/metrics`);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
  const text = await response.text();
  for (
    const family of [
      "privacy_gateway_requests_total",
      "privacy_gateway_request_duration_seconds",
      "privacy_gateway_inference_duration_seconds",
      "privacy_gateway_time_to_first_token_seconds",
      "privacy_gateway_stream_tokens_per_second",
      "privacy_gateway_active_streams",
      "privacy_gateway_queue_depth",
      "privacy_gateway_limit_rejections_total",
      "privacy_gateway_challenges_issued_total",
      "privacy_gateway_challenges_solved_total",
      "privacy_gateway_backend_circuit_state",
      "privacy_gateway_supervisor_restarts",
    ]
  ) assert.match(text, new RegExp(`^# TYPE ${family} `, "m"), family);
  assert.match(text, /privacy_gateway_requests_total\{route="chat",status="200",code="ok"\} 1/);
  assert.match(
    text,
    /privacy_gateway_requests_total\{route="chat",status="400",code="malformed_request"\} 1/,
  );

  const port = freePort();
  await using separate = await startGateway({ PG_METRICS_LISTEN: `127.0.0.1:${port}` });
  assert.equal((await (await fetch(`${separate.url}/metrics`)).json()).error.code, "not_found");
  const moved = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.match(await moved.text(), /privacy_gateway_requests_total/);
});

Deno.test("The Grafana dashboard queries only metric families the gateway exports", async () => {
  await using gateway = await startGateway();
  const exported = new Set(
    [...(await (await fetch(`${gateway.url}/metrics`)).text()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]),
  );
  const dashboard = JSON.parse(
    await Deno.readTextFile(new URL("../deploy/grafana/privacy-gateway.json", import.meta.url)),
  );
  const used = new Set<string>();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      for (const [name] of target.expr.matchAll(/privacy_gateway_[a-z_]+/g)) {
        used.add(name.replace(/_(bucket|sum|count)$/, ""));
      }
    }
  }
  assert.ok(used.size >= 10);
  for (const name of used) assert.ok(exported.has(name), `${name} is not exported`);
});
