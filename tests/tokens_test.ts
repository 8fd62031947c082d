/**
 * Tokens across processes' shared state and HTTP: double spends on a real redis-server shared by two
 * redeemers, Redis outage, the issuance quota shared by two issuers, and the issuance endpoint end to end
 * (device-key attestation → batch → wallet → redemption).
 */
import assert from "node:assert/strict";
import { readBodyLimited } from "../src/http/read_body.ts";
import { Hono } from "hono";
import { connectRedisStore, MemoryStore, type RedisStore } from "../src/limits/mod.ts";
import {
  blindTokenRequest,
  DeviceKeyAttester,
  fromBase64Url,
  gatewayChallenge,
  ISSUANCE_PROOF_LABEL,
  issuanceHandler,
  IssuerKeys,
  MemoryTokenStore,
  Redeemer,
  toBase64Url,
  TokenError,
  TokenWallet,
} from "../src/tokens/mod.ts";
import { startRedis } from "./helpers/redis.ts";
import { hasher, issuer, ISSUER_NAME, SCHEDULE, T0, tokens } from "./helpers/tokens.ts";

const keys = await IssuerKeys.generate(SCHEDULE, T0);

function redeemerOn(spent: RedisStore | MemoryStore) {
  return new Redeemer({ keys, spent, issuerName: ISSUER_NAME, nowMs: () => T0 });
}

Deno.test("Redeemer.redeem() on two gateways sharing Redis lets exactly one of 50 parallel spends through", async () => {
  await using redis = await startRedis(["--maxmemory-policy", "noeviction"]);
  const [a, b] = await Promise.all([connectRedisStore(redis.url), connectRedisStore(redis.url)]);
  try {
    const [token] = await tokens(keys, await issuer(keys, new MemoryStore(() => T0)), T0, 1);
    const gateways = [redeemerOn(a), redeemerOn(b)];
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => gateways[i % 2].redeem(token)),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) {
      if (r.status === "rejected") {
        assert.ok(r.reason instanceof TokenError && r.reason.code === "token_spent");
      }
    }
    // A second token is independent of the first.
    const [other] = await tokens(keys, await issuer(keys, new MemoryStore(() => T0)), T0, 1, "bob");
    await gateways[1].redeem(other);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("Redeemer.redeem() fails closed when Redis goes away", async () => {
  const redis = await startRedis(["--maxmemory-policy", "noeviction"]);
  const store = await connectRedisStore(redis.url, { timeoutMs: 300 });
  try {
    const [token] = await tokens(keys, await issuer(keys, new MemoryStore(() => T0)), T0, 1);
    await redis.stop();
    await assert.rejects(
      redeemerOn(store).redeem(token),
      (e) => e instanceof TokenError && e.code === "overloaded" && e.status === 503,
    );
  } finally {
    await store.close();
    await redis.stop();
  }
});

Deno.test("Issuer.issue() on two gateways sharing Redis holds one device quota", async () => {
  await using redis = await startRedis(["--maxmemory-policy", "noeviction"]);
  const [a, b] = await Promise.all([connectRedisStore(redis.url), connectRedisStore(redis.url)]);
  try {
    const limits = { tokensPerWindow: 6, windowSeconds: 3600 };
    const [one, two] = [await issuer(keys, a, { limits }), await issuer(keys, b, { limits })];
    const got = (await Promise.allSettled([one, two, one, two].map((i) => tokens(keys, i, T0, 2))))
      .map((r) => r.status === "fulfilled" ? r.value.length : 0);
    assert.equal(got.reduce((x, y) => x + y, 0), 6);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

// ---- the endpoint -----------------------------------------------------------------------------------------------

async function endpoint(limits = {}) {
  const store = new MemoryStore(() => T0);
  const attester = await DeviceKeyAttester.create(new Uint8Array(32).fill(1), await hasher(), store);
  const issue = await issuer(keys, store, { attester, limits });
  const app = new Hono();
  app.post(
    "/api/tokens",
    issuanceHandler({ issuer: issue, network: () => "net-hash-1", readBody: readBodyLimited }),
  );
  return app;
}

/** The app's side: attest with an Ed25519 device key, answering the challenge the endpoint hands out. */
async function deviceClient(app: Hono) {
  const pair = await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"]) as CryptoKeyPair;
  const publicKey = toBase64Url(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)));
  const post = (body: unknown) =>
    app.request("/api/tokens", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  return async (requests: Uint8Array[]): Promise<Uint8Array[]> => {
    const encoded = requests.map(toBase64Url);
    const asked = await post({ requests: encoded, evidence: null });
    assert.equal(asked.status, 401);
    const { error, challenge } = await asked.json();
    assert.equal(error.code, "attestation_required");
    const signature = new Uint8Array(
      await crypto.subtle.sign(
        "Ed25519",
        pair.privateKey,
        new TextEncoder().encode(ISSUANCE_PROOF_LABEL + challenge.token),
      ),
    );
    const answered = await post({
      requests: encoded,
      evidence: {
        kind: "device_key",
        publicKey,
        challenge: challenge.token,
        signature: toBase64Url(signature),
      },
    });
    if (answered.status !== 200) {
      const retryAfterSeconds = Number(answered.headers.get("retry-after") ?? 0);
      throw new TokenError((await answered.json()).error.code, { retryAfterSeconds });
    }
    return ((await answered.json()).responses as string[]).map((r) => fromBase64Url(r)!);
  };
}

Deno.test("issuanceHandler() issues an attested batch that the wallet finalizes and the redeemer accepts", async () => {
  const app = await endpoint();
  const wallet = new TokenWallet({
    store: new MemoryTokenStore(),
    issuerName: ISSUER_NAME,
    keys: () => keys.publicKeys(T0),
    issue: await deviceClient(app),
    batchSize: 8,
    lowWater: 2,
    schedule: () => {},
    nowMs: () => T0,
  });
  assert.equal(await wallet.refill(), 8);
  const redeemer = redeemerOn(new MemoryStore(() => T0));
  for (let i = 0; i < 8; i++) await redeemer.redeem(await wallet.take());
});

Deno.test("issuanceHandler() answers a short quota with Retry-After and rate_limited", async () => {
  const app = await endpoint({ tokensPerWindow: 4, windowSeconds: 3600 });
  const issue = await deviceClient(app);
  const requests = (await tokensRequests(6)).map((p) => p.request);
  assert.equal((await issue(requests)).length, 4);
  await assert.rejects(issue(requests), (e) => {
    assert.ok(e instanceof TokenError && e.code === "rate_limited");
    assert.equal(e.retryAfterSeconds, 900, "one token per 3600 s / 4");
    return true;
  });
});

Deno.test("issuanceHandler() refuses a malformed envelope, a wrong media type and an oversized body", async () => {
  const app = await endpoint();
  const cases: [string, BodyInit][] = [
    ["application/json", "{"],
    ["application/json", JSON.stringify({ requests: [], evidence: null })],
    ["application/json", JSON.stringify({ requests: ["!!"], evidence: null })],
    ["application/json", JSON.stringify({ requests: ["AAAA"], evidence: null, extra: 1 })],
    ["text/plain", JSON.stringify({ requests: ["AAAA"], evidence: null })],
    ["application/json", "x".repeat(70_000)],
  ];
  for (const [type, body] of cases) {
    const response = await app.request("/api/tokens", {
      method: "POST",
      headers: { "content-type": type },
      body,
    });
    assert.equal(response.status, 400, String(body).slice(0, 40));
    assert.equal((await response.json()).error.code, "invalid_token_request");
  }
});

async function tokensRequests(count: number) {
  const spki = fromBase64Url(keys.publicKeys(T0)[0].spki)!;
  return await Promise.all(
    Array.from({ length: count }, () => blindTokenRequest(gatewayChallenge(ISSUER_NAME), spki)),
  );
}
