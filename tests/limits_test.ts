/**
 * Limits, challenges and the replay set against both stores (memory and a real redis-server), GCRA
 * arithmetic, proof of work, the admission queue, and network grouping.
 */
import assert from "node:assert/strict";
import {
  AbuseGuard,
  AdmissionQueue,
  connectRedisStore,
  gcraStep,
  type LimitsConfig,
  type LimitStore,
  MemoryStore,
  networkOf,
  ProofOfWork,
} from "../src/limits/mod.ts";
import { GatewayError, ReplayGuard, solveChallenge } from "../src/protocol/mod.ts";
import { startRedis } from "./helpers/redis.ts";

const none = { permissions: "none" as const };

Deno.test({
  ...none,
  name: "gcraStep() allows a burst, then refuses with a retry time, then refills",
  fn() {
    const rate = { perMinute: 60, burst: 3 };
    let tat = 0;
    const now = 1_000_000;
    for (let i = 0; i < 4; i++) {
      const step = gcraStep(tat, now, rate);
      assert.equal(step.allowed, true, `request ${i} of the burst`);
      tat = step.tat;
    }
    const refused = gcraStep(tat, now, rate);
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryAfterMs, 1000);
    assert.equal(gcraStep(tat, now + 1000, rate).allowed, true, "one interval later one more is allowed");
  },
});

Deno.test({
  ...none,
  name: "networkOf() groups IPv6 by /64 and keeps IPv4 whole",
  fn() {
    assert.equal(networkOf("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(networkOf("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
    assert.equal(networkOf("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(networkOf("[::ffff:192.0.2.7]"), "192.0.2.7");
    assert.equal(networkOf("192.0.2.7"), "192.0.2.7");
  },
});

/** Runs `fn` against a fresh store of the given kind (Redis: a real redis-server). */
async function withStoreOf(kind: "memory" | "redis", fn: (store: LimitStore) => Promise<void>) {
  if (kind === "memory") return await fn(new MemoryStore());
  await using redis = await startRedis();
  const store = await connectRedisStore(redis.url, { prefix: `t${crypto.randomUUID()}:` });
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

for (const kind of ["memory", "redis"] as const) {
  const withStore = (fn: (store: LimitStore) => Promise<void>) => withStoreOf(kind, fn);

  Deno.test(`${kind} store: rate() applies burst and refill like GCRA`, async () => {
    await withStore(async (store) => {
      const rate = { perMinute: 600, burst: 2 };
      const now = Date.now();
      const results = [];
      for (let i = 0; i < 4; i++) results.push((await store.rate("k", rate, now)).allowed);
      assert.deepEqual(results, [true, true, true, false]);
      assert.equal((await store.rate("k", rate, now + 100)).allowed, true);
      assert.equal((await store.rate("other", rate, now)).allowed, true, "keys are independent");
    });
  });

  Deno.test(`${kind} store: acquire() caps concurrency and release() frees a slot`, async () => {
    await withStore(async (store) => {
      assert.equal(await store.acquire("c", 2, 60), true);
      assert.equal(await store.acquire("c", 2, 60), true);
      assert.equal(await store.acquire("c", 2, 60), false);
      await store.release("c");
      assert.equal(await store.acquire("c", 2, 60), true);
    });
  });

  Deno.test(`${kind} store: addMember() counts distinct members`, async () => {
    await withStore(async (store) => {
      assert.equal(await store.addMember("s", "a", 60), 1);
      assert.equal(await store.addMember("s", "b", 60), 2);
      assert.equal(await store.addMember("s", "a", 60), 2);
      assert.equal(await store.hasMember("s", "b"), true);
      assert.equal(await store.hasMember("s", "z"), false);
    });
  });

  Deno.test(`${kind} store: ReplayGuard refuses a second use of enc, before and after opening`, async () => {
    await withStore(async (store) => {
      const guard = new ReplayGuard(store, 60, 0);
      const enc = new Uint8Array(32).fill(2);
      await guard.checkUnseen(enc);
      await guard.record(enc);
      const replayed = (e: unknown) => e instanceof GatewayError && e.code === "replayed_request";
      await assert.rejects(guard.checkUnseen(enc), replayed);
      await assert.rejects(guard.record(enc), replayed);
      await guard.checkUnseen(new Uint8Array(32).fill(3));
    });
  });

  Deno.test(`${kind} store: a proof-of-work solution is accepted once, then refused as reused`, async () => {
    await withStore(async (store) => {
      const pow = await ProofOfWork.fromSecret(crypto.getRandomValues(new Uint8Array(32)));
      const now = Date.now() / 1000;
      const challenge = await pow.issue("dev", "net", 8, now, 60);
      const solution = await solveChallenge(challenge);
      const spent = (token: string, ttl: number) => store.addIfAbsent(`pow:${token}`, ttl);
      assert.equal(await pow.verify(challenge.token, solution, "dev", "net", now, spent), "ok");
      assert.equal(await pow.verify(challenge.token, solution, "dev", "net", now, spent), "reused");
    });
  });
}

Deno.test("ProofOfWork.verify() refuses another device, another network, expiry, tampering and too little work", async () => {
  const pow = await ProofOfWork.fromSecret(crypto.getRandomValues(new Uint8Array(32)));
  const now = 1_800_000_000;
  const spent = () => Promise.resolve(true);
  const challenge = await pow.issue("dev", "net", 10, now, 60);
  const solution = await solveChallenge(challenge);
  assert.equal(await pow.verify(challenge.token, solution, "other", "net", now, spent), "invalid");
  assert.equal(await pow.verify(challenge.token, solution, "dev", "other", now, spent), "invalid");
  assert.equal(await pow.verify(challenge.token, solution, "dev", "net", now + 61, spent), "expired");
  const harder = challenge.token.replace(".10.", ".20.");
  assert.equal(
    await pow.verify(harder, solution, "dev", "net", now, spent),
    "invalid",
    "difficulty is under the MAC",
  );
  let wrong = Number(solution) + 1;
  // Find a counter that does not solve it (almost every one).
  while ((await pow.verify(challenge.token, String(wrong), "dev", "net", now, spent)) === "ok") wrong++;
  assert.equal(await pow.verify(challenge.token, String(wrong), "dev", "net", now, spent), "insufficient");
  assert.equal(await pow.verify(challenge.token, solution, "dev", "net", now, spent), "ok");
});

Deno.test("ProofOfWork.verify() costs one HMAC and one SHA-256 whatever the difficulty", async () => {
  // Counted, not timed: a wall-clock bound on a shared 2-core machine measures the neighbours. The time
  // itself is in bench/protocol_bench.ts.
  const pow = await ProofOfWork.fromSecret(crypto.getRandomValues(new Uint8Array(32)));
  const now = Date.now() / 1000;
  for (const difficulty of [4, 12]) {
    const challenge = await pow.issue("dev", "net", difficulty, now, 60);
    const solution = await solveChallenge(challenge);
    const calls: string[] = [];
    const subtle = crypto.subtle as unknown as Record<string, (...args: unknown[]) => unknown>;
    const originals = { sign: subtle.sign, digest: subtle.digest };
    subtle.sign = (...args) => (calls.push("sign"), originals.sign.apply(crypto.subtle, args));
    subtle.digest = (...args) => (calls.push("digest"), originals.digest.apply(crypto.subtle, args));
    try {
      assert.equal(
        await pow.verify(challenge.token, solution, "dev", "net", now, () => Promise.resolve(true)),
        "ok",
      );
    } finally {
      Object.assign(subtle, originals);
    }
    assert.deepEqual(calls.sort(), ["digest", "sign"], `difficulty ${difficulty}`);
  }
});

Deno.test("AdmissionQueue queues up to its size, then refuses; a waiter past its deadline is refused", async () => {
  const queue = new AdmissionQueue(1, 1);
  const signal = new AbortController().signal;
  const first = await queue.admit(1000, signal);
  const waiting = queue.admit(2000, signal);
  await assert.rejects(
    queue.admit(1000, signal),
    (e) => e instanceof GatewayError && e.code === "overloaded" && e.retryAfterSeconds === 2,
  );
  first();
  const second = await waiting;
  await assert.rejects(queue.admit(50, signal), (e) => e instanceof GatewayError && e.code === "overloaded");
  second();
  assert.equal(queue.active, 0);
  assert.equal(queue.queued, 0);
});

function guardWith(config: Partial<LimitsConfig>, load = () => 0) {
  const rejected: string[] = [];
  const base: LimitsConfig = {
    network: { perMinute: 600, burst: 100 },
    device: { perMinute: 600, burst: 100 },
    errorBudget: { perMinute: 60, burst: 10 },
    deviceConcurrency: 2,
    newDevicesPerNetworkPerHour: 100,
    powForNewDevices: false,
    powLoadThreshold: 0.8,
    powBaseBits: 8,
    powMaxBits: 12,
    powTtlSeconds: 60,
    storeFailure: "fallback",
  };
  return {
    rejected,
    guard: ProofOfWork.fromSecret(new Uint8Array(32)).then((pow) =>
      new AbuseGuard(new MemoryStore(), pow, { ...base, ...config }, load, {
        rejected: (limit) => rejected.push(limit),
        challengeIssued() {},
        challengeSolved() {},
      })
    ),
  };
}

Deno.test("AbuseGuard caps concurrent streams per device and frees the slot on release", async () => {
  const { guard: pending, rejected } = guardWith({ deviceConcurrency: 2 });
  const guard = await pending;
  const first = await guard.admitDevice("d", "n");
  await guard.admitDevice("d", "n");
  await assert.rejects(
    guard.admitDevice("d", "n"),
    (e) => e instanceof GatewayError && e.code === "rate_limited",
  );
  assert.deepEqual(rejected, ["device_concurrency"]);
  first();
  await guard.admitDevice("d", "n");
  await guard.admitDevice("other", "n");
});

Deno.test("AbuseGuard caps new device keys per network", async () => {
  const { guard: pending, rejected } = guardWith({ newDevicesPerNetworkPerHour: 3 });
  const guard = await pending;
  for (const device of ["a", "b", "c"]) (await guard.admitDevice(device, "net"))();
  await assert.rejects(
    guard.admitDevice("d", "net"),
    (e) => e instanceof GatewayError && e.code === "rate_limited",
  );
  assert.deepEqual(rejected, ["new_devices"]);
  (await guard.admitDevice("a", "net"))();
  (await guard.admitDevice("e", "another-net"))();
});

Deno.test("AbuseGuard challenges everyone under load, with difficulty rising with load", async () => {
  let load = 0.5;
  const { guard: pending } = guardWith({}, () => load);
  const guard = await pending;
  (await guard.admitDevice("d", "n"))();
  assert.equal(guard.difficulty(0.5), 8);
  assert.equal(guard.difficulty(0.95), 9);
  assert.equal(guard.difficulty(1.5), 12, "capped at the maximum");
  load = 1.0;
  await assert.rejects(
    guard.admitDevice("d", "n"),
    (e) => e instanceof GatewayError && e.code === "challenge_required" && e.challenge?.difficulty === 10,
  );
});
