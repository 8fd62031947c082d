/**
 * Key files: `keys init` (identity, mode 0600), `keys rotate` (shared HPKE keys), two gateways sharing
 * both, and secret files readable by others refused.
 */
import assert from "node:assert/strict";
import { GatewayClient } from "../src/client/mod.ts";
import { main } from "../src/main.ts";
import { privateTempDir, startGateway } from "./helpers/gateway.ts";
import { startRedis } from "./helpers/redis.ts";

async function cli(...args: string[]): Promise<number> {
  return await main(args);
}

Deno.test("keys init writes a 0600 identity file and refuses to overwrite it", async () => {
  const dir = await privateTempDir("pg-keys-");
  assert.equal(await cli("keys", "init", "--out", `${dir}/id.json`), 0);
  assert.equal((await Deno.stat(`${dir}/id.json`)).mode! & 0o777, 0o600);
  assert.equal(await cli("keys", "init", "--out", `${dir}/id.json`), 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Two gateways sharing identity and HPKE keys files accept each other's clients", async () => {
  await using redis = await startRedis();
  const dir = await privateTempDir("pg-shared-");
  assert.equal(await cli("keys", "init", "--out", `${dir}/id.json`), 0);
  assert.equal(await cli("keys", "rotate", "--file", `${dir}/hpke.json`, "--interval", "3600"), 0);
  const env = {
    PG_IDENTITY_KEY_FILE: `${dir}/id.json`,
    PG_HPKE_KEYS_FILE: `${dir}/hpke.json`,
    PG_REDIS_URL: redis.url,
  };
  await using a = await startGateway(env);
  await using b = await startGateway(env);
  assert.equal(a.fingerprint, b.fingerprint);
  // The client learns keys from A and talks to B.
  const fromA = new GatewayClient({ baseUrl: a.url, pin: a.fingerprint });
  const keys = await fromA.keys();
  const toB = new GatewayClient({
    baseUrl: b.url,
    pin: b.fingerprint,
    fetch: (input, init) =>
      String(input).endsWith("/api/pubkey") ? fetch(`${a.url}/api/pubkey`, init) : fetch(input, init),
  });
  assert.equal((await toB.keys())[0].keyId, keys[0].keyId);
  const events = [];
  for await (const event of toB.chat({ messages: [{ role: "user", content: "shared" }] })) events.push(event);
  assert.equal(events.at(-1)?.type, "done");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("The gateway refuses an identity file that others can read", async () => {
  const dir = await privateTempDir("pg-mode-");
  assert.equal(await cli("keys", "init", "--out", `${dir}/id.json`), 0);
  await Deno.chmod(`${dir}/id.json`, 0o644);
  await assert.rejects(startGateway({ PG_IDENTITY_KEY_FILE: `${dir}/id.json` }), /readable by others/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Two gateways sharing a keys file but no Redis refuse to start (replay across instances)", async () => {
  const dir = await privateTempDir("pg-noredis-");
  assert.equal(await cli("keys", "init", "--out", `${dir}/id.json`), 0);
  assert.equal(await cli("keys", "rotate", "--file", `${dir}/hpke.json`, "--interval", "3600"), 0);
  await assert.rejects(
    startGateway({ PG_IDENTITY_KEY_FILE: `${dir}/id.json`, PG_HPKE_KEYS_FILE: `${dir}/hpke.json` }),
    /PG_HPKE_KEYS_FILE: a shared keys file needs a shared replay store/,
  );
  await Deno.remove(dir, { recursive: true });
});
