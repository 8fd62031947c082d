/**
 * HPKE private keys stay inside WebCrypto where WebCrypto has the key type (security review item 8): X25519
 * keys are non-extractable. X-Wing keys are hpke-js objects holding a seed (ML-KEM has no WebCrypto key
 * type); they stay in memory only and are never exported by opening a request. No permissions.
 */
import assert from "node:assert/strict";
import { KEM_X25519, KEM_XWING, kemSuite, KeyRing, makeHpkeKey } from "../../src/crypto/mod.ts";
import { openRequest, sealRequest, splitRequest } from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };
const suite = kemSuite(KEM_X25519);

async function _assertNotExportable(key: CryptoKey): Promise<void> {
  assert.equal(key.extractable, false);
  const refused = (e: unknown) => e instanceof DOMException && e.name === "InvalidAccessError";
  await assert.rejects(crypto.subtle.exportKey("pkcs8", key), refused, "pkcs8");
  await assert.rejects(crypto.subtle.exportKey("jwk", key), refused, "jwk");
}

Deno.test({
  ...none,
  name: "KeyRing.generate() holds X25519 private keys that exportKey() refuses",
  async fn() {
    const ring = await KeyRing.generate(1000, 100);
    const x25519 = ring.keys.filter((k) => k.kemId === KEM_X25519);
    assert.equal(x25519.length, 2);
    for (const key of x25519) await _assertNotExportable(key.pair.privateKey);
  },
});

Deno.test({
  ...none,
  name: "makeHpkeKey() makes an X25519 key derived from a shared seed non-extractable",
  async fn() {
    const pair = await suite.kem.deriveKeyPair(new Uint8Array(32).fill(5).buffer);
    const key = await makeHpkeKey(KEM_X25519, pair, 7, 0, 10);
    await _assertNotExportable(key.pair.privateKey);
    // The same seed still yields the same public key: instances sharing a keys file agree.
    const again = await makeHpkeKey(
      KEM_X25519,
      await suite.kem.deriveKeyPair(new Uint8Array(32).fill(5).buffer),
      7,
      0,
      10,
    );
    assert.deepEqual(again.publicKey, key.publicKey);
  },
});

Deno.test({
  ...none,
  name: "makeHpkeKey() derives the same X-Wing key from the same seed",
  async fn() {
    const xwing = kemSuite(KEM_XWING);
    const seed = () => new Uint8Array(32).fill(9).buffer;
    const a = await makeHpkeKey(KEM_XWING, await xwing.kem.deriveKeyPair(seed()), 1, 0, 10);
    const b = await makeHpkeKey(KEM_XWING, await xwing.kem.deriveKeyPair(seed()), 1, 0, 10);
    assert.equal(a.publicKey.byteLength, 1216);
    assert.deepEqual(a.publicKey, b.publicKey);
  },
});

for (const kemId of [KEM_X25519, KEM_XWING]) {
  Deno.test({
    ...none,
    name: `openRequest() opens a ${
      kemId === KEM_XWING ? "X-Wing" : "X25519"
    } request without exporting any private key`,
    async fn() {
      const ring = await KeyRing.generate(1000, 100);
      const key = ring.keys.find((k) => k.kemId === kemId)!;
      const sealed = await sealRequest(key, new Uint8Array(1024).fill(1), { chunked: true, aeadId: 3 });
      const original = crypto.subtle.exportKey;
      const exported: string[] = [];
      // deno-lint-ignore no-explicit-any
      (crypto.subtle as any).exportKey = (format: string, k: CryptoKey) => {
        if (k.type === "private") exported.push(format);
        // deno-lint-ignore no-explicit-any
        return (original as any).call(crypto.subtle, format, k);
      };
      try {
        const opened = await openRequest(ring, splitRequest(sealed.body, true), 1000);
        assert.equal(opened.plaintext.byteLength, 1024);
      } finally {
        crypto.subtle.exportKey = original;
      }
      assert.deepEqual(exported, []);
    },
  });
}
