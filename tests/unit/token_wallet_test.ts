/**
 * The wallet (batch refills, random spending order, no fetch before a request when tokens exist, retry once)
 * and the unlinkability property of redemption. In-process issuer, memory stores, no permissions.
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/limits/mod.ts";
import {
  type Issuer,
  IssuerKeys,
  MemoryTokenStore,
  Redeemer,
  type RedemptionOutcome,
  toBase64Url,
  TOKEN_REJECTION_CODES,
  TokenError,
  TokenWallet,
  type WalletOptions,
} from "../../src/tokens/mod.ts";
import { issuer, ISSUER_NAME, RecordingStore, SCHEDULE, T0 } from "../helpers/tokens.ts";

const none = { permissions: "none" as const };
const keys = await IssuerKeys.generate(SCHEDULE, T0);

function wallet(issue: Issuer, options: Partial<WalletOptions> = {}, device = "alice") {
  const fetches: number[] = [];
  const scheduled: number[] = [];
  const w = new TokenWallet({
    store: new MemoryTokenStore(),
    issuerName: ISSUER_NAME,
    keys: () => keys.publicKeys(T0),
    issue: async (requests) => {
      fetches.push(requests.length);
      return await issue.issue(requests, { network: "net-1", evidence: { device } });
    },
    batchSize: 10,
    lowWater: 3,
    schedule: (_run, delay) => scheduled.push(delay),
    nowMs: () => T0,
    ...options,
  });
  return { w, fetches, scheduled };
}

Deno.test({
  name: "TokenWallet.refill() fetches one batch and count() reports it",
  ...none,
  fn: async () => {
    const { w, fetches } = wallet(await issuer(keys, new MemoryStore(() => T0)));
    assert.equal(await w.count(), 0);
    assert.equal(await w.refill(), 10);
    assert.deepEqual(fetches, [10]);
    assert.equal(await w.count(), 10);
  },
});

Deno.test({
  name:
    "TokenWallet.take() never fetches while it holds tokens and schedules a delayed refill below low water",
  ...none,
  fn: async () => {
    const { w, fetches, scheduled } = wallet(await issuer(keys, new MemoryStore(() => T0)), {
      refillDelayMs: [5_000, 60_000],
    });
    await w.refill();
    for (let i = 0; i < 7; i++) await w.take();
    assert.deepEqual(fetches, [10], "no fetch next to a request");
    assert.deepEqual(scheduled, []);
    await w.take();
    assert.equal(scheduled.length, 1);
    assert.ok(scheduled[0] >= 5_000 && scheduled[0] < 60_000);
    await w.take();
    assert.equal(scheduled.length, 1, "one refill scheduled at a time");
    await w.take();
    assert.equal(await w.count(), 0);
    await w.take();
    assert.deepEqual(fetches, [10, 10], "fetches only when empty");
  },
});

Deno.test({
  name: "TokenWallet.take() spends tokens in random order, each once, even when called in parallel",
  ...none,
  fn: async () => {
    const store = new MemoryTokenStore();
    const { w } = wallet(await issuer(keys, new MemoryStore(() => T0)), {
      store,
      batchSize: 20,
      lowWater: 0,
    });
    await w.refill();
    const issued = (await store.load()).map((t) => t.token);
    const spent = (await Promise.all(issued.map(() => w.take()))).map(toBase64Url);
    assert.deepEqual([...spent].sort(), [...issued].sort());
    assert.notDeepEqual(spent, issued, "issuance order would link a spend to its batch position (p = 1/20!)");
  },
});

Deno.test({
  name: "TokenWallet.spend() retries once with another token after a rejection",
  ...none,
  fn: async () => {
    const { w } = wallet(await issuer(keys, new MemoryStore(() => T0)));
    await w.refill();
    const redeemer = new Redeemer({
      keys,
      spent: new MemoryStore(() => T0),
      issuerName: ISSUER_NAME,
      nowMs: () => T0,
    });
    const used: string[] = [];
    const rejected = (e: unknown) => e instanceof TokenError && TOKEN_REJECTION_CODES.has(e.code);
    let first = true;
    const result = await w.spend(async (token) => {
      used.push(toBase64Url(token));
      if (first) {
        first = false;
        await redeemer.redeem(token); // spent elsewhere already
      }
      await redeemer.redeem(token);
      return "answered";
    }, rejected);
    assert.equal(result, "answered");
    assert.equal(used.length, 2);
    assert.notEqual(used[0], used[1]);
    await assert.rejects(w.spend(() => Promise.reject(new TokenError("token_spent")), rejected), {
      code: "token_spent",
    });
    assert.equal(await w.count(), 6, "two tokens per attempt at most");
  },
});

Deno.test({
  name: "TokenWallet drops tokens whose key is no longer published or has expired",
  ...none,
  fn: async () => {
    let published = keys.publicKeys(T0);
    let now = T0;
    const { w } = wallet(await issuer(keys, new MemoryStore(() => T0)), {
      keys: () => published,
      nowMs: () => now,
    });
    await w.refill();
    now = published[0].notAfter;
    assert.equal(await w.count(), 0);
    now = T0;
    assert.equal(await w.count(), 10);
    published = [];
    assert.equal(await w.count(), 0);
  },
});

Deno.test({
  name: "TokenWallet keeps tokens of a key an older key set does not list, and spends them once it is listed",
  ...none,
  fn: async () => {
    const older = await IssuerKeys.generate(SCHEDULE, T0);
    let listed = keys.publicKeys(T0);
    const store = new MemoryTokenStore();
    const { w } = wallet(await issuer(keys, new MemoryStore(() => T0)), { store, keys: () => listed });
    await w.refill();
    // Another instance (or a cache) serves a key set without the new key, and a batch of its key arrives.
    listed = older.publicKeys(T0);
    const { w: other } = wallet(await issuer(older, new MemoryStore(() => T0)), {
      store,
      keys: () => listed,
      batchSize: 4,
    });
    await other.refill();
    assert.equal(await other.count(), 4);
    await other.take();
    assert.equal((await store.load()).length, 13, "tokens of the unlisted key were dropped");
    // The newer key set again: the first batch is spendable.
    listed = keys.publicKeys(T0);
    assert.equal(await w.count(), 10);
  },
});

// ---- unlinkability --------------------------------------------------------------------------------------------

const USERS = 5;
const SPENDS = 4;

/** Every primitive value a call carried (strings and numbers), for set comparisons. */
function _values(calls: { args: (string | number)[] }[], outcomes: string[]): Set<string> {
  return new Set([...calls.flatMap((c) => c.args.map(String)), ...outcomes]);
}

/**
 * USERS × SPENDS redemptions, interleaved; returns the values the redeemer's state and log hold that are
 * equal across two redemptions of one user but not common to all redemptions, and the redemption values
 * that contain an issuance value (device ids, networks, quota keys). `keysOf(u)` is the key set user u's
 * tokens come from: one set for everyone is the honest gateway.
 */
async function _linkage(keysOf: (user: number) => IssuerKeys) {
  const issuanceStore = new RecordingStore(() => T0);
  const wallets = await Promise.all(Array.from({ length: USERS }, async (_, u) => {
    const set = keysOf(u);
    const { w } = wallet(await issuer(set, issuanceStore), {
      batchSize: SPENDS + 2,
      lowWater: 0,
      keys: () => set.publicKeys(T0),
    }, `user-${u}`);
    await w.refill();
    return w;
  }));
  const redemptionStore = new RecordingStore(() => T0);
  const outcomes: RedemptionOutcome[] = [];
  const sets = [...new Set(Array.from({ length: USERS }, (_, u) => keysOf(u)))];
  const redeemer = new Redeemer({
    keys: { forRedemption: (id, now) => sets.map((k) => k.forRedemption(id, now)).find((k) => k) },
    spent: redemptionStore,
    issuerName: ISSUER_NAME,
    nowMs: () => T0,
    observe: (o) => outcomes.push(o),
  });
  const byUser: Set<string>[][] = Array.from({ length: USERS }, () => []);
  for (let round = 0; round < SPENDS; round++) {
    for (let u = 0; u < USERS; u++) {
      const calls = redemptionStore.calls.length;
      const logged = outcomes.length;
      await redeemer.redeem(await wallets[u].take());
      byUser[u].push(_values(redemptionStore.calls.slice(calls), outcomes.slice(logged)));
    }
  }
  assert.equal(
    redemptionStore.calls.length,
    USERS * SPENDS,
    "one seen-set entry per redemption, nothing else",
  );
  const all = byUser.flat();
  const everywhere = new Set([...all[0]].filter((v) => all.every((r) => r.has(v))));
  const shared = byUser.flatMap((records) =>
    records.flatMap((a, i) =>
      records.slice(i + 1).flatMap((b) => [...a].filter((v) => b.has(v) && !everywhere.has(v)))
    )
  );
  const issuanceValues = [..._values(issuanceStore.calls, [])].filter((v) => v.length >= 5);
  assert.ok(issuanceValues.some((v) => v.includes("user-0")), "the issuance record does name devices");
  const fromIssuance = all.flatMap((record) =>
    [...record].filter((v) => issuanceValues.some((w) => v.includes(w) || (v.length >= 8 && w.includes(v))))
  );
  return { shared, fromIssuance };
}

Deno.test({
  name: "Redeemer leaves no value equal across two redemptions of one user (5 users × 4 redemptions)",
  ...none,
  fn: async () => {
    const { shared, fromIssuance } = await _linkage(() => keys);
    assert.deepEqual(shared, []);
    assert.deepEqual(fromIssuance, []);
  },
});

Deno.test({
  name: "Redeemer linkage check detects a key-partitioning issuer (positive control of the test above)",
  ...none,
  fn: async () => {
    // The attack the signed key set prevents: odd users get tokens under a key of their own.
    const partition = await IssuerKeys.generate(SCHEDULE, T0 - 1_000);
    const { shared } = await _linkage((u) => u % 2 ? partition : keys);
    assert.ok(shared.length > 0, "per-user key must show up as a value shared by one user's redemptions");
  },
});
