/** RedisStore's connect-time eviction check (security review item 2), against a real redis-server. */
import assert from "node:assert/strict";
import { connectRedisStore } from "../src/limits/mod.ts";
import { startRedis } from "./helpers/redis.ts";

Deno.test("connectRedisStore() refuses a Redis whose maxmemory-policy can evict replay keys", async () => {
  for (const policy of ["allkeys-lru", "volatile-ttl"]) {
    await using redis = await startRedis(["--maxmemory", "64mb", "--maxmemory-policy", policy]);
    await assert.rejects(
      connectRedisStore(redis.url),
      (e) => e instanceof Error && e.message.includes(`maxmemory-policy '${policy}' can evict replay keys`),
      policy,
    );
  }
});

Deno.test("connectRedisStore() accepts noeviction and reports the check as safe", async () => {
  await using redis = await startRedis(["--maxmemory-policy", "noeviction"]);
  const store = await connectRedisStore(redis.url);
  try {
    assert.equal(store.eviction, "safe");
    assert.equal(await store.addIfAbsent("k", 5), true);
    assert.equal(await store.addIfAbsent("k", 5), false);
  } finally {
    await store.close();
  }
});
