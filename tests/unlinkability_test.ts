/**
 * The unlinkability test of issue 14: N users × M chat requests through the OHTTP relay, each request's
 * footprint on the gateway (every Redis key and value it wrote, every log line, every metrics line it
 * changed) recorded. No value may appear in two requests of one user unless it appears in every request
 * (the relay's network, constant labels): nothing the gateway keeps or prints links two requests of the
 * same user — no device key, no token-derived id, no address behind the relay.
 *
 * The same run in device mode is the positive control: there the device's keyed hash links a user's
 * requests, and the detector must find it (a detector that finds nothing there proves nothing).
 */
import assert from "node:assert/strict";
import { GatewayClient } from "../src/client/mod.ts";
import { startGateway, type TestGateway } from "./helpers/gateway.ts";
import { startRedis, type TestRedis } from "./helpers/redis.ts";
import { startRelay } from "./helpers/relay.ts";

const USERS = 4;
const REQUESTS = 3;

/** Every key with its value(s), one line each (strings, hashes, sets, sorted sets, lists). */
const _DUMP = `local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('TYPE', k).ok
  local v
  if t == 'string' then v = redis.call('GET', k)
  elseif t == 'hash' then v = table.concat(redis.call('HGETALL', k), ' ')
  elseif t == 'set' then v = table.concat(redis.call('SMEMBERS', k), ' ')
  elseif t == 'zset' then v = table.concat(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES'), ' ')
  elseif t == 'list' then v = table.concat(redis.call('LRANGE', k, 0, -1), ' ')
  else v = t end
  table.insert(out, k .. ' = ' .. v)
end
return out`;

async function redisDump(redis: TestRedis): Promise<Set<string>> {
  const { stdout } = await new Deno.Command("redis-cli", {
    args: ["-p", String(redis.port), "--raw", "EVAL", _DUMP, "0"],
    stdout: "piped",
  }).output();
  return new Set(new TextDecoder().decode(stdout).split("\n").filter(Boolean));
}

async function state(gateway: TestGateway, redis: TestRedis): Promise<Set<string>> {
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  return new Set([
    ...[...await redisDump(redis)].map((l) => `redis ${l}`),
    ...gateway.logs.map((l, i) => `log#${i} ${l}`),
    ...metrics.split("\n").filter((l) => l && !l.startsWith("#") && !/process_|nodejs_/.test(l))
      .map((l) => `metric ${l}`),
  ]);
}

/** Identifier-like values (8+ characters) in what one request added or changed. */
function values(lines: string[]): Set<string> {
  const out = new Set<string>();
  for (const line of lines) {
    const body = line.replace(/^(redis|log#\d+|metric) /, "");
    for (const v of body.match(/[A-Za-z0-9_:.+\/=-]{8,}/g) ?? []) out.add(v);
  }
  return out;
}

/** Runs N×M chats through the relay; returns the values that link two requests of one user. */
async function linkingValues(auth: "token" | "device"): Promise<string[]> {
  await using redis = await startRedis();
  await using gateway = await startGateway({ PG_AUTH: auth, PG_REDIS_URL: redis.url });
  await using relay = startRelay(`${gateway.url}/api/chat`);
  const users = await Promise.all(Array.from({ length: USERS }, async () => {
    const client = new GatewayClient({
      baseUrl: gateway.url,
      pin: gateway.fingerprint,
      relayUrl: relay.url,
      auth,
      deviceKey: await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"]) as CryptoKeyPair,
      tokenBatchSize: REQUESTS + 2,
      tokenLowWater: 1,
    });
    // Issuance (identified by design) happens before, at another time than, the requests.
    if (auth === "token") await client.prefetchTokens();
    return client;
  }));
  const footprints: { user: number; values: Set<string> }[] = [];
  for (let round = 0; round < REQUESTS; round++) {
    for (let user = 0; user < USERS; user++) {
      const before = await state(gateway, redis);
      const events = await users[user].complete({ messages: [{ role: "user", content: "same text" }] });
      assert.equal(events.at(-1)?.type, "done");
      const after = await state(gateway, redis);
      footprints.push({ user, values: values([...after].filter((l) => !before.has(l))) });
    }
  }
  const linking: string[] = [];
  const all = new Set(footprints.flatMap((f) => [...f.values]));
  for (const value of all) {
    const holders = footprints.filter((f) => f.values.has(value));
    if (holders.length === footprints.length) continue; // common to every request: links nobody
    const perUser = new Map<number, number>();
    for (const h of holders) perUser.set(h.user, (perUser.get(h.user) ?? 0) + 1);
    if ([...perUser.values()].some((n) => n >= 2)) linking.push(value);
  }
  return linking;
}

Deno.test("Unlinkability through the relay: token mode leaves no value shared by two requests of one user", async () => {
  const linking = await linkingValues("token");
  assert.deepEqual(linking, []);
});

Deno.test("Unlinkability detector, positive control: device mode's device hash links a user's requests", async () => {
  const linking = await linkingValues("device");
  assert.ok(linking.some((v) => v.startsWith("pg:dev:")), "the detector must find the device key's hash");
});
