/** Weak Ed25519 public keys (security review item 6): small-order and non-canonical keys are refused. */
import assert from "node:assert/strict";
import { generateIdentity, isAcceptableEd25519PublicKey, utf8 } from "../../src/crypto/mod.ts";
import { deviceProofMessage, verifyDeviceProof } from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };

function _hex(text: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(text.match(/../g)!.map((h) => parseInt(h, 16)));
}

/** The small-order encodings with both signs of x (libsodium's blacklist, sign bit set and clear). */
const SMALL_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
].flatMap((h) => [h, h.slice(0, 62) + (parseInt(h.slice(62), 16) | 0x80).toString(16)]);

Deno.test({
  ...none,
  name: "verifyDeviceProof() refuses a small-order device key whose one signature fits every request",
  async fn() {
    // A = identity point, R = identity, S = 0: [S]B = R + [k]A holds for every message k.
    const identityPoint = _hex(SMALL_ORDER[2]);
    const forged = new Uint8Array(64);
    forged.set(identityPoint, 0);
    for (const header of [utf8("request one"), utf8("request two")]) {
      assert.equal(await verifyDeviceProof(identityPoint, forged, header, new Uint8Array(32)), false);
    }
  },
});

for (const hex of SMALL_ORDER) {
  Deno.test({
    ...none,
    name: `isAcceptableEd25519PublicKey() refuses the small-order point ${hex.slice(0, 8)}…${hex.slice(-2)}`,
    fn() {
      assert.equal(isAcceptableEd25519PublicKey(_hex(hex)), false);
    },
  });
}

Deno.test({
  ...none,
  name: "isAcceptableEd25519PublicKey() refuses every non-canonical y ≥ p",
  fn() {
    for (let low = 0xed; low <= 0xff; low++) {
      const key = new Uint8Array(32).fill(0xff);
      key[0] = low;
      key[31] = 0x7f;
      assert.equal(isAcceptableEd25519PublicKey(key), false, `y = p + ${low - 0xed}`);
      key[31] = 0xff;
      assert.equal(isAcceptableEd25519PublicKey(key), false, `y = p + ${low - 0xed}, sign bit set`);
    }
  },
});

Deno.test({
  ...none,
  name: "isAcceptableEd25519PublicKey() accepts real keys and y = p − 2, and refuses wrong lengths",
  async fn() {
    for (let i = 0; i < 8; i++) {
      assert.equal(isAcceptableEd25519PublicKey((await generateIdentity()).identity.publicKey), true);
    }
    const below = new Uint8Array(32).fill(0xff);
    below[0] = 0xeb;
    below[31] = 0x7f;
    assert.equal(isAcceptableEd25519PublicKey(below), true, "canonical y just below p is not refused");
    assert.equal(isAcceptableEd25519PublicKey(new Uint8Array(31).fill(9)), false);
    assert.equal(isAcceptableEd25519PublicKey(new Uint8Array(33).fill(9)), false);
  },
});

Deno.test({
  ...none,
  name: "verifyDeviceProof() still accepts a real device's signature",
  async fn() {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const header = utf8("header");
    const enc = new Uint8Array(32).fill(3);
    const signature = new Uint8Array(
      await crypto.subtle.sign("Ed25519", pair.privateKey, deviceProofMessage(header, enc)),
    );
    assert.equal(await verifyDeviceProof(publicKey, signature, header, enc), true);
    assert.equal(await verifyDeviceProof(publicKey, signature, utf8("other"), enc), false);
  },
});
