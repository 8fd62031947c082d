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
    const rejected = (e: unknown) => e instanceof TokenError && e.code === "token_spent";
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

// ---- unlinkability --------------------------------------------------------------------------------------------

/** Every primitive value a call carried (strings and numbers), for set comparisons. */
function _values(calls: { args: (string | number)[] }[], outcomes: string[]): Set<string> {
  return new Set([...calls.flatMap((c) => c.args.map(String)), ...outcomes]);
}

Deno.test({
  name: "Redeemer leaves no value equal across two redemptions of one user (5 users × 4 redemptions)",
  ...none,
  fn: async () => {
    const USERS = 5;
    const SPENDS = 4;
    const issuanceStore = new RecordingStore(() => T0);
    const issue = await issuer(keys, issuanceStore);
    const wallets = await Promise.all(Array.from({ length: USERS }, async (_, u) => {
      const { w } = wallet(issue, { batchSize: SPENDS + 2, lowWater: 0 }, `user-${u}`);
      await w.refill();
      return w;
    }));
    const redemptionStore = new RecordingStore(() => T0);
    const outcomes: RedemptionOutcome[] = [];
    const redeemer = new Redeemer({
      keys,
      spent: redemptionStore,
      issuerName: ISSUER_NAME,
      nowMs: () => T0,
      observe: (o) => outcomes.push(o),
    });
    // Interleave users: round-robin, each spends a random token of theirs.
    const byUser: Set<string>[][] = Array.from({ length: USERS }, () => []);
    for (let round = 0; round < SPENDS; round++) {
      for (let u = 0; u < USERS; u++) {
        const calls = redemptionStore.calls.length;
        const logged = outcomes.length;
        await redeemer.redeem(await wallets[u].take());
        byUser[u].push(_values(redemptionStore.calls.slice(calls), outcomes.slice(logged)));
      }
    }
    const all = byUser.flat();
    const everywhere = new Set([...all[0]].filter((v) => all.every((r) => r.has(v))));
    assert.equal(
      redemptionStore.calls.length,
      USERS * SPENDS,
      "one seen-set entry per redemption, nothing else",
    );
    for (const [u, records] of byUser.entries()) {
      for (let i = 0; i < records.length; i++) {
        for (let j = i + 1; j < records.length; j++) {
          const shared = [...records[i]].filter((v) => records[j].has(v) && !everywhere.has(v));
          assert.deepEqual(shared, [], `user ${u}: redemptions ${i} and ${j} share ${shared}`);
        }
      }
    }
    // Nothing from issuance (device ids, networks, quota keys) reaches redemption state.
    const issuanceValues = [..._values(issuanceStore.calls, [])].filter((v) => v.length >= 5);
    assert.ok(issuanceValues.some((v) => v.includes("user-0")), "the issuance record does name devices");
    for (const record of all) {
      for (const v of record) {
        for (const w of issuanceValues) {
          assert.ok(!v.includes(w) && (v.length < 8 || !w.includes(v)), `'${v}' relates to issuance '${w}'`);
        }
      }
    }
  },
});
