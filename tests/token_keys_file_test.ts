/**
 * Token mode's issuer keys file (src/gateway/tokens.ts): created 0600 by the first instance, loaded by the
 * next, rotated on the timer's `check()` with overlap, and a rotation by one instance reaches the other.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config/mod.ts";
import { verifyPubkeyDocument } from "../src/client/mod.ts";
import { generateIdentity, KeyRing } from "../src/crypto/mod.ts";
import { KeyPublisher } from "../src/http/mod.ts";
import { buildTokens, deriveLimitSecrets } from "../src/gateway/mod.ts";
import { MemoryStore } from "../src/limits/mod.ts";
import { fileStamp } from "../src/config/mod.ts";
import { privateTempDir } from "./helpers/gateway.ts";

const DAY = 86_400_000;

async function instance(
  file: string,
  clock: { now: number },
  identity: Awaited<ReturnType<typeof generateIdentity>>["identity"],
) {
  const loaded = loadConfig({
    PG_AUTH: "token",
    PG_TOKEN_KEYS_FILE: file,
    PG_REDIS_URL: "redis://127.0.0.1:1",
  }, () => "");
  assert.ok(loaded.ok);
  const store = new MemoryStore();
  const { hasher, pow } = await deriveLimitSecrets(identity, { shared: true });
  const events: string[] = [];
  const tokens = await buildTokens(loaded.config, {
    identity,
    store,
    hasher,
    pow,
    load: () => 0,
    limits: { newDevicesPerNetworkPerHour: 10, powLoadThreshold: 0.9, powBaseBits: 4 },
    logger: { log: (_level, event) => events.push(event) },
    nowMs: () => clock.now,
  });
  return { tokens, events };
}

Deno.test("buildTokens() shares one issuer key file between instances and rotates it with overlap", async () => {
  const dir = await privateTempDir("pg-tokfile-");
  const file = `${dir}/token-keys.json`;
  const { identity } = await generateIdentity();
  const clock = { now: Date.now() };
  const a = await instance(file, clock, identity);
  assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  const b = await instance(file, clock, identity);
  const first = a.tokens.keys.publicKeys(clock.now);
  assert.equal(first.length, 1);
  assert.deepEqual(b.tokens.keys.publicKeys(clock.now), first, "the second instance loads the same key");
  assert.equal(a.tokens.issuerName, b.tokens.issuerName);

  // Six days and a bit later (lifetime 7 days, overlap 1 day): A rotates, B picks the file up.
  clock.now += 6 * DAY + 60_000;
  const before = await fileStamp([file]);
  assert.equal(await a.tokens.check(), true);
  assert.notEqual(await fileStamp([file]), before);
  const rotated = a.tokens.keys.publicKeys(clock.now);
  assert.equal(rotated.length, 2, "the old key stays redeemable during the overlap");
  assert.notEqual(rotated[0].tokenKeyId, first[0].tokenKeyId, "the new key issues");
  assert.equal(rotated[1].tokenKeyId, first[0].tokenKeyId);
  assert.equal(await b.tokens.check(), true);
  assert.deepEqual(b.tokens.keys.publicKeys(clock.now), rotated);
  assert.ok(b.events.includes("token_keys.rotated"));

  // Past the old key's notAfter it is gone everywhere.
  clock.now += DAY;
  await a.tokens.check();
  await b.tokens.check();
  assert.deepEqual(a.tokens.keys.publicKeys(clock.now).map((k) => k.tokenKeyId), [rotated[0].tokenKeyId]);
  assert.deepEqual(b.tokens.keys.publicKeys(clock.now), a.tokens.keys.publicKeys(clock.now));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("buildTokens() refuses an issuer keys file others can read", async () => {
  const dir = await privateTempDir("pg-tokfile-");
  const file = `${dir}/token-keys.json`;
  await Deno.writeTextFile(file, "{}", { mode: 0o644 });
  await Deno.chmod(file, 0o644);
  const { identity } = await generateIdentity();
  await assert.rejects(instance(file, { now: Date.now() }, identity), /readable by others/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("KeyPublisher re-signs the key set when the token keys rotate; the SDK verifies both keys", async () => {
  const dir = await privateTempDir("pg-tokpub-");
  const { identity } = await generateIdentity();
  const clock = { now: Date.now() };
  const a = await instance(`${dir}/token-keys.json`, clock, identity);
  const ring = await KeyRing.generate(Math.floor(clock.now / 1000) - 60, 86_400 * 30);
  const publisher = new KeyPublisher(ring, identity, () => clock.now / 1000, {
    issuerName: a.tokens.issuerName,
    publicKeys: (nowMs) => a.tokens.keys.publicKeys(nowMs),
  });
  const verify = async () =>
    (await verifyPubkeyDocument((await publisher.current()).document, identity.fingerprint, clock.now / 1000))
      .tokenKeys!.keys.map((k) => k.tokenKeyId);
  const before = await verify();
  assert.equal(before.length, 1);
  clock.now += 6 * DAY + 60_000;
  const stale = await verify();
  assert.deepEqual(stale, before, "nothing rotated yet");
  assert.equal(await a.tokens.check(), true);
  // Within the same 10 s signing grid step: the publisher notices the new public keys and re-signs.
  const after = await verify();
  assert.equal(after.length, 2);
  assert.equal(after[1], before[0], "the old key stays listed (redeemable) during the overlap");
  assert.notEqual(after[0], before[0], "the new key issues");
  await Deno.remove(dir, { recursive: true });
});
