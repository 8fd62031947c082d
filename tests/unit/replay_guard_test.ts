/**
 * ReplayGuard the RFC 9458 §6.5 way: enc seen-set before opening, recorded after, Date window inside, and
 * across a restart (security review item 2); memory store, injected clocks, no permissions.
 */
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/limits/mod.ts";
import { GatewayError, ReplayGuard, type SeenSet } from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };
const WINDOW = 60;

async function _accept(guard: ReplayGuard, date: number, now: number, enc: Uint8Array): Promise<void> {
  await guard.checkUnseen(enc);
  await guard.record(enc);
  guard.checkDate(date, now);
}

function _code(code: string) {
  return (error: unknown) => error instanceof GatewayError && error.code === code && error.status === 400;
}

Deno.test({
  ...none,
  name: "ReplayGuard refuses after a restart a request dated 40 s ahead that was accepted before it",
  async fn() {
    const enc = new Uint8Array(32).fill(7);
    const before = new ReplayGuard(new MemoryStore(() => 1_000_000), WINDOW, 900);
    await _accept(before, 1040, 1000, enc);
    // Restart at 1010 with an empty memory store and keys that survive (a keys file).
    const after = new ReplayGuard(new MemoryStore(() => 1_010_000), WINDOW, 1010);
    await assert.rejects(_accept(after, 1040, 1010, enc), _code("stale_request"));
    assert.throws(() => after.checkDate(1069, 1030), _code("stale_request"), "start + window − 1 is refused");
    after.checkDate(1070, 1030);
  },
});

Deno.test({
  ...none,
  name: "ReplayGuard serves at once after a restart when its keys were generated in memory",
  fn() {
    const guard = new ReplayGuard(new MemoryStore(), WINDOW, 1000, false);
    guard.checkDate(1000, 1000);
    guard.checkDate(1040, 1000);
    assert.throws(() => guard.checkDate(1061, 1000), _code("stale_request"), "the window still holds");
  },
});

Deno.test({
  ...none,
  name: "ReplayGuard.checkDate() refuses dates outside ±window and a missing Date",
  fn() {
    const seen: SeenSet = {
      shared: true,
      addIfAbsent: () => Promise.resolve(true),
      has: () => Promise.resolve(false),
    };
    const guard = new ReplayGuard(seen, WINDOW, 1000);
    guard.checkDate(1000 - WINDOW, 1000);
    guard.checkDate(1000 + WINDOW, 1000);
    assert.throws(() => guard.checkDate(1000 - WINDOW - 1, 1000), _code("stale_request"));
    assert.throws(() => guard.checkDate(1000 + WINDOW + 1, 1000), _code("stale_request"));
    assert.throws(() => guard.checkDate(undefined, 1000), _code("stale_request"));
  },
});

Deno.test({
  ...none,
  name: "ReplayGuard.checkUnseen() refuses a recorded enc and never records one itself",
  async fn() {
    const guard = new ReplayGuard(new MemoryStore(), WINDOW, 0, false);
    const enc = crypto.getRandomValues(new Uint8Array(1120));
    await guard.checkUnseen(enc);
    await guard.checkUnseen(enc);
    await guard.record(enc);
    await assert.rejects(guard.checkUnseen(enc), _code("replayed_request"));
    await assert.rejects(guard.record(enc), _code("replayed_request"));
  },
});

Deno.test({
  ...none,
  name: "ReplayGuard fails closed as overloaded when the seen-set is unavailable",
  async fn() {
    const down: SeenSet = {
      shared: true,
      addIfAbsent: () => Promise.reject(new Error("down")),
      has: () => Promise.reject(new Error("down")),
    };
    const guard = new ReplayGuard(down, WINDOW, 0);
    const overloaded = (e: unknown) => e instanceof GatewayError && e.code === "overloaded";
    await assert.rejects(guard.checkUnseen(new Uint8Array(32)), overloaded);
    await assert.rejects(guard.record(new Uint8Array(32)), overloaded);
  },
});
