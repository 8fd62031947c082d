/** Pure crypto and framing units; no permissions. */
import assert from "node:assert/strict";
import {
  AEAD_CHACHA20_POLY1305,
  ChunkCipher,
  decodeKeyConfig,
  decodeKeySet,
  encodeKeyConfig,
  encodeKeySet,
  fromBase64Url,
  generateIdentity,
  KEM_X25519,
  KEM_XWING,
  KeyRing,
  signKeySet,
  toBase64Url,
  verifyKeySet,
} from "../../src/crypto/mod.ts";
import { decodeVarint, encodeVarint, padToBucket, requestBucket } from "../../src/protocol/mod.ts";

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
    const algorithms = [{ kdfId: 1, aeadId: 1 }, { kdfId: 1, aeadId: 3 }];
    const config = encodeKeyConfig({ keyId: 9, kemId: KEM_X25519, publicKey: pk, algorithms });
    assert.equal(config.byteLength, 45);
    assert.deepEqual([...config.slice(0, 3)], [9, 0x00, 0x20]);
    assert.deepEqual([...config.slice(35)], [0, 8, 0, 1, 0, 1, 0, 1, 0, 3]);
    assert.deepEqual(decodeKeyConfig(config), { keyId: 9, kemId: KEM_X25519, publicKey: pk, algorithms });
    assert.equal(decodeKeyConfig(config.slice(0, 44)), undefined);
  },
});

Deno.test({
  ...none,
  name: "decodeKeyConfig() sizes an X-Wing public key as 1216 bytes and refuses unknown KEMs",
  fn() {
    const pk = new Uint8Array(1216).fill(1);
    const algorithms = [{ kdfId: 1, aeadId: AEAD_CHACHA20_POLY1305 }];
    const config = encodeKeyConfig({ keyId: 2, kemId: KEM_XWING, publicKey: pk, algorithms });
    assert.deepEqual([...config.slice(0, 3)], [2, 0x64, 0x7a]);
    assert.equal(decodeKeyConfig(config)?.publicKey.byteLength, 1216);
    const unknown = config.slice();
    unknown[2] = 0x7b;
    assert.equal(decodeKeyConfig(unknown), undefined);
    assert.throws(() =>
      encodeKeyConfig({ keyId: 2, kemId: KEM_XWING, publicKey: pk.slice(0, 32), algorithms })
    );
  },
});

Deno.test({
  ...none,
  name: "encodeVarint() and decodeVarint() follow RFC 9000 §16 at every length boundary",
  fn() {
    const cases: [number, string][] = [
      [0, "00"],
      [63, "3f"],
      [64, "4040"],
      [16383, "7fff"],
      [16384, "80004000"],
      [1073741823, "bfffffff"],
      [1073741824, "c000000040000000"],
    ];
    for (const [value, hex] of cases) {
      const bytes = encodeVarint(value);
      assert.equal([...bytes].map((b) => b.toString(16).padStart(2, "0")).join(""), hex, String(value));
      assert.deepEqual(decodeVarint(bytes, 0), { value, next: bytes.byteLength });
      assert.equal(decodeVarint(bytes.slice(0, -1), 0), undefined, "short input");
    }
    // RFC 9000 §16 allows non-minimal encodings: 0x4025 is 37.
    assert.deepEqual(decodeVarint(new Uint8Array([0x40, 0x25]), 0), { value: 37, next: 2 });
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
      config: encodeKeyConfig({
        keyId: 1,
        kemId: KEM_X25519,
        publicKey: new Uint8Array(32),
        algorithms: [{ kdfId: 1, aeadId: 3 }],
      }),
    }], "token");
    const signature = await signKeySet(identity, keyset);
    const verified = await verifyKeySet(identity.publicKey, keyset, signature);
    assert.equal(verified?.entries.length, 1);
    // The auth mode is signed: byte 9 (after format and issued_at); flipping it (token → device) breaks
    // the signature, and an unknown mode is refused even when signed.
    assert.equal(verified?.auth, "token");
    assert.equal(keyset[9], 1);
    const downgraded = keyset.slice();
    downgraded[9] = 0;
    assert.equal(await verifyKeySet(identity.publicKey, downgraded, signature), undefined);
    assert.equal(decodeKeySet(downgraded)?.auth, "device", "the decoder reads the byte it is given");
    const unknown = keyset.slice();
    unknown[9] = 2;
    assert.equal(
      await verifyKeySet(identity.publicKey, unknown, await signKeySet(identity, unknown)),
      undefined,
    );
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
    const interval = 100;
    const ring = await KeyRing.generate(1000, interval);
    // One X25519 and one X-Wing key per generation.
    assert.deepEqual(ring.keys.map((k) => k.kemId), [KEM_X25519, KEM_XWING, KEM_X25519, KEM_XWING]);
    const [first, , second] = ring.keys.map((k) => k.keyId);
    assert.ok(ring.lookup(first, 1000) && ring.lookup(second, 1000));
    assert.equal(await ring.rotateIfDue(1050, interval), false);
    assert.equal(await ring.rotateIfDue(1100, interval), true);
    const third = ring.keys.at(-1)!.keyId;
    assert.ok(ring.lookup(first, 1150) && ring.lookup(second, 1150) && ring.lookup(third, 1150));
    await ring.rotateIfDue(1201, interval);
    assert.equal(ring.lookup(first, 1201), undefined, "first key retired after its window");
    assert.ok(ring.lookup(second, 1201));
    assert.equal(new Set(ring.keys.map((k) => k.keyId)).size, ring.keys.length, "key ids unique");
  },
});

Deno.test({
  ...none,
  name: "ChunkCipher opens chunks only in order, with the right final flag, and only once",
  async fn() {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const enc = crypto.getRandomValues(new Uint8Array(32));
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const sealer = await ChunkCipher.derive(AEAD_CHACHA20_POLY1305, secret, enc, nonce);
    const a = sealer.seal(new Uint8Array([1]), false);
    const b = sealer.seal(new Uint8Array([2]), true);
    assert.throws(() => sealer.seal(new Uint8Array([3]), false), /^Error: Response already finished$/);
    const opener = await ChunkCipher.derive(AEAD_CHACHA20_POLY1305, secret, enc, nonce);
    // The AEAD's own failure ("invalid tag") is the only acceptable reason for each refusal below.
    const badTag = /invalid tag/;
    const outOfOrder = await ChunkCipher.derive(AEAD_CHACHA20_POLY1305, secret, enc, nonce);
    assert.throws(() => outOfOrder.open(b, true), badTag, "out of order");
    const wrongFinal = await ChunkCipher.derive(AEAD_CHACHA20_POLY1305, secret, enc, nonce);
    assert.throws(() => wrongFinal.open(a, true), badTag, "wrong final flag");
    assert.deepEqual([...await opener.open(a, false)], [1]);
    assert.deepEqual([...await opener.open(b, true)], [2]);
    assert.throws(() => opener.open(b, true), /^Error: Response already finished$/, "only once");
    const otherEnc = await ChunkCipher.derive(
      AEAD_CHACHA20_POLY1305,
      secret,
      crypto.getRandomValues(new Uint8Array(32)),
      nonce,
    );
    assert.throws(() => otherEnc.open(a, false), badTag, "keys bind enc");
  },
});

Deno.test({
  ...none,
  name: "padToBucket() pads a Binary HTTP message with zero bytes to power-of-two buckets",
  fn() {
    assert.equal(requestBucket(0), 1024);
    assert.equal(requestBucket(1024), 1024);
    assert.equal(requestBucket(1025), 2048);
    const padded = padToBucket(new Uint8Array(1500).fill(7));
    assert.equal(padded.byteLength, 2048);
    assert.ok(padded.subarray(1500).every((b) => b === 0));
  },
});
