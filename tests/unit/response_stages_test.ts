/**
 * The two privacy-critical response stages, alone: coalescing (with a manual clock, no sleeping) and
 * sealing (opened back with the client's reader). No permissions.
 */
import assert from "node:assert/strict";
import { ChunkCipher, fromBase64Url } from "../../src/crypto/mod.ts";
import {
  type ChatEvent,
  createCoalesceStream,
  createSealStream,
  ResponseReader,
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

/** Drives a coalesce stage by hand: write events, advance the clock, read what came out so far. */
function _coalescer(tickMs: number) {
  const clock = new ManualTimer();
  const stage = createCoalesceStream(tickMs, clock);
  const writer = stage.writable.getWriter();
  const out: ChatEvent[][] = [];
  const reading = (async () => {
    for await (const batch of stage.readable) out.push(batch);
  })();
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return {
    clock,
    out,
    write: async (event: ChatEvent) => {
      await writer.write(event);
      await settle();
    },
    advance: async (ms: number) => {
      clock.advance(ms);
      await settle();
    },
    close: async () => {
      await writer.close();
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
  name: "createCoalesceStream() sends the first event at once, then one merged batch per tick",
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
  name: "createCoalesceStream() flushes at once on a terminal event and drops everything after it",
  async fn() {
    const c = _coalescer(50);
    await c.write(text("a"));
    await c.write(text("b"));
    await c.write(done);
    assert.deepEqual(c.out, [[text("a")], [text("b"), done]]);
    assert.equal(c.clock.pending, 0, "the tick timer is cleared");
    await c.write(text("after"));
    await c.advance(100);
    await c.close();
    assert.equal(c.out.length, 2, "nothing follows the terminal batch");
  },
});

Deno.test({
  ...none,
  name: "createCoalesceStream() with tick 0 emits every event as its own batch",
  async fn() {
    const c = _coalescer(0);
    for (const d of ["a", "b", "c"]) await c.write(text(d));
    await c.close();
    assert.deepEqual(c.out, [[text("a")], [text("b")], [text("c")]]);
    assert.equal(c.clock.pending, 0);
  },
});

async function _sealed(batches: ChatEvent[][], chunkSize = 128) {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const enc = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const cipher = await ChunkCipher.derive(secret, enc, nonce);
  const sse = (await Array.fromAsync(
    ReadableStream.from(batches).pipeThrough(createSealStream(cipher, nonce, chunkSize)),
  )).join("");
  const frames = sse.split("\n\n").filter(Boolean).map((block) => {
    const [, name] = /^event: (.*)$/m.exec(block)!;
    const [, data] = /^data: (.*)$/m.exec(block)!;
    return [name, data] as [string, string];
  });
  const reader = new ResponseReader((n) => ChunkCipher.derive(secret, enc, n));
  const events: ChatEvent[] = [];
  for (const [name, data] of frames) events.push(...await reader.push(name, data));
  return { frames, events, reader, nonce };
}

Deno.test({
  ...none,
  name:
    "createSealStream() sends the nonce, equal-size chunks, and seals only the terminal batch's last chunk as final",
  async fn() {
    const long = text("x".repeat(400));
    const { frames, events, reader, nonce } = await _sealed([[text("hi")], [long], [text("end"), done]]);
    assert.deepEqual(frames[0], ["nonce", frames[0][1]]);
    assert.deepEqual(fromBase64Url(frames[0][1]), nonce);
    const names = frames.slice(1).map(([n]) => n);
    assert.deepEqual(names.slice(0, -1).every((n) => n === "chunk"), true);
    assert.equal(names.at(-1), "final");
    assert.ok(names.length >= 5, "the long event spans several chunks");
    const sizes = new Set(frames.slice(1).map(([, d]) => fromBase64Url(d)!.byteLength));
    assert.deepEqual([...sizes], [128 + 16], "every chunk is chunk size + tag, whatever it carries");
    assert.deepEqual(events, [text("hi"), long, text("end"), done]);
    reader.end();
  },
});

Deno.test({
  ...none,
  name: "createSealStream() ends a stream without a terminal event with a sealed internal_error",
  async fn() {
    const { frames, events, reader } = await _sealed([[text("partial")]]);
    assert.equal(frames.at(-1)?.[0], "final");
    assert.deepEqual(events.map((e) => e.type), ["text", "error"]);
    assert.equal(events[1].type === "error" && events[1].code, "internal_error");
    reader.end();
  },
});

Deno.test({
  ...none,
  name: "createSealStream() seals nothing after the final chunk",
  async fn() {
    const { frames, events } = await _sealed([[done], [text("late")]]);
    assert.deepEqual(frames.map(([n]) => n), ["nonce", "final"]);
    assert.deepEqual(events, [done]);
  },
});
