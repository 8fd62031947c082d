/**
 * Token mode (issue 14, PG_AUTH=token) through the whole gateway: a chat needs one valid unspent Privacy
 * Pass token and carries no device key; a captured token is spent once (memory, and Redis across two
 * gateways); issuance limits hold per device; a token of another issuer key is refused; and through the
 * relay, the gateway's whole state links no two requests of one user.
 */
import assert from "node:assert/strict";
import { GatewayClient, GatewayRequestError, KeyVerificationError } from "../src/client/mod.ts";
import { chatCommand } from "../src/cli/chat_command.ts";
import { EchoGenerator, type Generator } from "../src/inference/mod.ts";
import { main } from "../src/main.ts";
import { MemoryTokenStore, type StoredToken } from "../src/tokens/mod.ts";
import { privateTempDir, startGateway } from "./helpers/gateway.ts";
import { spawnGateway } from "./helpers/gateway_process.ts";
import { chat, post, readAnswer, sealFor } from "./helpers/raw_client.ts";
import { startRedis } from "./helpers/redis.ts";
import { chatOutcome, startRelay } from "./helpers/relay.ts";

const TOKEN_ENV = { PG_AUTH: "token" };

function outcome(client: GatewayClient, content = "hello"): Promise<string> {
  return chatOutcome(client, content);
}

function tokenClient(url: string, fingerprint: string, extra: Record<string, unknown> = {}): GatewayClient {
  return new GatewayClient({ baseUrl: url, pin: fingerprint, auth: "token", ...extra });
}

/** A client whose wallet holds exactly `token` (a captured token, replayed by an attacker). */
function holding(url: string, fingerprint: string, token: StoredToken, relayUrl?: string): GatewayClient {
  const store = new MemoryTokenStore();
  store.save([token]);
  // maxAttempts 1: a refused token is not retried with another (there is none anyway).
  return tokenClient(url, fingerprint, {
    tokenStore: store,
    maxAttempts: 1,
    ...(relayUrl ? { relayUrl } : {}),
  });
}

/** A private temporary directory removed when the test ends, whether it passes or not. */
async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await privateTempDir(prefix);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

async function oneToken(url: string, fingerprint: string): Promise<StoredToken> {
  const store = new MemoryTokenStore();
  const client = tokenClient(url, fingerprint, { tokenStore: store, tokenBatchSize: 2, tokenLowWater: 1 });
  assert.equal(await client.prefetchTokens(), 2);
  return (await store.load())[0];
}

Deno.test("Token mode: a chat through the relay spends one token and carries no device key", async () => {
  await using gateway = await startGateway(TOKEN_ENV);
  await using relay = startRelay(`${gateway.url}/api/chat`);
  const store = new MemoryTokenStore();
  const client = tokenClient(gateway.url, gateway.fingerprint, {
    relayUrl: relay.url,
    tokenStore: store,
    tokenBatchSize: 10,
    tokenLowWater: 3,
  });
  assert.equal(await client.prefetchTokens(), 10);
  assert.equal(await outcome(client, "via relay"), "done echo: via relay");
  assert.equal(await client.tokensLeft(), 9);
  // A client set to device mode refuses to send its device key here (the signed key set says token);
  // the gateway's own refusal of a device key is the raw-client test further down.
  const device = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, auth: "device" });
  assert.equal(await outcome(device), "0 auth_mode_mismatch");
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  assert.match(metrics, /privacy_gateway_token_redemptions_total\{outcome="ok"\} 1/);
  assert.match(metrics, /privacy_gateway_tokens_issued_total 10/);
});

Deno.test("Token mode under the product's permission flags: issuance and a chat work, keys file 0600", async () => {
  const dir = await privateTempDir("pg-tok-");
  const run = await privateTempDir("pg-tok-run-");
  const redis = await startRedis();
  const gateway = await spawnGateway({
    PG_BACKEND: "echo",
    PG_RUNTIME_DIR: run,
    PG_AUTH: "token",
    PG_REDIS_URL: redis.url,
    PG_TOKEN_KEYS_FILE: `${dir}/token-keys.json`,
    PG_STREAM_TICK_MS: "0",
  });
  try {
    const client = tokenClient(gateway.url, gateway.fingerprint, { tokenBatchSize: 5, tokenLowWater: 1 });
    assert.equal(await outcome(client, "permitted"), "done echo: permitted");
    assert.equal(await client.tokensLeft(), 4);
    assert.equal((await Deno.stat(`${dir}/token-keys.json`)).mode! & 0o777, 0o600);
  } finally {
    await gateway.stop();
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(run, { recursive: true });
  }
});

Deno.test("Double spend: of 50 parallel chats through the relay with one captured token exactly one succeeds (memory)", async () => {
  // 50 connections from one address (the relay's): above the edge's default per-network cap of 32.
  await using gateway = await startGateway({ ...TOKEN_ENV, PG_MAX_CONNECTIONS_PER_NETWORK: "128" });
  await using relay = startRelay(`${gateway.url}/api/chat`);
  const token = await oneToken(gateway.url, gateway.fingerprint);
  const results = await Promise.all(
    Array.from({ length: 50 }, () => outcome(holding(gateway.url, gateway.fingerprint, token, relay.url))),
  );
  assert.equal(results.filter((r) => r.startsWith("done")).length, 1, results.join("\n"));
  assert.equal(results.filter((r) => r === "401 token_spent").length, 49, results.join("\n"));
});

Deno.test("Double spend: two gateways sharing Redis and the issuer keys file accept a token once, through relays", async () => {
  await using redis = await startRedis();
  await using temp = await tempDir("pg-tok2-");
  const dir = temp.path;
  await main(["keys", "init", "--out", `${dir}/id.json`]);
  const env = {
    ...TOKEN_ENV,
    PG_IDENTITY_KEY_FILE: `${dir}/id.json`,
    PG_TOKEN_KEYS_FILE: `${dir}/token-keys.json`,
    PG_REDIS_URL: redis.url,
  };
  const many = { ...env, PG_MAX_CONNECTIONS_PER_NETWORK: "128" };
  await using a = await startGateway(many);
  await using b = await startGateway(many);
  await using relayA = startRelay(`${a.url}/api/chat`);
  await using relayB = startRelay(`${b.url}/api/chat`);
  const token = await oneToken(a.url, a.fingerprint);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => {
      const [g, relay] = i % 2 === 0 ? [a, relayA] : [b, relayB];
      return outcome(holding(g.url, g.fingerprint, token, relay.url));
    }),
  );
  assert.equal(results.filter((r) => r.startsWith("done")).length, 1, results.join("\n"));
  assert.equal(results.filter((r) => r === "401 token_spent").length, 49, results.join("\n"));
  // A fresh token from gateway A is good on gateway B: one issuer key set.
  assert.equal(
    await outcome(holding(b.url, b.fingerprint, await oneToken(a.url, a.fingerprint))),
    "done echo: hello",
  );
});

Deno.test("Issuance limits hold per device: PG_TOKENS_PER_DEVICE_PER_DAY, then rate_limited", async () => {
  await using gateway = await startGateway({
    ...TOKEN_ENV,
    PG_TOKENS_PER_DEVICE_PER_DAY: "30",
    PG_TOKEN_BATCH_SIZE: "20",
  });
  const deviceKey = await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"]) as CryptoKeyPair;
  const client = tokenClient(gateway.url, gateway.fingerprint, { deviceKey, tokenBatchSize: 20 });
  assert.equal(await client.prefetchTokens(), 20);
  const again = tokenClient(gateway.url, gateway.fingerprint, { deviceKey, tokenBatchSize: 20 });
  assert.equal(await again.prefetchTokens(), 10, "the quota cuts the batch");
  const third = tokenClient(gateway.url, gateway.fingerprint, { deviceKey, tokenBatchSize: 20 });
  await assert.rejects(
    third.prefetchTokens(),
    (e) => e instanceof GatewayRequestError && e.code === "rate_limited",
  );
  const other = tokenClient(gateway.url, gateway.fingerprint, { tokenBatchSize: 20 });
  assert.equal(await other.prefetchTokens(), 20, "another device has its own quota");
  // A batch above PG_TOKEN_BATCH_SIZE is refused whole.
  const greedy = tokenClient(gateway.url, gateway.fingerprint, { tokenBatchSize: 21 });
  await assert.rejects(
    greedy.prefetchTokens(),
    (e) => e instanceof GatewayRequestError && e.code === "invalid_token_request",
  );
});

Deno.test("A token from another issuer key (same identity and issuer name, other keys) is refused", async () => {
  await using temp = await tempDir("pg-tok3-");
  const dir = temp.path;
  await main(["keys", "init", "--out", `${dir}/id.json`]);
  await using a = await startGateway({ ...TOKEN_ENV, PG_IDENTITY_KEY_FILE: `${dir}/id.json` });
  await using b = await startGateway({ ...TOKEN_ENV, PG_IDENTITY_KEY_FILE: `${dir}/id.json` });
  const foreign = await oneToken(b.url, b.fingerprint);
  const own = await oneToken(a.url, a.fingerprint);
  assert.notEqual(foreign.tokenKeyId, own.tokenKeyId);
  // Labelled with A's key id so that the wallet hands it out; the token's own bytes name B's key.
  const relabelled = { ...foreign, tokenKeyId: own.tokenKeyId };
  assert.equal(await outcome(holding(a.url, a.fingerprint, relabelled)), "401 token_key_retired");
  assert.equal(await outcome(holding(a.url, a.fingerprint, own)), "done echo: hello");
});

Deno.test("Token mode refuses a request that names a device next to its token, and one without a token", async () => {
  await using gateway = await startGateway(TOKEN_ENV);
  const token = await oneToken(gateway.url, gateway.fingerprint);
  const device = { public_key: "A".repeat(43), signature: "A".repeat(86) };
  // Both are invalid_request (details "device: not accepted with tokens", "token: required").
  for (const json of [chat("hi", { token: token.token, device }), chat("hi")]) {
    const sealed = await sealFor(gateway.keyRing, { json });
    const response = await post(gateway.url, sealed.body);
    assert.equal(response.status, 200, "refused inside the encryption");
    const { head, events } = await readAnswer(sealed, new Uint8Array(await response.arrayBuffer()));
    assert.equal(head.status, 422);
    assert.deepEqual(events.map((e) => e.type === "error" ? e.code : e.type), ["invalid_request"]);
    assert.ok(!gateway.logs.some((l) => l.includes(token.token)));
  }
  // The token was not spent by the refused request: it still works alone.
  assert.equal(await outcome(holding(gateway.url, gateway.fingerprint, token)), "done echo: hello");
});

Deno.test("CLI chat in token mode (detected from the signed key set) prints the tokens left", async () => {
  await using gateway = await startGateway(TOKEN_ENV);
  const out: string[] = [];
  const err: string[] = [];
  const io = { write: (t: string) => out.push(t), error: (t: string) => err.push(t) };
  const code = await chatCommand(
    { url: gateway.url, pin: gateway.fingerprint, json: false, prompt: "cli" },
    io,
  );
  assert.equal(code, 0, err.join(""));
  assert.equal(out.join(""), "echo: cli\n");
  assert.match(err.join(""), /^tokens left: \d+\n$/m);
  const json: string[] = [];
  await chatCommand({ url: gateway.url, pin: gateway.fingerprint, json: true, prompt: "cli" }, {
    write: (t) => json.push(t),
    error: () => {},
  });
  assert.match(json.at(-1)!, /^\{"tokens_left":\d+\}\n$/);
});

Deno.test("GatewayClient drops a refused token and retries once with another", async () => {
  await using gateway = await startGateway(TOKEN_ENV);
  const spent = await oneToken(gateway.url, gateway.fingerprint);
  assert.equal(await outcome(holding(gateway.url, gateway.fingerprint, spent)), "done echo: hello");
  // The wallet holds only the spent token: the gateway refuses it, the client drops it, refills
  // (the wallet is empty) and succeeds on its one retry.
  const store = new MemoryTokenStore();
  await store.save([spent]);
  const client = tokenClient(gateway.url, gateway.fingerprint, {
    tokenStore: store,
    tokenBatchSize: 3,
    tokenLowWater: 1,
  });
  assert.equal(await outcome(client, "retried"), "done echo: retried");
  assert.equal(await client.tokensLeft(), 2);
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  assert.match(metrics, /privacy_gateway_token_redemptions_total\{outcome="spent"\} 1/);
});

Deno.test("auth auto: a key set stripped of its token keys is refused, never read as device mode", async () => {
  await using gateway = await startGateway(TOKEN_ENV);
  let chats = 0;
  let strip = false;
  // A hostile middle (relay, CDN, TLS terminator) removes the token keys from the document it passes on.
  const middle = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname === "/api/chat") chats++;
    const response = await fetch(input, init);
    if (url.pathname !== "/api/pubkey" || !strip) return response;
    const document = await response.json();
    delete document.token_keys;
    return Response.json(document);
  }) as typeof fetch;
  // A first-time client (never saw token mode): the signed `auth` byte still says token.
  strip = true;
  const fresh = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, fetch: middle });
  await assert.rejects(fresh.keys(), (e) => e instanceof KeyVerificationError && e.reason === "malformed");
  await assert.rejects(
    fresh.complete({ messages: [{ role: "user", content: "never sent" }] }),
    (e) => e instanceof KeyVerificationError && e.reason === "malformed",
  );
  assert.equal(chats, 0, "a request went out although the key set was refused");
  // A client that already holds tokens: a stripped refresh fails too, and sends nothing.
  strip = false;
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, fetch: middle });
  assert.equal(await client.prefetchTokens(), 20);
  assert.equal(client.tokenMode, true);
  strip = true;
  await assert.rejects(
    client.keys(true),
    (e) => e instanceof KeyVerificationError && e.reason === "malformed",
  );
  assert.equal(chats, 0);
});

Deno.test("auth device refuses a gateway whose signed key set says token, before sending its device key", async () => {
  await using gateway = await startGateway(TOKEN_ENV);
  let chats = 0;
  const counting = ((input: RequestInfo | URL, init?: RequestInit) => {
    if (String(input instanceof Request ? input.url : input).endsWith("/api/chat")) chats++;
    return fetch(input, init);
  }) as typeof fetch;
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    auth: "device",
    fetch: counting,
  });
  assert.equal(await outcome(client), "0 auth_mode_mismatch");
  assert.equal(chats, 0);
});

Deno.test("auth token refuses a gateway in device mode (the signed key set says device)", async () => {
  await using gateway = await startGateway({ PG_AUTH: "device" });
  const client = tokenClient(gateway.url, gateway.fingerprint);
  assert.equal(await outcome(client), "0 auth_mode_mismatch");
  // The default, auto, follows the signed mode: device here.
  const auto = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  assert.equal(await outcome(auto), "done echo: hello");
  assert.equal(auto.tokenMode, false);
});

function holding_(gateway: { url: string; fingerprint: string }, token: StoredToken): GatewayClient {
  return holding(gateway.url, gateway.fingerprint, token);
}

/**
 * A generator that echoes, except the chat started by `hold()`, which keeps its stream slot until
 * `release()`.
 */
function slotHolder() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let started!: () => void;
  const holding = new Promise<void>((resolve) => started = resolve);
  let armed = false;
  const echo = new EchoGenerator();
  const generator: Generator = {
    ready: () => true,
    async *generate(request, signal) {
      if (armed) {
        armed = false;
        started();
        await gate;
      }
      yield* echo.generate(request, signal);
    },
  };
  return {
    generator,
    release,
    /** Starts the holding chat; resolves once it holds the slot, with its outcome to await later. */
    async hold(client: GatewayClient): Promise<{ outcome: Promise<string> }> {
      armed = true;
      const result = outcome(client, "held");
      await Promise.race([holding, result.then((r) => Promise.reject(new Error(`holding chat: ${r}`)))]);
      return { outcome: result };
    },
  };
}

Deno.test("Token mode: a valid token refused for a full queue is not spent; the SDK does not put it back in its wallet", async () => {
  const slot = slotHolder();
  await using gateway = await startGateway(
    { ...TOKEN_ENV, PG_MAX_CONCURRENT_STREAMS: "1", PG_QUEUE_SIZE: "0" },
    { generator: slot.generator },
  );
  const first = await slot.hold(tokenClient(gateway.url, gateway.fingerprint));
  const token = await oneToken(gateway.url, gateway.fingerprint);
  // The queue is full: refused before the gateway marks the token spent. The SDK drops it all the same
  // when the call ends (a token the gateway has seen never goes back into the random pool).
  const store = new MemoryTokenStore();
  await store.save([token]);
  const refused = tokenClient(gateway.url, gateway.fingerprint, { tokenStore: store, maxAttempts: 1 });
  assert.equal(await outcome(refused, "queued"), "503 overloaded");
  assert.deepEqual(await store.load(), []);
  slot.release();
  assert.equal(await first.outcome, "done echo: held");
  // Unspent indeed: a copy of it is good once, then refused.
  assert.equal(await outcome(holding_(gateway, token), "again"), "done echo: again");
  assert.equal(await outcome(holding_(gateway, token), "thrice"), "401 token_spent");
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  assert.match(metrics, /privacy_gateway_token_redemptions_total\{outcome="ok"\} 2/);
});

Deno.test("Token mode: a spent token, or a second copy of one in flight, is refused at once, never queued", async () => {
  const slot = slotHolder();
  // One slot, a queue with room, and a long wait: anything that gets into the queue waits 5 s.
  await using gateway = await startGateway(
    { ...TOKEN_ENV, PG_MAX_CONCURRENT_STREAMS: "1", PG_QUEUE_SIZE: "8", PG_QUEUE_WAIT_SECONDS: "5" },
    { generator: slot.generator },
  );
  const spent = await oneToken(gateway.url, gateway.fingerprint);
  assert.equal(await outcome(holding_(gateway, spent), "spend it"), "done echo: spend it");
  const first = await slot.hold(tokenClient(gateway.url, gateway.fingerprint));
  const started = performance.now();
  assert.equal(await outcome(holding_(gateway, spent), "replayed"), "401 token_spent");
  // A valid token: the first copy waits in the queue; the second is refused without waiting.
  const valid = await oneToken(gateway.url, gateway.fingerprint);
  const waiting = outcome(holding_(gateway, valid), "waits");
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await outcome(holding_(gateway, valid), "copy"), "401 token_spent");
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 2_000, `the refusals took ${Math.round(elapsed)} ms: they waited in the queue`);
  slot.release();
  assert.equal(await first.outcome, "done echo: held");
  assert.equal(await waiting, "done echo: waits");
  assert.equal(await outcome(holding_(gateway, valid), "later"), "401 token_spent");
});

Deno.test("GatewayClient retries a call with the same token after a clear-text refusal, and drops it when the call ends", async () => {
  await using gateway = await startGateway(TOKEN_ENV);
  let refuse = 0;
  // A relay that refuses in the clear before forwarding (its own 503), `refuse` times.
  const relay = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.endsWith("/api/chat") && refuse > 0) {
      refuse--;
      return Response.json({ error: { code: "upstream_unavailable" } }, { status: 503 });
    }
    return await fetch(input, init);
  }) as typeof fetch;
  const store = new MemoryTokenStore();
  const client = tokenClient(gateway.url, gateway.fingerprint, {
    tokenStore: store,
    tokenBatchSize: 3,
    tokenLowWater: 1,
    fetch: relay,
    maxBackoffMs: 1,
  });
  assert.equal(await client.prefetchTokens(), 3);
  refuse = 1;
  assert.equal(await outcome(client, "retried"), "done echo: retried");
  assert.equal(await client.tokensLeft(), 2, "the retry took a second token instead of reusing its own");
  // A call that fails for good: its token is gone with it, not back in the wallet.
  const once = tokenClient(gateway.url, gateway.fingerprint, {
    tokenStore: store,
    fetch: relay,
    maxAttempts: 1,
  });
  refuse = 1;
  assert.equal(await outcome(once, "refused"), "503 upstream_unavailable");
  assert.equal((await store.load()).length, 1);
});

Deno.test("auth auto stays in token mode across app restarts: tokens in the store outvote a signed device key set", async () => {
  await using temp = await tempDir("pg-sticky-");
  await main(["keys", "init", "--out", `${temp.path}/id.json`]);
  // One identity, two gateways: the token-mode one, and a device-mode one whose signed key set a cache
  // serves to the app later (an operator's switch back, or a key set from before token mode).
  const identity = { PG_IDENTITY_KEY_FILE: `${temp.path}/id.json` };
  await using tokens = await startGateway({ ...TOKEN_ENV, ...identity });
  await using device = await startGateway({ PG_AUTH: "device", ...identity });
  assert.equal(tokens.fingerprint, device.fingerprint);
  const store = new MemoryTokenStore();
  const before = new GatewayClient({ baseUrl: tokens.url, pin: tokens.fingerprint, tokenStore: store });
  assert.equal(await outcome(before, "tokens"), "done echo: tokens");
  let chats = 0;
  const counting = ((input: RequestInfo | URL, init?: RequestInit) => {
    if (String(input instanceof Request ? input.url : input).endsWith("/api/chat")) chats++;
    return fetch(input, init);
  }) as typeof fetch;
  // The app restarts (a new client, the same store) and gets the device-mode key set.
  const after = new GatewayClient({
    baseUrl: tokens.url,
    pin: tokens.fingerprint,
    tokenStore: store,
    keysUrl: `${device.url}/api/pubkey`,
    fetch: counting,
  });
  assert.equal(await outcome(after, "never sent"), "0 auth_mode_mismatch");
  assert.equal(chats, 0, "the restarted app sent a request (with its device key)");
  // Without tokens in its store (a new install), auto follows the signed mode: device.
  const fresh = new GatewayClient({ baseUrl: device.url, pin: device.fingerprint, fetch: counting });
  assert.equal(await outcome(fresh, "device"), "done echo: device");
});

Deno.test("Issuance under load asks for proof of work, which the SDK solves; without load it does not", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let started!: () => void;
  const holding = new Promise<void>((resolve) => started = resolve);
  let calls = 0;
  const echo = new EchoGenerator();
  const generator: Generator = {
    ready: () => true,
    async *generate(request, signal) {
      if (calls++ === 0) {
        started();
        await held;
      }
      yield* echo.generate(request, signal);
    },
  };
  // One stream slot: holding it puts the gateway at 100 % load, over the 50 % proof-of-work threshold.
  await using gateway = await startGateway(
    { ...TOKEN_ENV, PG_MAX_CONCURRENT_STREAMS: "1", PG_POW_LOAD_PERCENT: "50", PG_POW_BASE_BITS: "12" },
    { generator },
  );
  const issuances = async () => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    return text.split("\n").filter((l) => l.startsWith("privacy_gateway_token_issuances_total{")).join("\n");
  };
  const first = tokenClient(gateway.url, gateway.fingerprint);
  assert.equal(await first.prefetchTokens(), 20);
  assert.doesNotMatch(await issuances(), /outcome="challenge"/, "a proof of work without load");
  const stream = outcome(first, "held");
  await Promise.race([holding, stream.then((result) => Promise.reject(new Error(`stream: ${result}`)))]);
  // Under load: the issuance is answered 428 challenge_required first, then issues once solved.
  const loaded = tokenClient(gateway.url, gateway.fingerprint);
  const solving = performance.now();
  assert.equal(await loaded.prefetchTokens(), 20);
  console.log(`issuance with a 12-bit proof of work: ${Math.round(performance.now() - solving)} ms`);
  assert.match(await issuances(), /outcome="challenge"\} 1\b/);
  release();
  assert.equal(await stream, "done echo: held");
});
