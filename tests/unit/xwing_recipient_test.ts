/**
 * The gateway's X-Wing decapsulation (src/crypto/xwing_recipient.ts: cached key expansion, the runtime's
 * native X25519, ML-KEM's matrix Â kept per key) must compute exactly the library's X-Wing: same shared secret for honest ciphertexts, and the same
 * result for tampered ones (ML-KEM's implicit rejection, a changed X25519 share). No permissions.
 */
import assert from "node:assert/strict";
import { XWing } from "@hpke/hybridkem-x-wing";
import { XWingRecipient } from "../../src/crypto/xwing_recipient.ts";

const none = { permissions: "none" as const };

async function _case(recipient: XWingRecipient, library: XWing, pair: CryptoKeyPair, tamper?: number) {
  const { enc } = await library.encap({ recipientPublicKey: pair.publicKey });
  const bytes = new Uint8Array(enc);
  if (tamper !== undefined) bytes[tamper] ^= 0x01;
  const expected = new Uint8Array(await library.decap({ enc: bytes.slice().buffer, recipientKey: pair }));
  const actual = new Uint8Array(await recipient.decap({ enc: bytes.slice().buffer, recipientKey: pair }));
  assert.deepEqual(actual, expected);
}

Deno.test({
  ...none,
  name: "XWingRecipient.decap() equals the library's X-Wing decapsulation, key reused across requests",
  async fn() {
    const library = new XWing();
    const recipient = new XWingRecipient();
    const pairs = [await library.generateKeyPair(), await library.generateKeyPair()];
    for (let i = 0; i < 6; i++) await _case(recipient, library, pairs[i % 2]);
  },
});

Deno.test({
  ...none,
  name: "XWingRecipient.decap() equals the library's on a flipped ML-KEM bit and on a flipped X25519 bit",
  async fn() {
    const library = new XWing();
    const recipient = new XWingRecipient();
    const pair = await library.generateKeyPair();
    await _case(recipient, library, pair, 5); // inside ct_M: implicit rejection
    await _case(recipient, library, pair, 1088 + 3); // inside ct_X
  },
});

Deno.test({
  ...none,
  name:
    "XWingRecipient.decap() refuses a low-order X25519 share (all-zero shared secret), as the library does",
  async fn() {
    const library = new XWing();
    const recipient = new XWingRecipient();
    const pair = await library.generateKeyPair();
    await _case(recipient, library, pair); // the key's expansion is cached: the native path is taken below
    for (const u of [0, 1]) {
      const { enc } = await library.encap({ recipientPublicKey: pair.publicKey });
      const bytes = new Uint8Array(enc);
      bytes.fill(0, 1088);
      bytes[1088] = u;
      await assert.rejects(library.decap({ enc: bytes.slice().buffer, recipientKey: pair }));
      await assert.rejects(
        recipient.decap({ enc: bytes.slice().buffer, recipientKey: pair }),
        (error: Error) => /all zeros|derivation|decap/i.test(String(error.message ?? error)),
      );
    }
  },
});

Deno.test({
  ...none,
  name: "XWingRecipient.decap() follows a key rewritten in place instead of its cached expansion",
  async fn() {
    const library = new XWing();
    const recipient = new XWingRecipient();
    const a = await library.generateKeyPair();
    const b = await library.generateKeyPair();
    await _case(recipient, library, a);
    // Same key object, other seed bytes (as if a key were wiped or reloaded in place).
    const seedA = (a.privateKey as unknown as { key: Uint8Array }).key;
    seedA.set((b.privateKey as unknown as { key: Uint8Array }).key);
    const { enc } = await library.encap({ recipientPublicKey: b.publicKey });
    const expected = new Uint8Array(await library.decap({ enc, recipientKey: b }));
    const actual = new Uint8Array(await recipient.decap({ enc, recipientKey: a.privateKey }));
    assert.deepEqual(actual, expected);
  },
});

Deno.test({
  ...none,
  name:
    "XWingRecipient.decap() equals the library's for many keys and ciphertexts, honest and tampered, keys interleaved",
  async fn() {
    const library = new XWing();
    const recipient = new XWingRecipient();
    const pairs: CryptoKeyPair[] = [];
    for (let i = 0; i < 5; i++) pairs.push(await library.generateKeyPair());
    const random = new Uint32Array(64);
    crypto.getRandomValues(random);
    for (let i = 0; i < 40; i++) {
      const pair = pairs[random[i] % pairs.length];
      // Every third ciphertext has one bit flipped at a random place in ct_M (implicit rejection), one in
      // ten in ct_X; the rest are honest.
      const tamper = i % 3 === 0
        ? random[i + 1] % 1088
        : i % 10 === 1
        ? 1088 + (random[i + 1] % 32)
        : undefined;
      await _case(recipient, library, pair, tamper);
    }
  },
});

Deno.test({
  ...none,
  name: "XWingRecipient samples ML-KEM's matrix Â once per key, not on every decapsulation",
  async fn() {
    const library = new XWing();
    // The sampler of mlkem's ML-KEM class (shared prototype), counted while this test's recipient exists.
    const proto = Object.getPrototypeOf((library as unknown as { _m: object })._m);
    const owner = Object.getPrototypeOf(proto)._sampleMatrix ? Object.getPrototypeOf(proto) : proto;
    const original = owner._sampleMatrix;
    const calls = { transposed: 0, plain: 0 };
    owner._sampleMatrix = function (this: unknown, seed: Uint8Array, transposed: boolean) {
      if (transposed) calls.transposed++;
      else calls.plain++;
      return original.call(this, seed, transposed);
    };
    try {
      const recipient = new XWingRecipient();
      const a = await library.generateKeyPair();
      const b = await library.generateKeyPair();
      const encs = [];
      for (const pair of [a, b, a, b, a, b]) {
        encs.push((await library.encap({ recipientPublicKey: pair.publicKey })).enc);
      }
      const counted = { ...calls };
      for (const [i, enc] of encs.entries()) {
        await recipient.decap({ enc, recipientKey: i % 2 === 0 ? a : b });
      }
      // Two expansions (key generation's Â) and one re-encryption Â per key: 2 + 2, not 2 + 6.
      assert.deepEqual({
        transposed: calls.transposed - counted.transposed,
        plain: calls.plain - counted.plain,
      }, {
        transposed: 2,
        plain: 2,
      });
    } finally {
      owner._sampleMatrix = original;
    }
  },
});
