/** Router circuit states with an injected clock (no sleeping); fake backends, no permissions. */
import assert from "node:assert/strict";
import { type Backend, type LlamaClient, Router } from "../../src/inference/mod.ts";
import type { LogEvent } from "../../src/observability/mod.ts";

const none = { permissions: "none" as const };
const POLICY = { failureThreshold: 2, openMs: 1000 };

function _router(names: string[] = ["a"]) {
  let now = 10_000;
  const events: LogEvent[] = [];
  const backends: Backend[] = names.map((name) => ({ name, client: {} as LlamaClient, healthy: () => true }));
  const router = new Router(backends, POLICY, { log: (_l, event) => events.push(event) }, () => now);
  return { router, events, advance: (ms: number) => (now += ms) };
}

function _fail(router: Router, exclude: string[] = []): string {
  const lease = router.acquire(new Set(exclude));
  lease.done("failure");
  return lease.backend.name;
}

const unavailable = (e: unknown) =>
  e instanceof Error && "code" in e && e.code === "upstream_unavailable" && "status" in e && e.status === 503;

Deno.test({
  ...none,
  name: "Router opens a backend's circuit after failureThreshold consecutive failures",
  fn() {
    const { router, events } = _router();
    _fail(router);
    assert.equal(router.circuits().a, "closed", "one failure is below the threshold");
    _fail(router);
    assert.equal(router.circuits().a, "open");
    assert.deepEqual(events, ["backend.circuit_opened"]);
    assert.throws(() => router.acquire(), unavailable);
    assert.equal(router.ready(), false);
  },
});

Deno.test({
  ...none,
  name: "Router resets the failure count on success",
  fn() {
    const { router } = _router();
    _fail(router);
    router.acquire().done("success");
    _fail(router);
    assert.equal(router.circuits().a, "closed");
  },
});

Deno.test({
  ...none,
  name: "Router half-opens after openMs and admits exactly one trial request",
  fn() {
    const { router, advance } = _router();
    _fail(router);
    _fail(router);
    advance(POLICY.openMs - 1);
    assert.equal(router.circuits().a, "open");
    advance(1);
    assert.equal(router.circuits().a, "half_open");
    const trial = router.acquire();
    assert.throws(() => router.acquire(), unavailable, "a second request waits for the trial");
    trial.done("success");
    assert.equal(router.circuits().a, "closed");
    router.acquire().done("success");
  },
});

Deno.test({
  ...none,
  name: "Router reopens at once when the half-open trial fails, and a cancelled trial proves nothing",
  fn() {
    const { router, advance, events } = _router();
    _fail(router);
    _fail(router);
    advance(POLICY.openMs);
    router.acquire().done("cancelled");
    assert.equal(router.circuits().a, "half_open", "cancelled: still half open");
    router.acquire().done("failure");
    assert.equal(router.circuits().a, "open");
    advance(POLICY.openMs - 1);
    assert.equal(router.circuits().a, "open", "the open period restarts from the failed trial");
    assert.deepEqual(events, ["backend.circuit_opened", "backend.circuit_opened"]);
  },
});

Deno.test({
  ...none,
  name: "Router prefers the backend with fewer requests in flight and skips open circuits",
  fn() {
    const { router } = _router(["a", "b"]);
    const first = router.acquire();
    const second = router.acquire();
    assert.notEqual(first.backend.name, second.backend.name);
    first.done("success");
    second.done("success");
    _fail(router, ["b"]);
    _fail(router, ["b"]);
    assert.deepEqual(router.circuits(), { a: "open", b: "closed" });
    for (let i = 0; i < 3; i++) {
      const lease = router.acquire();
      assert.equal(lease.backend.name, "b");
      lease.done("success");
    }
    assert.deepEqual(router.inFlight(), { a: 0, b: 0 });
  },
});
