/** ResponseReader and ChunkCipher end-of-stream state (security review item 7); no permissions. */
import assert from "node:assert/strict";
import { ChunkCipher, toBase64Url, utf8 } from "../../src/crypto/mod.ts";
import { padChunk, ResponseIntegrityError, ResponseReader } from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };
const CHUNK = 128;

async function _pair() {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const enc = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const sealer = await ChunkCipher.derive(secret, enc, nonce);
  const reader = new ResponseReader((n) => ChunkCipher.derive(secret, enc, n));
  await reader.push("nonce", toBase64Url(nonce));
  const seal = async (line: string, final: boolean) =>
    toBase64Url(await sealer.seal(padChunk(utf8(line), CHUNK), final));
  return { reader, seal, secret, enc, nonce };
}

Deno.test({
  ...none,
  name: "ResponseReader.end() reports truncation after a forged final chunk failed to open",
  async fn() {
    const { reader, seal } = await _pair();
    assert.deepEqual(await reader.push("chunk", await seal('{"type":"delta","text":"a"}\n', false)), [
      { type: "delta", text: "a" },
    ]);
    const forged = toBase64Url(crypto.getRandomValues(new Uint8Array(CHUNK + 16)));
    await assert.rejects(
      reader.push("final", forged),
      (e) => e instanceof ResponseIntegrityError && e.reason === "tampered",
    );
    assert.equal(reader.finished, false);
    assert.throws(() => reader.end(), (e) => e instanceof ResponseIntegrityError && e.reason === "truncated");
  },
});

Deno.test({
  ...none,
  name: "ResponseReader refuses the genuine final chunk after a forged one failed",
  async fn() {
    const { reader, seal } = await _pair();
    const genuine = await seal('{"type":"done"}\n', true);
    await assert.rejects(
      reader.push("final", toBase64Url(new Uint8Array(CHUNK + 16))),
      ResponseIntegrityError,
    );
    await assert.rejects(
      reader.push("final", genuine),
      (e) => e instanceof ResponseIntegrityError && e.reason === "tampered",
    );
    assert.equal(reader.finished, false);
  },
});

Deno.test({
  ...none,
  name: "ResponseReader.finished turns true only once the final chunk authenticated",
  async fn() {
    const { reader, seal } = await _pair();
    assert.equal(reader.finished, false);
    assert.deepEqual(await reader.push("final", await seal('{"type":"done"}\n', true)), [{ type: "done" }]);
    assert.equal(reader.finished, true);
    reader.end();
  },
});

Deno.test({
  ...none,
  name: "ChunkCipher.open() leaves the stream unfinished when the final chunk fails",
  async fn() {
    const { secret, enc, nonce } = await _pair();
    const opener = await ChunkCipher.derive(secret, enc, nonce);
    await assert.rejects(opener.open(new Uint8Array(CHUNK + 16), true), /invalid tag/);
    assert.equal(opener.finished, false);
  },
});
