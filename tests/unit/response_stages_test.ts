/**
 * The two privacy-critical response stages, alone: coalescing (with a manual clock, no sleeping) and
 * sealing (opened back with the client's reader). No permissions.
 */
import assert from "node:assert/strict";
import { AEAD_CHACHA20_POLY1305, ChunkCipher } from "../../src/crypto/mod.ts";
import {
  type ChatEvent,
  coalesceEvents,
  createSealStream,
  decodeVarint,
  framePlaintexts,
  ResponseReader,
  ssePadding,
  streamTickMs,
  type TickTimer,
} from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };

/** A clock whose timers fire only when the test says so. */
class ManualTimer implements TickTimer {
  #due: { at: number; callback: () => void; id: number }[] = [];
  #now = 0;
  #next = 1;
  set(callback: () => void, ms: number): number {
    const id = this.#next++;
    this.#due.push({ at: this.#now + ms, callback, id });
    return id;
  }
  clear(handle: unknown): void {
    this.#due = this.#due.filter((t) => t.id !== handle);
  }
  get pending(): number {
    return this.#due.length;
  }
  advance(ms: number): void {
    this.#now += ms;
    const fire = this.#due.filter((t) => t.at <= this.#now);
    this.#due = this.#due.filter((t) => t.at > this.#now);
    for (const t of fire) t.callback();
  }
}

/** Drives a coalesce stage by hand: push events into its source, advance the clock, read what came out. */
function _coalescer(tickMs: number) {
  const clock = new ManualTimer();
  const queued: ChatEvent[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  let returned = false;
  async function* source(): AsyncGenerator<ChatEvent> {
    try {
      while (true) {
        if (queued.length > 0) yield queued.shift()!;
        else if (closed) return;
        else await new Promise<void>((resolve) => wake = resolve);
      }
    } finally {
      returned = true;
    }
  }
  let cancelled = 0;
  // As in the handler, where onCancel aborts the generation, which ends the source.
  const onCancel = () => {
    cancelled++;
    closed = true;
    wake?.();
  };
  const stream = coalesceEvents(source(), { tickMs, clock, onCancel });
  const out: ChatEvent[][] = [];
  const reader = stream.getReader();
  const reading = (async () => {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      out.push(value);
    }
  })();
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return {
    clock,
    out,
    returned: () => returned,
    cancelled: () => cancelled,
    write: async (event: ChatEvent) => {
      queued.push(event);
      wake?.();
      await settle();
    },
    advance: async (ms: number) => {
      clock.advance(ms);
      await settle();
    },
    cancel: async () => {
      await reader.cancel();
      await reading;
    },
    close: async () => {
      closed = true;
      wake?.();
      await reading;
    },
  };
}

const text = (delta: string): ChatEvent => ({ type: "text", delta });
const done: ChatEvent = {
  type: "done",
  finish_reason: "stop",
  usage: { prompt_tokens: 1, completion_tokens: 3 },
};

Deno.test({
  ...none,
  name:
    "streamTickMs() sizes the tick for capacity: the base tick up to the chunk budget, then whole base ticks up to the cap",
  fn() {
    const options = { baseMs: 50, maxMs: 250, chunksPerSecond: 320 };
    // 320 chunks/s at one chunk per stream per tick: 16 streams fit 50 ms ticks, 32 need 100 ms; always a
    // whole number of base ticks (17 streams would need 53.1 ms: 100), never more than the cap.
    assert.deepEqual([1, 16, 17, 32, 33, 48, 64, 65, 10_000].map((n) => streamTickMs(options, n)), [
      50,
      50,
      100,
      100,
      150,
      150,
      200,
      250,
      250,
    ]);
    assert.equal(streamTickMs({ ...options, maxMs: 120 }, 10_000), 120, "the cap, even off the base's grid");
    assert.equal(streamTickMs({ ...options, baseMs: 500 }, 10_000), 500, "a base above the cap is kept");
    assert.equal(streamTickMs({ ...options, chunksPerSecond: 0 }, 10_000), 50, "0: the base tick");
    assert.equal(
      streamTickMs({ ...options, baseMs: 0 }, 10_000),
      0,
      "a base of 0 stays 0 (every event at once)",
    );
  },
});

Deno.test({
  ...none,
  name: "coalesceEvents() sends the first event at once, then one merged batch per tick",
  async fn() {
    const c = _coalescer(50);
    await c.write(text("a"));
    assert.deepEqual(c.out, [[text("a")]], "the first batch does not wait for a tick");
    await c.write(text("b"));
    await c.write(text("c"));
    await c.write({ type: "reasoning", delta: "r" });
    await c.write(text("d"));
    assert.equal(c.out.length, 1, "nothing more before the tick");
    assert.equal(c.clock.pending, 1, "one timer for the whole tick");
    await c.advance(49);
    assert.equal(c.out.length, 1);
    await c.advance(1);
    assert.deepEqual(c.out[1], [text("bc"), { type: "reasoning", delta: "r" }, text("d")]);
    await c.close();
  },
});

Deno.test({
  ...none,
  name: "coalesceEvents() flushes at once on a terminal event, ends, and drops everything after it",
  async fn() {
    const c = _coalescer(50);
    await c.write(text("a"));
    await c.write(text("b"));
    await c.write(done);
    assert.deepEqual(c.out, [[text("a")], [text("b"), done]]);
    assert.equal(c.clock.pending, 0, "the tick timer is cleared");
    assert.equal(c.returned(), true, "the source is finished at once (its cleanup runs)");
    await c.write(text("after"));
    await c.advance(100);
    await c.close();
    assert.equal(c.out.length, 2, "nothing follows the terminal batch");
  },
});

Deno.test({
  ...none,
  name: "coalesceEvents() with tick 0 emits every event as its own batch",
  async fn() {
    const c = _coalescer(0);
    for (const d of ["a", "b", "c"]) await c.write(text(d));
    await c.close();
    assert.deepEqual(c.out, [[text("a")], [text("b")], [text("c")]]);
    assert.equal(c.clock.pending, 0);
  },
});

Deno.test({
  ...none,
  name: "coalesceEvents() on cancel clears its tick, calls onCancel once and returns the source",
  async fn() {
    const c = _coalescer(50);
    await c.write(text("a"));
    await c.write(text("b"));
    assert.equal(c.clock.pending, 1);
    await c.cancel();
    assert.equal(c.clock.pending, 0, "no tick fires into a cancelled stream");
    assert.equal(c.cancelled(), 1);
    await c.close();
    assert.equal(c.returned(), true);
    assert.deepEqual(c.out, [[text("a")]]);
  },
});

Deno.test({
  ...none,
  name:
    "coalesceEvents() cancelled while it waits for an event drops that event: no tick, no enqueue into the cancelled stream",
  async fn() {
    // The source's next() was already pending when the client left, and still delivers one event (the
    // token that was in flight): before the fix it armed a tick that enqueued into the cancelled stream and
    // threw from a timer, which ended the whole gateway process (found by bench/rss_bench.ts, 256 streams).
    const clock = new ManualTimer();
    const queued: ChatEvent[] = [text("a")];
    let wake: (() => void) | undefined;
    // The source's own cleanup takes a while (closing the upstream connection), longer than a tick.
    const cleanup = Promise.withResolvers<void>();
    async function* source(): AsyncGenerator<ChatEvent> {
      try {
        while (true) {
          if (queued.length > 0) yield queued.shift()!;
          else await new Promise<void>((resolve) => wake = resolve);
        }
      } finally {
        await cleanup.promise;
      }
    }
    const reader = coalesceEvents(source(), { tickMs: 50, clock }).getReader();
    assert.deepEqual((await reader.read()).value, [text("a")]);
    const waiting = reader.read();
    await new Promise((r) => setTimeout(r, 0));
    const cancelling = reader.cancel();
    queued.push(text("b"));
    wake?.();
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(clock.pending, 0, "the event in flight arms no tick");
    // A tick passes while the source cleans up: nothing may fire into the cancelled stream.
    clock.advance(100);
    cleanup.resolve();
    await cancelling;
    assert.equal((await waiting).done, true);
    assert.equal(clock.pending, 0, "no tick left armed");
  },
});

/** Reads the first batch (a source's "a") and starts the next read, with its "b" waiting for a 50 ms tick. */
async function _bWaitingForItsTick(source: AsyncGenerator<ChatEvent>, clock: ManualTimer) {
  const reader = coalesceEvents(source, { tickMs: 50, clock }).getReader();
  assert.deepEqual((await reader.read()).value, [text("a")]);
  const next = reader.read();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(clock.pending, 1, "b waits for its tick");
  return { reader, next };
}

Deno.test({
  ...none,
  name:
    "coalesceEvents() cancelled with a batch waiting for its tick clears the tick at once, while the source still cleans up",
  async fn() {
    const clock = new ManualTimer();
    const cleanup = Promise.withResolvers<void>();
    let wake: (() => void) | undefined;
    async function* source(): AsyncGenerator<ChatEvent> {
      try {
        yield text("a");
        yield text("b");
        await new Promise<void>((resolve) => wake = resolve);
      } finally {
        await cleanup.promise;
      }
    }
    const { reader, next: waiting } = await _bWaitingForItsTick(source(), clock);
    const cancelling = reader.cancel();
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(clock.pending, 0, "the tick goes with the cancel, not with the source's end");
    wake?.();
    cleanup.resolve();
    await cancelling;
    assert.equal((await waiting).done, true);
  },
});

Deno.test({
  ...none,
  name: "coalesceEvents() clears its tick when the source fails: the stream errors and no tick fires into it",
  async fn() {
    // A batch waits for its tick when the upstream fails: the stream must error at once and its tick must go,
    // or it would enqueue into the errored stream from a timer (a throw there ends the process).
    const clock = new ManualTimer();
    const failure = new Error("upstream failed");
    let fail!: () => void;
    async function* source(): AsyncGenerator<ChatEvent> {
      yield text("a");
      yield text("b");
      await new Promise<void>((resolve) => fail = resolve);
      throw failure;
    }
    const { next } = await _bWaitingForItsTick(source(), clock);
    fail();
    await assert.rejects(next, (error) => error === failure);
    assert.equal(clock.pending, 0, "the tick is cleared");
    clock.advance(100);
  },
});

async function _sealed(batches: ChatEvent[][], chunkSize = 128) {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const enc = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const cipher = await ChunkCipher.derive(AEAD_CHACHA20_POLY1305, secret, enc, nonce);
  const parts = await Array.fromAsync(
    ReadableStream.from(batches).pipeThrough(
      createSealStream(cipher, nonce, chunkSize, {
        status: 200,
        fields: [["content-type", "text/event-stream"]],
      }),
    ),
  );
  const reader = new ResponseReader(32, (n) => ChunkCipher.derive(AEAD_CHACHA20_POLY1305, secret, enc, n));
  const events: ChatEvent[] = [];
  for (const part of parts) events.push(...await reader.push(part));
  events.push(...await reader.end());
  return { parts, events, reader, nonce };
}

/** The chunks of a sealed response (after the nonce): final flag and sealed length. */
function _chunks(parts: Uint8Array[]): { final: boolean; length: number }[] {
  return parts.slice(1).map((p) => {
    const decoded = decodeVarint(p, 0)!;
    return { final: decoded.value === 0, length: p.byteLength - decoded.next };
  });
}

Deno.test({
  ...none,
  name:
    "createSealStream() sends the nonce, equal-size chunks, and seals only the terminal batch's last chunk as final",
  async fn() {
    const long = text("x".repeat(400));
    const { parts, events, reader, nonce } = await _sealed([[text("hi")], [long], [text("end"), done]]);
    assert.deepEqual(parts[0], nonce);
    const chunks = _chunks(parts);
    assert.deepEqual(chunks.slice(0, -1).every((c) => !c.final), true);
    assert.equal(chunks.at(-1)?.final, true);
    assert.ok(chunks.length >= 5, "the long event spans several chunks");
    assert.deepEqual(
      [...new Set(chunks.map((c) => c.length))],
      [128 + 16],
      "every chunk is chunk size + tag",
    );
    assert.deepEqual(events, [text("hi"), long, text("end"), done]);
    assert.equal(reader.head?.status, 200);
    assert.equal(reader.finished, true);
  },
});

Deno.test({
  ...none,
  name: "framePlaintexts() fills every chunk exactly: head, two-byte length, the text, SSE padding, end",
  fn() {
    const padding = (n: number) => n === 0 ? "" : n === 1 ? "\n" : `:${" ".repeat(n - 2)}\n`;
    // Around 128's capacities (with and without the head and the final end) and across several chunks.
    const lengths = [0, 1, 2, 60, 250, 1000, ...Array.from({ length: 13 }, (_, k) => 112 + k)];
    for (const length of lengths) {
      for (const [final, size] of [[false, 128], [true, 128], [false, 512], [true, 512]] as const) {
        for (const head of [undefined, new Uint8Array([3, 0x40, 200, 7, 1, 2, 3, 4, 5, 0])]) {
          const label = `${length} ${final} ${head ? "head" : "none"} ${size}`;
          const input = `data: ${"y".repeat(length)}\n\n`;
          const chunks = framePlaintexts(new TextEncoder().encode(input), head, final, size);
          let rest = input;
          chunks.forEach((chunk, i) => {
            assert.equal(chunk.byteLength, size, label);
            let at = 0;
            if (i === 0 && head) {
              assert.deepEqual(chunk.subarray(0, head.byteLength), head, label);
              at = head.byteLength;
            }
            assert.equal(chunk[at] & 0xc0, 0x40, label);
            const dataLength = ((chunk[at] & 0x3f) << 8) | chunk[at + 1];
            const data = new TextDecoder().decode(chunk.subarray(at + 2, at + 2 + dataLength));
            const text = rest.slice(0, Math.min(rest.length, dataLength));
            rest = rest.slice(text.length);
            assert.equal(data, text + padding(dataLength - text.length), label);
            const end = final && i === chunks.length - 1 ? [0, 0] : [];
            assert.deepEqual([...chunk.subarray(at + 2 + dataLength)], end, label);
          });
          assert.equal(rest, "", label);
        }
      }
    }
    assert.deepEqual([...ssePadding(1)], [0x0a]);
    assert.equal(new TextDecoder().decode(ssePadding(4)), ":  \n");
    assert.equal(ssePadding(0).byteLength, 0);
  },
});

Deno.test({
  ...none,
  name: "createSealStream() ends a stream without a terminal event with a sealed internal_error",
  async fn() {
    const { parts, events } = await _sealed([[text("partial")]]);
    assert.equal(_chunks(parts).at(-1)?.final, true);
    assert.deepEqual(events.map((e) => e.type), ["text", "error"]);
    assert.equal(events[1].type === "error" && events[1].code, "internal_error");
  },
});

Deno.test({
  ...none,
  name: "createSealStream() seals nothing after the final chunk",
  async fn() {
    const { parts, events } = await _sealed([[done], [text("late")]]);
    const withoutLate = await _sealed([[done]]);
    assert.equal(parts.length, withoutLate.parts.length, "the late batch adds no chunk");
    assert.equal(_chunks(parts).at(-1)?.final, true);
    assert.deepEqual(events, [done]);
  },
});
