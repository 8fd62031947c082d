/** Proof-of-work secrets across a restart (security review item 2); no permissions. */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { generateIdentity } from "../../src/crypto/mod.ts";
import { deriveLimitSecrets } from "../../src/gateway/mod.ts";
import { KeyHasher } from "../../src/limits/mod.ts";
import { solveChallenge } from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };
const NOW = 1_000_000;

async function _solvedOn(shared: boolean) {
  const { identity } = await generateIdentity();
  const before = await deriveLimitSecrets(identity, { shared });
  const challenge = await before.pow.issue("device", "network", 4, NOW, 60);
  const solution = await solveChallenge(challenge);
  const fresh = () => Promise.resolve(true);
  assert.equal(await before.pow.verify(challenge.token, solution, "device", "network", NOW, fresh), "ok");
  // A restart: the same identity, an empty spent set (`fresh` always answers "not seen").
  const after = await deriveLimitSecrets(identity, { shared });
  return await after.pow.verify(challenge.token, solution, "device", "network", NOW + 1, fresh);
}

Deno.test({
  ...none,
  name: "deriveLimitSecrets() without a shared store refuses after a restart a challenge solved before it",
  async fn() {
    assert.equal(await _solvedOn(false), "invalid");
  },
});

Deno.test({
  ...none,
  name: "deriveLimitSecrets() with a shared store lets every instance verify the same challenge",
  async fn() {
    assert.equal(await _solvedOn(true), "ok");
  },
});

Deno.test({
  ...none,
  name:
    "KeyHasher.fromSecret() keeps its own copy: wiping the caller's secret (even a Buffer) changes no hash",
  fn() {
    for (const secret of [new Uint8Array(32).fill(7), Buffer.alloc(32, 7)]) {
      const hasher = KeyHasher.fromSecret(secret);
      const before = hasher.hash("net", "192.0.2.1");
      secret.fill(0);
      assert.equal(hasher.hash("net", "192.0.2.1"), before);
      assert.notEqual(KeyHasher.fromSecret(secret).hash("net", "192.0.2.1"), before);
    }
  },
});
