/** The gateway's native AEADs against hpke-js's and RFC 8439's vector; no permissions. */
import assert from "node:assert/strict";
import { AEAD_AES_128_GCM, AEAD_CHACHA20_POLY1305, createAead, fromHex } from "../../src/crypto/mod.ts";
import { NativeAead } from "../../src/crypto/native_aead.ts";

const none = { permissions: "none" as const };
const _ids = [AEAD_AES_128_GCM, AEAD_CHACHA20_POLY1305];
const _random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const label = (id: number, pt: number, aad: number) => `aead ${id}, ${pt} bytes, aad ${aad}`;

Deno.test({
  ...none,
  name: "NativeAead seals exactly as hpke-js's AEAD, and each opens the other's",
  async fn() {
    for (const id of _ids) {
      const native = new NativeAead(id);
      for (const [ptLength, aadLength] of [[0, 0], [1, 0], [16, 5], [17, 0], [512, 0], [1000, 13]]) {
        const key = _random(native.keySize);
        const nonce = _random(native.nonceSize);
        const plaintext = _random(ptLength);
        const aad = _random(aadLength);
        const theirs = createAead(id).createEncryptionContext(key.slice().buffer);
        const mine = native.createEncryptionContext(key);
        // The context took the key: the caller's bytes are zeroed.
        assert.ok(key.every((b) => b === 0), label(id, ptLength, aadLength));
        const sealed = mine.sealSync(nonce, plaintext, aad);
        const expected = new Uint8Array(
          await theirs.seal(nonce.slice().buffer, plaintext.slice().buffer, aad.slice().buffer),
        );
        const where = label(id, ptLength, aadLength);
        assert.deepEqual(sealed, expected, where);
        // A buffer of its own, exactly the result (node may hand out views of a shared pool).
        assert.equal(sealed.byteOffset, 0, where);
        assert.equal(sealed.buffer.byteLength, ptLength + 16, where);
        assert.deepEqual(mine.openSync(nonce, expected, aad), plaintext, where);
        assert.deepEqual(
          new Uint8Array(await theirs.open(nonce.slice().buffer, sealed.slice().buffer, aad.slice().buffer)),
          plaintext,
          where,
        );
        assert.deepEqual(new Uint8Array(await mine.open(nonce, sealed, aad)), plaintext, where);
      }
    }
  },
});

Deno.test({
  ...none,
  name: "NativeAead gives RFC 8439 §2.8.2's ChaCha20-Poly1305 ciphertext and tag",
  fn() {
    const key = fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    const nonce = fromHex("070000004041424344454647");
    const aad = fromHex("50515253c0c1c2c3c4c5c6c7");
    const plaintext = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const sealed = new NativeAead(AEAD_CHACHA20_POLY1305).createEncryptionContext(key).sealSync(
      nonce,
      plaintext,
      aad,
    );
    assert.equal(Buffer.from(sealed.subarray(0, 16)).toString("hex"), "d31a8d34648e60db7b86afbc53ef7ec2");
    assert.equal(Buffer.from(sealed.subarray(-16)).toString("hex"), "1ae10b594f09e26a7e902ecbd0600691");
  },
});

Deno.test({
  ...none,
  name: "NativeAead refuses any altered byte, a wrong AAD or nonce, and bad lengths",
  fn() {
    for (const id of _ids) {
      const native = new NativeAead(id);
      const context = native.createEncryptionContext(_random(native.keySize));
      const nonce = _random(native.nonceSize);
      const aad = _random(4);
      const sealed = context.sealSync(nonce, _random(40), aad);
      const invalid = /^Error: AEAD open failed: invalid tag$/;
      for (const at of [0, 39, 40, 55]) {
        const altered = sealed.slice();
        altered[at] ^= 1;
        assert.throws(() => context.openSync(nonce, altered, aad), invalid, `aead ${id}, byte ${at}`);
      }
      assert.throws(() => context.openSync(nonce, sealed, _random(4)), invalid, `aead ${id}, aad`);
      assert.throws(
        () => context.openSync(_random(native.nonceSize), sealed, aad),
        invalid,
        `aead ${id}, nonce`,
      );
      assert.throws(() => context.openSync(nonce, sealed.subarray(0, 15), aad), /shorter than its tag/);
      assert.throws(() => context.openSync(nonce.subarray(1), sealed, aad), RangeError);
      assert.throws(() => native.createEncryptionContext(_random(native.keySize - 1)), RangeError);
    }
    assert.throws(() => new NativeAead(0xffff), RangeError);
  },
});

Deno.test({
  ...none,
  name:
    "NativeAead opens a large AES-128-GCM request off the event loop, as strictly, and dispose() zeroes the key",
  async fn() {
    const native = new NativeAead(AEAD_AES_128_GCM);
    const key = _random(16);
    const zero = native.createEncryptionContext(new Uint8Array(16));
    const context = native.createEncryptionContext(key.slice());
    const nonce = _random(12);
    const aad = _random(3);
    // Above the synchronous limit (16 KiB): WebCrypto opens it; the result and the refusals are the same.
    const plaintext = _random(64 * 1024);
    const sealed = context.sealSync(nonce, plaintext, aad);
    assert.deepEqual(new Uint8Array(await context.open(nonce, sealed, aad)), plaintext);
    const altered = sealed.slice();
    altered[40_000] ^= 1;
    await assert.rejects(context.open(nonce, altered, aad), /^Error: AEAD open failed: invalid tag$/);
    await assert.rejects(context.open(nonce, sealed, _random(3)), /^Error: AEAD open failed: invalid tag$/);
    await assert.rejects(context.open(nonce.subarray(1), sealed, aad), RangeError);
    // After dispose() the context seals as under an all-zero key: its copy of the key is gone.
    context.dispose();
    assert.deepEqual(
      context.sealSync(nonce, plaintext.subarray(0, 32), aad),
      zero.sealSync(nonce, plaintext.subarray(0, 32), aad),
    );
  },
});
