/**
 * Issuance: batch bounds, tokens per device per window, new devices per network, proof of work under load,
 * store outage, and the two attesters. Memory stores, injected clocks, no permissions.
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/limits/mod.ts";
import {
  DeviceKeyAttester,
  ISSUANCE_PROOF_LABEL,
  IssuerKeys,
  ProofOfWorkAttester,
  toBase64Url,
  TokenError,
} from "../../src/tokens/mod.ts";
import { blinded, DownStore, hasher, issuer, pow, SCHEDULE, solve, T0 } from "../helpers/tokens.ts";

const none = { permissions: "none" as const };
const keys = await IssuerKeys.generate(SCHEDULE, T0);
const requests = (await blinded(keys, T0, 40)).map((p) => p.request);

function refused(code: string, status?: number) {
  return (error: unknown) => {
    assert.ok(error instanceof TokenError, `expected a TokenError, got ${error}`);
    assert.equal(error.code, code);
    if (status) assert.equal(error.status, status);
    return true;
  };
}

const ctx = (device: string, network = "net-1") => ({ network, evidence: { device } });

Deno.test({
  name: "Issuer.issue() signs a batch in request order",
  ...none,
  fn: async () => {
    const pending = await blinded(keys, T0, 3);
    const issue = await issuer(keys, new MemoryStore(() => T0));
    const responses = await issue.issue(pending.map((p) => p.request), ctx("a"));
    assert.equal(responses.length, 3);
    // finalize() verifies each signature against its own request's token_input: order is preserved.
    await Promise.all(responses.map((r, i) => pending[i].finalize(r)));
  },
});

Deno.test({
  name:
    "Issuer.issue() refuses an empty batch, a batch over maxBatch, a short request, and one for a retired key",
  ...none,
  fn: async () => {
    const issue = await issuer(keys, new MemoryStore(() => T0), { limits: { maxBatch: 4 } });
    await assert.rejects(issue.issue([], ctx("a")), refused("invalid_token_request", 400));
    await assert.rejects(issue.issue(requests.slice(0, 5), ctx("a")), refused("invalid_token_request"));
    const other = new Uint8Array(requests[0]);
    other[2] ^= 1;
    await assert.rejects(issue.issue([other], ctx("a")), refused("token_key_retired", 401));
    await assert.rejects(issue.issue([requests[0].subarray(1)], ctx("a")), refused("invalid_token_request"));
  },
});

Deno.test({
  name: "Issuer.issue() cuts a batch to the device's remaining tokens, then refuses until they refill",
  ...none,
  fn: async () => {
    let now = T0;
    const issue = await issuer(keys, new MemoryStore(() => now), {
      limits: { tokensPerWindow: 10, windowSeconds: 600 },
      nowMs: () => now,
    });
    assert.equal((await issue.issue(requests.slice(0, 8), ctx("a"))).length, 8);
    assert.equal((await issue.issue(requests.slice(0, 8), ctx("a"))).length, 2);
    await assert.rejects(issue.issue(requests.slice(0, 1), ctx("a")), (e) => {
      refused("rate_limited", 429)(e);
      assert.equal((e as TokenError).retryAfterSeconds, 60);
      return true;
    });
    assert.equal(
      (await issue.issue(requests.slice(0, 8), ctx("b"))).length,
      8,
      "another device has its own quota",
    );
    now += 60_000;
    assert.equal((await issue.issue(requests.slice(0, 8), ctx("a"))).length, 1);
  },
});

Deno.test({
  name: "Issuer.issue() refuses new devices beyond the per-network limit but not known ones",
  ...none,
  fn: async () => {
    const issue = await issuer(keys, new MemoryStore(() => T0), {
      limits: { newDevicesPerNetworkPerHour: 2 },
    });
    await issue.issue(requests.slice(0, 1), ctx("a"));
    await issue.issue(requests.slice(0, 1), ctx("b"));
    await assert.rejects(issue.issue(requests.slice(0, 1), ctx("c")), refused("rate_limited", 429));
    await issue.issue(requests.slice(0, 1), ctx("a"));
    await issue.issue(requests.slice(0, 1), ctx("c", "net-2"));
  },
});

Deno.test({
  name: "Issuer.issue() asks for proof of work under load and accepts a solution once",
  ...none,
  fn: async () => {
    let load = 0.5;
    const issue = await issuer(keys, new MemoryStore(() => T0), {
      limits: { powLoadThreshold: 0.8 },
      load: () => load,
    });
    await issue.issue(requests.slice(0, 1), ctx("a"));
    load = 0.9;
    let challenge: { token: string; difficulty?: number } | undefined;
    await assert.rejects(issue.issue(requests.slice(0, 1), ctx("a")), (e) => {
      refused("challenge_required", 428)(e);
      challenge = (e as TokenError).challenge;
      return true;
    });
    const solved = {
      challenge: challenge!.token,
      solution: await solve(challenge!.token, challenge!.difficulty!),
    };
    assert.equal((await issue.issue(requests.slice(0, 1), { ...ctx("a"), pow: solved })).length, 1);
    await assert.rejects(
      issue.issue(requests.slice(0, 1), { ...ctx("a"), pow: solved }),
      refused("challenge_required"),
    );
    await assert.rejects(
      issue.issue(requests.slice(0, 1), { ...ctx("b"), pow: solved }),
      refused("challenge_required"),
    );
  },
});

Deno.test({
  name: "Issuer.issue() fails closed when the limit store is down",
  ...none,
  fn: async () => {
    const issue = await issuer(keys, new DownStore());
    await assert.rejects(issue.issue(requests.slice(0, 1), ctx("a")), refused("overloaded", 503));
  },
});

Deno.test({
  name: "Issuer.issue() passes the attester's refusal and challenge through",
  ...none,
  fn: async () => {
    const issue = await issuer(keys, new MemoryStore(() => T0));
    await assert.rejects(issue.issue(requests.slice(0, 1), { network: "n", evidence: {} }), (e) => {
      refused("attestation_required", 401)(e);
      assert.deepEqual((e as TokenError).challenge, { token: "name yourself" });
      return true;
    });
  },
});

// ---- attesters ---------------------------------------------------------------------------------------------

async function deviceKey() {
  const pair = await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"]) as CryptoKeyPair;
  const publicKey = toBase64Url(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)));
  const sign = async (challenge: string) =>
    toBase64Url(
      new Uint8Array(
        await crypto.subtle.sign(
          "Ed25519",
          pair.privateKey,
          new TextEncoder().encode(ISSUANCE_PROOF_LABEL + challenge),
        ),
      ),
    );
  return { publicKey, sign };
}

async function deviceAttester(store = new MemoryStore(() => T0)) {
  return await DeviceKeyAttester.create(new Uint8Array(32).fill(9), await hasher(), store);
}

Deno.test({
  name: "DeviceKeyAttester.verify() asks for a challenge, then names the device by a keyed hash",
  ...none,
  fn: async () => {
    const attester = await deviceAttester();
    const at = { network: "net-1", nowMs: T0 };
    const first = await attester.verify(undefined, at);
    assert.ok("refusal" in first && first.refusal === "attestation_required");
    const key = await deviceKey();
    const answer = async () => {
      const challenge = await attester.challenge(at);
      return {
        kind: "device_key",
        publicKey: key.publicKey,
        challenge,
        signature: await key.sign(challenge),
      };
    };
    const a = await attester.verify(await answer(), at);
    const b = await attester.verify(await answer(), at);
    assert.ok("deviceId" in a && "deviceId" in b);
    assert.equal(a.deviceId, b.deviceId);
    assert.ok(!a.deviceId.includes(key.publicKey));
  },
});

Deno.test({
  name: "DeviceKeyAttester.verify() refuses a replayed, foreign-network, expired or forged answer",
  ...none,
  fn: async () => {
    const attester = await deviceAttester();
    const at = { network: "net-1", nowMs: T0 };
    const key = await deviceKey();
    const challenge = await attester.challenge(at);
    const evidence = {
      kind: "device_key",
      publicKey: key.publicKey,
      challenge,
      signature: await key.sign(challenge),
    };
    const invalid = (v: unknown) =>
      assert.ok(typeof v === "object" && v && "refusal" in v && v.refusal === "attestation_invalid");
    invalid(await attester.verify(evidence, { network: "net-2", nowMs: T0 }));
    invalid(await attester.verify(evidence, { network: "net-1", nowMs: T0 + 121_000 }));
    const other = await deviceKey();
    invalid(await attester.verify({ ...evidence, publicKey: other.publicKey }, at));
    assert.ok("deviceId" in await attester.verify(evidence, at));
    invalid(await attester.verify(evidence, at));
  },
});

Deno.test({
  name: "ProofOfWorkAttester.verify() accepts a solved challenge once as a fresh pseudo-device",
  ...none,
  fn: async () => {
    const attester = new ProofOfWorkAttester(await pow(), await hasher(), new MemoryStore(() => T0), 4);
    const at = { network: "net-1", nowMs: T0 };
    const asked = await attester.verify(undefined, at);
    assert.ok("refusal" in asked);
    const token = asked.challenge.token;
    const evidence = { kind: "pow", challenge: token, solution: await solve(token, 4) };
    const first = await attester.verify(evidence, at);
    assert.ok("deviceId" in first);
    assert.ok("refusal" in await attester.verify(evidence, at));
    assert.ok("refusal" in await attester.verify(evidence, { network: "net-2", nowMs: T0 }));
  },
});
