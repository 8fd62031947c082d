/**
 * ResponseReader and ChunkCipher end-of-stream state (security review item 7): the final chunk is opened
 * only at the end of the stream, so `done` is delivered only once everything authenticated; a failure
 * poisons the reader. No permissions.
 */
import assert from "node:assert/strict";
import { AEAD_CHACHA20_POLY1305, ChunkCipher } from "../../src/crypto/mod.ts";
import {
  type ChatEvent,
  createSealStream,
  encodeVarint,
  frameChunk,
  ResponseIntegrityError,
  ResponseReader,
} from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };
const CHUNK = 128;
const AEAD = AEAD_CHACHA20_POLY1305;

async function _pair() {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const enc = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const sealer = await ChunkCipher.derive(AEAD, secret, enc, nonce);
  const reader = new ResponseReader(32, (n) => ChunkCipher.derive(AEAD, secret, enc, n));
  return { reader, sealer, secret, enc, nonce };
}

async function _sealed(
  sealer: ChunkCipher,
  nonce: Uint8Array,
  batches: ChatEvent[][],
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const stream = ReadableStream.from(batches).pipeThrough(
    createSealStream(sealer, nonce, CHUNK, { status: 200, fields: [["content-type", "text/event-stream"]] }),
  );
  for await (const bytes of stream) out.push(bytes);
  return out;
}

const tampered = (e: unknown) => e instanceof ResponseIntegrityError && e.reason === "tampered";

Deno.test({
  ...none,
  name: "ResponseReader delivers the terminal event only from end(), after the final chunk authenticated",
  async fn() {
    const { reader, sealer, nonce } = await _pair();
    const parts = await _sealed(sealer, nonce, [[{ type: "text", delta: "a" }], [{
      type: "done",
      finish_reason: "stop",
      usage: { prompt_tokens: 1, completion_tokens: 1 },
    }]]);
    const early: ChatEvent[] = [];
    for (const part of parts) early.push(...await reader.push(part));
    assert.deepEqual(early, [{ type: "text", delta: "a" }]);
    assert.equal(reader.finished, false);
    assert.deepEqual((await reader.end()).map((e) => e.type), ["done"]);
    assert.equal(reader.finished, true);
  },
});

Deno.test({
  ...none,
  name: "ResponseReader.end() refuses a forged final chunk and stays unfinished",
  async fn() {
    const { reader, sealer, nonce } = await _pair();
    const [nonceBytes, first] = await _sealed(sealer, nonce, [[{ type: "text", delta: "a" }]]);
    await reader.push(nonceBytes);
    assert.deepEqual(await reader.push(first), [{ type: "text", delta: "a" }]);
    await reader.push(frameChunk(crypto.getRandomValues(new Uint8Array(CHUNK + 16)), true));
    await assert.rejects(reader.end(), tampered);
    assert.equal(reader.finished, false);
  },
});

Deno.test({
  ...none,
  name: "ResponseReader refuses everything after a failed chunk, even genuine data",
  async fn() {
    const { reader, sealer, nonce } = await _pair();
    const parts = await _sealed(sealer, nonce, [[{ type: "text", delta: "a" }], [{
      type: "text",
      delta: "b",
    }]]);
    await reader.push(parts[0]);
    const forged = frameChunk(crypto.getRandomValues(new Uint8Array(CHUNK + 16)), false);
    await assert.rejects(reader.push(forged), tampered);
    await assert.rejects(reader.push(parts[1]), tampered);
    await assert.rejects(reader.end(), tampered);
  },
});

Deno.test({
  ...none,
  name: "ResponseReader.end() reports a stream without a final chunk as truncated",
  async fn() {
    const { reader, sealer, nonce } = await _pair();
    // The seal stage ends an unterminated source with a sealed error in a final chunk: drop that chunk.
    const parts = await _sealed(sealer, nonce, [[{ type: "text", delta: "a" }]]);
    for (const part of parts.slice(0, -1)) await reader.push(part);
    await assert.rejects(
      reader.end(),
      (e) => e instanceof ResponseIntegrityError && e.reason === "truncated",
    );
  },
});

Deno.test({
  ...none,
  name: "ResponseReader refuses a final chunk whose Binary HTTP message is not complete",
  async fn() {
    const { reader, sealer, nonce } = await _pair();
    // Head and one content chunk, then a final chunk that never closes the content.
    const head = new Uint8Array([3, 0x40, 200, 0]);
    const body = new TextEncoder().encode('data: {"type":"text","delta":"x"}\n\n');
    await reader.push(nonce);
    await reader.push(
      frameChunk(
        sealer.seal(new Uint8Array([...head, ...encodeVarint(body.byteLength), ...body]), false),
        false,
      ),
    );
    await reader.push(frameChunk(sealer.seal(new Uint8Array(0), true), true));
    await assert.rejects(
      reader.end(),
      (e) => e instanceof ResponseIntegrityError && e.reason === "truncated",
    );
  },
});

Deno.test({
  ...none,
  name: "ChunkCipher.open() leaves the stream unfinished when the final chunk fails",
  async fn() {
    const { secret, enc, nonce } = await _pair();
    const opener = await ChunkCipher.derive(AEAD, secret, enc, nonce);
    assert.throws(() => opener.open(new Uint8Array(CHUNK + 16), true), /invalid tag/);
    assert.equal(opener.finished, false);
  },
});

Deno.test({
  ...none,
  name: "ResponseReader never delivers a terminal event before end(), whatever chunk it lands in",
  async fn() {
    // For some lengths the terminal event fills a non-final chunk and the final chunk is only padding
    // (review of protocol v2): `done` must still wait for the final chunk.
    for (let k = 0; k < 3 * CHUNK; k++) {
      const { reader, sealer, nonce } = await _pair();
      const parts = await _sealed(sealer, nonce, [[{ type: "text", delta: "x".repeat(k) }, {
        type: "done",
        finish_reason: "stop",
        usage: { prompt_tokens: 1, completion_tokens: 1 },
      }]]);
      const early: ChatEvent[] = [];
      for (const part of parts) early.push(...await reader.push(part));
      assert.ok(early.every((e) => e.type === "text"), `length ${k}: ${early.map((e) => e.type)}`);
      assert.deepEqual((await reader.end()).map((e) => e.type).at(-1), "done", `length ${k}`);
    }
  },
});
