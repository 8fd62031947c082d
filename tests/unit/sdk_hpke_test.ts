/**
 * The app SDK's own HPKE sender (src/client/hpke.ts) and Oblivious HTTP client side (ohttp_client.ts), on
 * both crypto backends: RFC 9180 Appendix A.2 base-mode vectors, RFC 9458 Appendix A and the
 * draft-ietf-ohai-chunked-ohttp-08 example (tests/testdata/README.md), then X-Wing and AES-GCM against the
 * gateway's hpke-js, the only other implementation here.
 */
import assert from "node:assert/strict";
import { fromHex, KEM_XWING, toHex } from "../../src/crypto/mod.ts";
import { nobleCrypto } from "../../src/client/noble_crypto.ts";
import { type ClientCrypto, webCrypto } from "../../src/client/platform_crypto.ts";
import { setupBaseSender } from "../../src/client/hpke.ts";
import { prepareSeal, responseOpener, sealRequest } from "../../src/client/ohttp_client.ts";
import { ChunkedResponseOpener } from "../../src/protocol/response_reader.ts";
import { openRequest, splitRequest } from "../../src/protocol/ohttp.ts";
import { KeyRing } from "../../src/crypto/key_ring.ts";

import hpkeVectors from "../testdata/rfc9180-x25519-sha256-chacha20poly1305.json" with { type: "json" };
import rfc9458 from "../testdata/rfc9458-appendix-a.json" with { type: "json" };
import chunked from "../testdata/chunked-ohttp-08-example.json" with { type: "json" };

const base = hpkeVectors.find((v) => v.mode === 0)!;

const backends: [string, ClientCrypto][] = [["noble", nobleCrypto()], ["webcrypto", webCrypto()]];
const suite = { kemId: 0x0020, kdfId: 0x0001, aeadId: 0x0003 };

for (const [name, c] of backends) {
  const sender = () => setupBaseSender(c, suite, fromHex(base.pkRm), fromHex(base.info), fromHex(base.skEm));

  Deno.test({
    name: `setupBaseSender() (${name}) reproduces the RFC 9180 base-mode enc`,
    permissions: "none",
    async fn() {
      assert.equal(toHex((await sender()).enc), base.enc);
    },
  });

  for (const [i, vector] of base.encryptions.slice(0, 3).entries()) {
    Deno.test({
      name: `setupBaseSender().seal() (${name}) matches RFC 9180 base-mode encryption #${i}`,
      permissions: "none",
      async fn() {
        const context = await sender();
        for (const earlier of base.encryptions.slice(0, i)) {
          await context.seal(fromHex(earlier.pt), fromHex(earlier.aad));
        }
        assert.equal(toHex(await context.seal(fromHex(vector.pt), fromHex(vector.aad))), vector.ct);
      },
    });
  }

  for (const [i, vector] of base.exports.entries()) {
    Deno.test({
      name: `setupBaseSender().export() (${name}) matches RFC 9180 base-mode export #${i}`,
      permissions: "none",
      async fn() {
        const value = await (await sender()).export(fromHex(vector.exporter_context), vector.L);
        assert.equal(toHex(value), vector.exported_value);
      },
    });
  }

  Deno.test({
    name: `sealRequest() (${name}) reproduces the RFC 9458 Appendix A request and opens its response`,
    permissions: "none",
    async fn() {
      const config = fromHex(rfc9458.keyConfig);
      const key = { keyId: config[0], kemId: 0x0020, publicKey: fromHex(rfc9458.pkR) };
      const sealed = await sealRequest(c, key, fromHex(rfc9458.request), {
        chunked: false,
        aeadId: 0x0001,
        ikm: fromHex(rfc9458.skE),
      });
      assert.equal(toHex(sealed.body), rfc9458.encapsulatedRequest);
      const response = fromHex(rfc9458.encapsulatedResponse);
      const opener = await responseOpener(c, sealed, response.subarray(0, 16));
      assert.equal(toHex(await opener.open(response.slice(16), false)), rfc9458.response);
    },
  });

  Deno.test({
    name: `responseOpener() (${name}) opens the chunked-OHTTP example response, and refuses a flipped bit`,
    permissions: "none",
    async fn() {
      const config = fromHex(chunked.keyConfig);
      const key = { keyId: config[0], kemId: 0x0020, publicKey: config.slice(3, 35) };
      const sealed = await sealRequest(c, key, fromHex(chunked.request), {
        chunked: true,
        aeadId: 0x0001,
        ikm: fromHex(chunked.skE),
      });
      // Same hdr ‖ enc as the example (its request is in three chunks; the SDK sends one).
      assert.equal(toHex(sealed.body.subarray(0, 39)), chunked.encapsulatedRequest.slice(0, 78));
      const reader = new ChunkedResponseOpener(16, (nonce) => responseOpener(c, sealed, nonce));
      const body = fromHex(chunked.encapsulatedResponse);
      const parts = [...await reader.push(body), await reader.end()];
      assert.equal(parts.map(toHex).join(""), chunked.response);

      const tampered = body.slice();
      tampered[tampered.length - 1] ^= 1;
      const again = new ChunkedResponseOpener(16, (nonce) => responseOpener(c, sealed, nonce));
      await again.push(tampered);
      await assert.rejects(again.end(), { name: "ResponseIntegrityError", reason: "tampered" });
    },
  });

  for (
    const [kemId, aeadId, label] of [
      [KEM_XWING, 0x0003, "X-Wing + ChaCha20-Poly1305"],
      [0x0020, 0x0003, "X25519 + ChaCha20-Poly1305"],
      [0x0020, 0x0001, "X25519 + AES-128-GCM"],
    ] as const
  ) {
    Deno.test({
      name: `sealRequest() (${name}, ${label}) is opened by the gateway's hpke-js, both directions`,
      permissions: "none",
      async fn() {
        const ring = await KeyRing.generate(1000, 3600);
        const key = ring.keys.find((k) => k.kemId === kemId)!;
        for (const isChunked of [false, true]) {
          const sealed = await sealRequest(c, key, new Uint8Array([1, 2, 3]), { chunked: isChunked, aeadId });
          const opened = await openRequest(ring, splitRequest(sealed.body, isChunked), 1000);
          assert.deepEqual([...opened.plaintext], [1, 2, 3]);
          // Same exported response secret on both sides: the gateway's answer opens with the SDK's keys.
          const label = new TextEncoder().encode("any exporter context");
          assert.equal(
            toHex(await sealed.context.export(label, 32)),
            toHex(new Uint8Array(await opened.context.export(label.buffer, 32))),
          );
        }
      },
    });
  }
}

Deno.test({
  name:
    "sealRequest() with a prepareSeal() encapsulation is opened by the gateway; one for another key or mode is refused",
  permissions: "none",
  async fn() {
    const c = webCrypto();
    const ring = await KeyRing.generate(1000, 3600);
    const [key, other] = ring.keys.filter((k) => k.kemId === KEM_XWING);
    const prepared = await prepareSeal(c, key, { chunked: true, aeadId: 0x0003 });
    const sealed = await sealRequest(c, key, new Uint8Array([7, 8, 9]), {
      chunked: true,
      aeadId: 0x0003,
      prepared,
    });
    assert.deepEqual(sealed.enc, prepared.context.enc);
    const opened = await openRequest(ring, splitRequest(sealed.body, true), 1000);
    assert.deepEqual(opened.plaintext, new Uint8Array([7, 8, 9]));
    const fresh = await prepareSeal(c, key, { chunked: true, aeadId: 0x0003 });
    // Another key under the same id (ids are one byte and wrap around), another key, another mode.
    const sameId = { ...key, publicKey: (other ?? ring.keys.find((k) => k !== key)!).publicKey };
    const cases = [[sameId, true], [other ?? ring.keys.find((k) => k !== key)!, true], [key, false]] as const;
    for (const [k, chunked] of cases) {
      await assert.rejects(
        sealRequest(c, k, new Uint8Array([1]), { chunked, aeadId: 0x0003, prepared: fresh }),
        /prepared encapsulation is for another key or mode/,
      );
    }
  },
});
