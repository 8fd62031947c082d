/**
 * RFC 9180 Appendix A.2 vectors (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305), base mode,
 * the only mode protocol v1 uses. Source: tests/testdata/README.md.
 */
import assert from "node:assert/strict";
import { createRecipientSuite, createSuite, fromHex, toHex } from "../../src/crypto/mod.ts";

interface Vector {
  mode: number;
  info: string;
  ikmR: string;
  ikmE: string;
  pkRm: string;
  enc: string;
  encryptions: { aad: string; ct: string; pt: string }[];
  exports: { exporter_context: string; L: number; exported_value: string }[];
}

const vectors: Vector[] = JSON.parse(
  await Deno.readTextFile(
    new URL("../testdata/rfc9180-x25519-sha256-chacha20poly1305.json", import.meta.url),
  ),
);
const base = vectors.find((v) => v.mode === 0)!;

async function contexts() {
  const suite = createSuite({ kemId: 0x0020, kdfId: 0x0001, aeadId: 0x0003 });
  const recipient = await suite.kem.deriveKeyPair(fromHex(base.ikmR).buffer);
  const ephemeral = await suite.kem.deriveKeyPair(fromHex(base.ikmE).buffer);
  const sender = await suite.createSenderContext({
    recipientPublicKey: recipient.publicKey,
    info: fromHex(base.info).buffer,
    ekm: ephemeral,
  });
  // The gateway's recipient suite (synchronous key schedule) must reproduce the vectors too.
  const ids = { kemId: 0x0020, kdfId: 0x0001, aeadId: 0x0003 };
  const receiver = await createRecipientSuite(ids).createRecipientContext({
    recipientKey: recipient,
    enc: sender.enc,
    info: fromHex(base.info).buffer,
  });
  return { suite, recipient, sender, receiver };
}

Deno.test({
  name: "HPKE deriveKeyPair() reproduces the RFC 9180 recipient public key",
  permissions: { read: true },
  async fn() {
    const { suite, recipient } = await contexts();
    assert.equal(toHex(new Uint8Array(await suite.kem.serializePublicKey(recipient.publicKey))), base.pkRm);
  },
});

Deno.test({
  name: "HPKE sender context reproduces the RFC 9180 enc",
  permissions: { read: true },
  async fn() {
    const { sender } = await contexts();
    assert.equal(toHex(new Uint8Array(sender.enc)), base.enc);
  },
});

for (const [i, vector] of base.encryptions.slice(0, 3).entries()) {
  Deno.test({
    name: `HPKE seal() matches RFC 9180 base-mode encryption #${i}, and open() reverses it`,
    permissions: { read: true },
    async fn() {
      const { sender, receiver } = await contexts();
      // Sequence numbers advance per message: replay the earlier encryptions first.
      for (const earlier of base.encryptions.slice(0, i)) {
        await sender.seal(fromHex(earlier.pt).buffer, fromHex(earlier.aad).buffer);
        await receiver.open(fromHex(earlier.ct).buffer, fromHex(earlier.aad).buffer);
      }
      const ct = new Uint8Array(await sender.seal(fromHex(vector.pt).buffer, fromHex(vector.aad).buffer));
      assert.equal(toHex(ct), vector.ct);
      const pt = new Uint8Array(await receiver.open(ct.buffer, fromHex(vector.aad).buffer));
      assert.equal(toHex(pt), vector.pt);
    },
  });
}

for (const [i, vector] of base.exports.entries()) {
  Deno.test({
    name: `HPKE export() matches RFC 9180 base-mode export #${i}`,
    permissions: { read: true },
    async fn() {
      const { sender, receiver } = await contexts();
      const context = fromHex(vector.exporter_context).buffer;
      assert.equal(toHex(new Uint8Array(await sender.export(context, vector.L))), vector.exported_value);
      assert.equal(toHex(new Uint8Array(await receiver.export(context, vector.L))), vector.exported_value);
    },
  });
}
