/** HPKE private keys stay inside WebCrypto (security review item 8); no permissions. */
import assert from "node:assert/strict";
import { createSuite, KeyRing, makeHpkeKey, utf8 } from "../../src/crypto/mod.ts";
import { openRequest, padRequest, sealRequest, splitRequest } from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };
const suite = createSuite();

async function _assertNotExportable(key: CryptoKey): Promise<void> {
  assert.equal(key.extractable, false);
  const refused = (e: unknown) => e instanceof DOMException && e.name === "InvalidAccessError";
  await assert.rejects(crypto.subtle.exportKey("pkcs8", key), refused, "pkcs8");
  await assert.rejects(crypto.subtle.exportKey("jwk", key), refused, "jwk");
}

Deno.test({
  ...none,
  name: "KeyRing.generate() holds private keys that exportKey() refuses",
  async fn() {
    const ring = await KeyRing.generate(suite, 1000, 100);
    assert.equal(ring.keys.length, 2);
    for (const key of ring.keys) await _assertNotExportable(key.pair.privateKey);
  },
});

Deno.test({
  ...none,
  name: "makeHpkeKey() makes a key derived from a shared seed non-extractable",
  async fn() {
    const pair = await suite.kem.deriveKeyPair(new Uint8Array(32).fill(5).buffer);
    const key = await makeHpkeKey(suite, pair, 7, 0, 10);
    await _assertNotExportable(key.pair.privateKey);
    // The same seed still yields the same public key: instances sharing a keys file agree.
    const again = await makeHpkeKey(
      suite,
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
  name: "openRequest() opens a request without exporting any private key",
  async fn() {
    const ring = await KeyRing.generate(suite, 1000, 100);
    const key = ring.keys[0];
    const sealed = await sealRequest(
      suite,
      { keyId: key.keyId, publicKey: key.publicKey },
      padRequest(utf8('{"messages":[]}')),
      { timestamp: 1000, requestId: new Uint8Array(16).fill(1) },
    );
    const original = crypto.subtle.exportKey;
    const exported: string[] = [];
    // deno-lint-ignore no-explicit-any
    (crypto.subtle as any).exportKey = (format: string, k: CryptoKey) => {
      if (k.type === "private") exported.push(format);
      // deno-lint-ignore no-explicit-any
      return (original as any).call(crypto.subtle, format, k);
    };
    try {
      const opened = await openRequest(suite, ring, splitRequest(sealed.body), 1000);
      assert.equal(opened.padded.byteLength, 1024);
    } finally {
      crypto.subtle.exportKey = original;
    }
    assert.deepEqual(exported, []);
  },
});
