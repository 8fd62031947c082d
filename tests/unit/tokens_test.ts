/**
 * src/tokens without I/O: key rotation, redemption (double spend, foreign keys, fail closed), issuance limits,
 * attesters, the wallet, and the unlinkability property. Memory stores, injected clocks, no permissions.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as nodeCrypto from "node:crypto";
import { MemoryStore } from "../../src/limits/mod.ts";
import {
  IssuerKey,
  IssuerKeys,
  Redeemer,
  type RedemptionOutcome,
  toBase64Url,
  TokenError,
} from "../../src/tokens/mod.ts";
import {
  blinded,
  DownStore,
  HOUR,
  issuer,
  ISSUER_NAME,
  RecordingStore,
  SCHEDULE,
  T0,
  tokens,
} from "../helpers/tokens.ts";

const none = { permissions: "none" as const };
// Key generation costs ~100 ms: two key sets for the whole file.
const keys = await IssuerKeys.generate(SCHEDULE, T0);
const otherKeys = await IssuerKeys.generate(SCHEDULE, T0);

function redeemer(spent = new MemoryStore(), nowMs = () => T0, observe?: (o: RedemptionOutcome) => void) {
  return new Redeemer({ keys, spent, issuerName: ISSUER_NAME, nowMs, observe });
}

function refused(code: string, status?: number) {
  return (error: unknown) => {
    assert.ok(error instanceof TokenError, `expected a TokenError, got ${error}`);
    assert.equal(error.code, code);
    if (status) assert.equal(error.status, status);
    return true;
  };
}

// ---- keys --------------------------------------------------------------------------------------------

Deno.test({
  name: "IssuerKeys.publicKeys() gives token_key_id = SHA-256(spki), issuing key first",
  ...none,
  fn: async () => {
    const [key] = keys.publicKeys(T0);
    const spki = Uint8Array.from(
      atob(key.spki.replace(/-/g, "+").replace(/_/g, "/")),
      (c) => c.charCodeAt(0),
    );
    assert.equal(key.tokenKeyId, toBase64Url(new Uint8Array(await crypto.subtle.digest("SHA-256", spki))));
    assert.equal(key.notAfter, T0 + SCHEDULE.lifetimeMs);
    assert.equal(keys.publicKeys(T0).length, 1);
  },
});

Deno.test({
  name: "IssuerKeys.rotate() issues with a new key and keeps the old one redeemable for the overlap",
  ...none,
  fn: async () => {
    const set = await IssuerKeys.load(keys.records(), SCHEDULE);
    const old = set.current(T0)!;
    const switchAt = T0 + SCHEDULE.lifetimeMs - SCHEDULE.overlapMs;
    assert.equal(await set.rotate(switchAt - 1), false);
    assert.equal(await set.rotate(switchAt), true);
    const fresh = set.current(switchAt)!;
    assert.notDeepEqual(fresh.tokenKeyId, old.tokenKeyId);
    assert.deepEqual(set.publicKeys(switchAt).map((k) => k.tokenKeyId), [
      toBase64Url(fresh.tokenKeyId),
      toBase64Url(old.tokenKeyId),
    ]);
    assert.equal(set.forRedemption(old.tokenKeyId, old.notAfter - 1), old);
    await set.rotate(old.notAfter);
    assert.equal(set.forRedemption(old.tokenKeyId, old.notAfter), undefined);
    assert.equal(set.publicKeys(old.notAfter).length, 1);
  },
});

Deno.test({
  name: "IssuerKeys.load() restores the same keys from their records",
  ...none,
  fn: async () => {
    const loaded = await IssuerKeys.load(keys.records(), SCHEDULE);
    assert.deepEqual(loaded.publicKeys(T0), keys.publicKeys(T0));
  },
});

// ---- redemption -----------------------------------------------------------------------------------------

Deno.test({
  name: "Redeemer.redeem() accepts an issued token once and refuses the double spend",
  ...none,
  fn: async () => {
    const [token] = await tokens(keys, await issuer(keys, new MemoryStore()), T0, 1);
    const outcomes: RedemptionOutcome[] = [];
    const r = redeemer(new MemoryStore(), () => T0, (o) => outcomes.push(o));
    await r.redeem(token);
    await assert.rejects(r.redeem(token), refused("token_spent", 401));
    assert.deepEqual(outcomes, ["ok", "spent"]);
  },
});

Deno.test({
  name: "Redeemer.redeem() lets exactly one of 50 parallel spends of one token through",
  ...none,
  fn: async () => {
    const [token] = await tokens(keys, await issuer(keys, new MemoryStore()), T0, 1);
    const r = redeemer();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => r.redeem(token)));
    assert.equal(results.filter((x) => x.status === "fulfilled").length, 1);
    for (const x of results) if (x.status === "rejected") refused("token_spent")(x.reason);
  },
});

Deno.test({
  name: "Redeemer.redeem() refuses a token from another issuer's key",
  ...none,
  fn: async () => {
    const [foreign] = await tokens(otherKeys, await issuer(otherKeys, new MemoryStore()), T0, 1);
    await assert.rejects(redeemer().redeem(foreign), refused("token_key_retired", 401));
  },
});

Deno.test({
  name: "Redeemer.redeem() refuses another key's signature under our token_key_id (forgery)",
  ...none,
  fn: async () => {
    const [foreign] = await tokens(otherKeys, await issuer(otherKeys, new MemoryStore()), T0, 1);
    const forged = new Uint8Array(foreign);
    forged.set(keys.current(T0)!.tokenKeyId, 66);
    await assert.rejects(redeemer().redeem(forged), refused("token_invalid", 401));
  },
});

Deno.test({
  name: "Redeemer.redeem() refuses a flipped authenticator bit and a flipped nonce bit",
  ...none,
  fn: async () => {
    const [token] = await tokens(keys, await issuer(keys, new MemoryStore()), T0, 1);
    for (const index of [token.length - 1, 2]) {
      const bad = new Uint8Array(token);
      bad[index] ^= 1;
      await assert.rejects(redeemer().redeem(bad), refused("token_invalid"));
    }
  },
});

Deno.test({
  name: "IssuerKey.verify() refuses s + n, an authenticator not below the modulus (RFC 8017 RSAVP1 step 1)",
  ...none,
  fn: async () => {
    // s + n must still fit in 256 bytes: a modulus whose top byte is at most 0xbf leaves room for a third of
    // all signatures or more (PSS is salted, so signing again gives another s).
    const toBig = (bytes: Uint8Array) => BigInt(`0x${Buffer.from(bytes).toString("hex") || "0"}`);
    let pair: nodeCrypto.KeyPairKeyObjectResult | undefined;
    let n = 0n;
    for (let i = 0; i < 40 && !pair; i++) {
      const candidate = nodeCrypto.generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 65537 });
      n = toBig(Buffer.from(candidate.publicKey.export({ format: "jwk" }).n!, "base64url"));
      if (n >> 2040n <= 0xbfn) pair = candidate;
    }
    assert.ok(pair, "no modulus with a top byte ≤ 0xbf in 40 keys");
    const { privateKey, publicKey } = pair;
    const key = await IssuerKey.fromRecord({
      pkcs8: new Uint8Array(privateKey.export({ type: "pkcs8", format: "der" })),
      notBefore: T0,
      notAfter: T0 + HOUR,
    });
    const input = crypto.getRandomValues(new Uint8Array(98));
    const pss = { padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 };
    let forged: Uint8Array | undefined;
    for (let i = 0; i < 40 && !forged; i++) {
      const signature: Uint8Array = nodeCrypto.sign("sha384", input, { key: privateKey, ...pss });
      assert.equal(key.verify(input, signature), true);
      const sum = toBig(signature) + n;
      if (sum < 1n << 2048n) {
        forged = Uint8Array.from(Buffer.from(sum.toString(16).padStart(512, "0"), "hex"));
      }
    }
    assert.ok(forged, "no signature with s + n < 2^2048 in 40 tries");
    // The runtime alone reduces s + n modulo n and accepts it; the issuer key must not.
    assert.equal(nodeCrypto.verify("sha384", input, { key: publicKey, ...pss }, forged), true);
    assert.equal(key.verify(input, forged), false);
  },
});

Deno.test({
  name: "Redeemer.redeem() refuses a token for another issuer name, a truncated token and a wrong type",
  ...none,
  fn: async () => {
    const [token] = await tokens(keys, await issuer(keys, new MemoryStore()), T0, 1);
    const elsewhere = new Redeemer({
      keys,
      spent: new MemoryStore(),
      issuerName: "other.example",
      nowMs: () => T0,
    });
    await assert.rejects(elsewhere.redeem(token), refused("token_invalid"));
    await assert.rejects(redeemer().redeem(token.subarray(1)), refused("token_invalid"));
    const typed = new Uint8Array(token);
    typed[1] = 1;
    await assert.rejects(redeemer().redeem(typed), refused("token_invalid"));
  },
});

Deno.test({
  name: "Redeemer.redeem() accepts an old key's token during the overlap and refuses it after",
  ...none,
  fn: async () => {
    const set = await IssuerKeys.load(keys.records(), SCHEDULE);
    const [token] = await tokens(set, await issuer(set, new MemoryStore()), T0, 1);
    const switchAt = T0 + SCHEDULE.lifetimeMs - SCHEDULE.overlapMs;
    await set.rotate(switchAt);
    let now = switchAt + HOUR;
    const r = new Redeemer({
      keys: set,
      spent: new MemoryStore(),
      issuerName: ISSUER_NAME,
      nowMs: () => now,
    });
    const [fresh] = await tokens(set, await issuer(set, new MemoryStore(), { nowMs: () => now }), now, 1);
    await r.redeem(token);
    now = T0 + SCHEDULE.lifetimeMs;
    await r.redeem(fresh);
    const [late] = await tokens(keys, await issuer(keys, new MemoryStore()), T0, 1);
    await assert.rejects(r.redeem(late), refused("token_key_retired"));
  },
});

Deno.test({
  name: "Redeemer.redeem() fails closed when the seen-set store is down, and the token stays spendable",
  ...none,
  fn: async () => {
    const [token] = await tokens(keys, await issuer(keys, new MemoryStore()), T0, 1);
    await assert.rejects(redeemer(new DownStore()).redeem(token), refused("overloaded", 503));
    await redeemer().redeem(token);
  },
});

Deno.test({
  name: "Redeemer.redeem() keeps a spent nonce until the key expires",
  ...none,
  fn: async () => {
    const store = new RecordingStore();
    const [token] = await tokens(keys, await issuer(keys, new MemoryStore()), T0, 1);
    await redeemer(store).redeem(token);
    const [call] = store.calls;
    assert.equal(call.op, "addIfAbsent");
    assert.ok((call.args[1] as number) >= SCHEDULE.lifetimeMs / 1000);
  },
});

Deno.test({
  name:
    "IssuerKey.blindSign() gives the same signature across 40 calls (blinding pair squared and refreshed)",
  ...none,
  fn: async () => {
    const key = (await IssuerKeys.load(keys.records(), SCHEDULE)).current(T0)!;
    const [pending] = await blinded(keys, T0, 1);
    const message = pending.request.subarray(3);
    const first = key.blindSign(message)!;
    for (let i = 0; i < 40; i++) assert.deepEqual(key.blindSign(message), first);
    await pending.finalize(first);
    assert.equal(key.blindSign(new Uint8Array(256).fill(0xff)), undefined, "m ≥ n is out of range");
  },
});
