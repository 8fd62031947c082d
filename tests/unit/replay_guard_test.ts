/** ReplayGuard across a restart (security review item 2); memory store, injected clocks, no permissions. */
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/limits/mod.ts";
import { GatewayError, ReplayGuard, type RequestHeader } from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };
const WINDOW = 60;

function _header(timestamp: number): RequestHeader {
  return {
    version: 1,
    keyId: 1,
    kemId: 0x20,
    kdfId: 1,
    aeadId: 3,
    timestamp,
    requestId: new Uint8Array(16).fill(timestamp % 256),
  };
}

async function _accept(guard: ReplayGuard, header: RequestHeader, now: number): Promise<void> {
  guard.checkTimestamp(header, now);
  await guard.record(header, new Uint8Array(32).fill(7));
}

function _stale(error: unknown): boolean {
  return error instanceof GatewayError && error.code === "stale_request" && error.status === 400;
}

Deno.test({
  ...none,
  name: "ReplayGuard refuses after a restart a request stamped 40 s ahead that was accepted before it",
  async fn() {
    const header = _header(1040);
    const before = new ReplayGuard(new MemoryStore(() => 1_000_000), WINDOW, 900);
    await _accept(before, header, 1000);
    // Restart at 1010 with an empty memory store and keys that survive (a keys file).
    const after = new ReplayGuard(new MemoryStore(() => 1_010_000), WINDOW, 1010);
    await assert.rejects(_accept(after, header, 1010), _stale);
    assert.throws(() => after.checkTimestamp(_header(1069), 1030), _stale, "start + window − 1 is refused");
    after.checkTimestamp(_header(1070), 1030);
  },
});

Deno.test({
  ...none,
  name: "ReplayGuard serves at once after a restart when its keys were generated in memory",
  fn() {
    const guard = new ReplayGuard(new MemoryStore(), WINDOW, 1000, false);
    guard.checkTimestamp(_header(1000), 1000);
    guard.checkTimestamp(_header(1040), 1000);
    assert.throws(() => guard.checkTimestamp(_header(1061), 1000), _stale, "the window still holds");
  },
});

Deno.test({
  ...none,
  name: "ReplayGuard.checkTimestamp() refuses timestamps outside ±window",
  fn() {
    const guard = new ReplayGuard({ shared: true, addIfAbsent: () => Promise.resolve(true) }, WINDOW, 1000);
    guard.checkTimestamp(_header(1000 - WINDOW), 1000);
    guard.checkTimestamp(_header(1000 + WINDOW), 1000);
    assert.throws(() => guard.checkTimestamp(_header(1000 - WINDOW - 1), 1000), _stale);
    assert.throws(() => guard.checkTimestamp(_header(1000 + WINDOW + 1), 1000), _stale);
  },
});
