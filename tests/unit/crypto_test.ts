/** Pure crypto and framing units; no permissions. */
import assert from "node:assert/strict";
import {
  ChunkCipher,
  createSuite,
  decodeKeyConfig,
  encodeKeyConfig,
  encodeKeySet,
  fromBase64Url,
  generateIdentity,
  KeyRing,
  signKeySet,
  toBase64Url,
  verifyKeySet,
} from "../../src/crypto/mod.ts";
import {
  GatewayError,
  padChunk,
  padRequest,
  requestBucket,
  unpadChunk,
  unpadRequest,
} from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };

Deno.test({
  ...none,
  name: "toBase64Url()/fromBase64Url() round-trip every length and refuse non-canonical text",
  fn() {
    for (let n = 0; n < 40; n++) {
      const bytes = crypto.getRandomValues(new Uint8Array(n));
      assert.deepEqual(fromBase64Url(toBase64Url(bytes)), bytes);
    }
    assert.equal(fromBase64Url("ab+c"), undefined);
    assert.equal(fromBase64Url("abc="), undefined);
    assert.equal(fromBase64Url("a"), undefined);
    assert.equal(fromBase64Url("AB"), undefined, "non-zero trailing bits");
  },
});

Deno.test({
  ...none,
  name: "encodeKeyConfig() follows RFC 9458 §3 and decodeKeyConfig() reverses it",
  fn() {
    const pk = new Uint8Array(32).fill(7);
    const config = encodeKeyConfig(9, pk);
    assert.equal(config.byteLength, 41);
    assert.deepEqual([...config.slice(0, 3)], [9, 0x00, 0x20]);
    assert.deepEqual([...config.slice(35)], [0, 4, 0, 1, 0, 3]);
    assert.deepEqual(decodeKeyConfig(config)?.publicKey, pk);
    assert.equal(decodeKeyConfig(config.slice(0, 40)), undefined);
  },
});

Deno.test({
  ...none,
  name: "verifyKeySet() accepts a signed key set and refuses one flipped bit anywhere",
  async fn() {
    const { identity } = await generateIdentity();
    const keyset = encodeKeySet(1000, [{
      notBefore: 1000,
      notAfter: 2000,
      config: encodeKeyConfig(1, new Uint8Array(32)),
    }]);
    const signature = await signKeySet(identity, keyset);
    assert.equal((await verifyKeySet(identity.publicKey, keyset, signature))?.entries.length, 1);
    for (let i = 0; i < keyset.byteLength; i += 7) {
      const tampered = keyset.slice();
      tampered[i] ^= 1;
      assert.equal(await verifyKeySet(identity.publicKey, tampered, signature), undefined, `byte ${i}`);
    }
    const other = await generateIdentity();
    assert.equal(await verifyKeySet(other.identity.publicKey, keyset, signature), undefined);
  },
});

Deno.test({
  ...none,
  name: "KeyRing rotates with overlap: previous, current and next are accepted, older ones retired",
  async fn() {
    const suite = createSuite();
    const interval = 100;
    const ring = await KeyRing.generate(suite, 1000, interval);
    const [first, second] = ring.keys.map((k) => k.keyId);
    assert.ok(ring.lookup(first, 1000) && ring.lookup(second, 1000));
    assert.equal(await ring.rotateIfDue(suite, 1050, interval), false);
    assert.equal(await ring.rotateIfDue(suite, 1100, interval), true);
    const third = ring.keys.at(-1)!.keyId;
    assert.ok(ring.lookup(first, 1150) && ring.lookup(second, 1150) && ring.lookup(third, 1150));
    await ring.rotateIfDue(suite, 1201, interval);
    assert.equal(ring.lookup(first, 1201), undefined, "first key retired after its window");
    assert.ok(ring.lookup(second, 1201));
  },
});

Deno.test({
  ...none,
  name: "ChunkCipher opens chunks only in order, with the right final flag, and only once",
  async fn() {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const enc = crypto.getRandomValues(new Uint8Array(32));
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const sealer = await ChunkCipher.derive(secret, enc, nonce);
    const a = await sealer.seal(new Uint8Array([1]), false);
    const b = await sealer.seal(new Uint8Array([2]), true);
    await assert.rejects(sealer.seal(new Uint8Array([3]), false), /^Error: Response already finished$/);
    const opener = await ChunkCipher.derive(secret, enc, nonce);
    // The AEAD's own failure ("invalid tag") is the only acceptable reason for each refusal below.
    const badTag = /invalid tag/;
    await assert.rejects(
      (await ChunkCipher.derive(secret, enc, nonce)).open(b, true),
      badTag,
      "out of order",
    );
    await assert.rejects(
      (await ChunkCipher.derive(secret, enc, nonce)).open(a, true),
      badTag,
      "wrong final flag",
    );
    assert.deepEqual([...await opener.open(a, false)], [1]);
    assert.deepEqual([...await opener.open(b, true)], [2]);
    await assert.rejects(opener.open(b, true), /^Error: Response already finished$/, "only once");
    const otherEnc = await ChunkCipher.derive(secret, crypto.getRandomValues(new Uint8Array(32)), nonce);
    await assert.rejects(otherEnc.open(a, false), badTag, "keys bind enc");
  },
});

Deno.test({
  ...none,
  name: "padRequest() pads to power-of-two buckets and unpadRequest() checks every byte",
  fn() {
    assert.equal(requestBucket(0), 1024);
    assert.equal(requestBucket(1020), 1024);
    assert.equal(requestBucket(1021), 2048);
    const padded = padRequest(new Uint8Array([1, 2, 3]));
    assert.equal(padded.byteLength, 1024);
    assert.deepEqual([...unpadRequest(padded)], [1, 2, 3]);
    const bad = padded.slice();
    bad[500] = 1;
    const invalidPadding = (e: unknown) =>
      e instanceof GatewayError && e.code === "invalid_padding" && e.status === 400;
    assert.throws(() => unpadRequest(bad), invalidPadding);
    assert.throws(() => unpadRequest(padded.slice(0, 1000)), invalidPadding, "not a bucket size");
  },
});

Deno.test({
  ...none,
  name: "padChunk() pads to the fixed size and unpadChunk() refuses non-zero padding",
  fn() {
    const chunk = padChunk(new Uint8Array([9, 9]), 64);
    assert.equal(chunk.byteLength, 64);
    assert.deepEqual([...unpadChunk(chunk)], [9, 9]);
    chunk[63] = 1;
    assert.throws(() => unpadChunk(chunk), (e) => e instanceof GatewayError && e.code === "invalid_padding");
    assert.throws(
      () => padChunk(new Uint8Array(63), 64),
      /^RangeError: Chunk payload exceeds the chunk size$/,
    );
  },
});
