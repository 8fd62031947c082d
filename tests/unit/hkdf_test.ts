/**
 * hkdf.ts against RFC 5869 Appendix A (SHA-256 cases, tests/testdata/rfc5869-hkdf-sha256.json), and against
 * WebCrypto's own HKDF for the 64-byte salt the response keys use (RFC 9458 §4.4: enc ‖ response_nonce).
 */
import assert from "node:assert/strict";
import { hkdfExpand, hkdfExtract } from "../../src/crypto/hkdf.ts";

const vectors: {
  name: string;
  ikm: string;
  salt: string;
  info: string;
  length: number;
  prk: string;
  okm: string;
}[] = JSON.parse(Deno.readTextFileSync(new URL("../testdata/rfc5869-hkdf-sha256.json", import.meta.url)));

function _bytes(hex: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array((hex.match(/../g) ?? []).map((h) => parseInt(h, 16)));
}

function _hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

for (const v of vectors) {
  Deno.test({
    permissions: "none",
    name: `hkdfExtract() and hkdfExpand() match RFC 5869 ${v.name}`,
    async fn() {
      const prk = await hkdfExtract(_bytes(v.salt), _bytes(v.ikm));
      assert.equal(_hex(prk), v.prk, "PRK");
      assert.equal(_hex(await hkdfExpand(prk, _bytes(v.info), v.length)), v.okm, "OKM");
    },
  });
}

Deno.test({
  permissions: "none",
  name: "hkdfExtract()/hkdfExpand() agree with WebCrypto HKDF for a 64-byte salt",
  async fn() {
    for (let i = 0; i < 8; i++) {
      const salt = crypto.getRandomValues(new Uint8Array(64));
      const ikm = crypto.getRandomValues(new Uint8Array(32));
      const info = crypto.getRandomValues(new Uint8Array(i * 3));
      const length = [12, 32, 33, 64, 100][i % 5];
      const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
      const expected = new Uint8Array(
        await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, key, length * 8),
      );
      const ours = await hkdfExpand(await hkdfExtract(salt, ikm), info, length);
      assert.deepEqual(ours, expected, `case ${i}`);
    }
  },
});

Deno.test({
  permissions: "none",
  name: "hkdfExpand() refuses more than 255 blocks",
  async fn() {
    await assert.rejects(
      hkdfExpand(new Uint8Array(32), new Uint8Array(0), 255 * 32 + 1),
      (e) => e instanceof RangeError && e.message === "HKDF-Expand length too large",
    );
  },
});
