/**
 * src/crypto/sha256.ts against FIPS 180-4's and RFC 4231's examples and against WebCrypto for every
 * length around the block boundaries. No permissions.
 */
import assert from "node:assert/strict";
import { hmacSha256, sha256 } from "../../src/crypto/sha256.ts";

const none = { permissions: "none" as const };
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const text = (s: string) => new TextEncoder().encode(s);

Deno.test({
  ...none,
  name: 'sha256() matches FIPS 180-4\'s examples ("abc", the two-block message, the empty message)',
  fn() {
    assert.equal(
      hex(sha256(text("abc"))),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    assert.equal(
      hex(sha256(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
    assert.equal(hex(sha256()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  },
});

Deno.test({
  ...none,
  name: "hmacSha256() matches RFC 4231 test cases 1 and 6 (a key longer than a block)",
  fn() {
    assert.equal(
      hex(hmacSha256(new Uint8Array(20).fill(0x0b), text("Hi There"))),
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    );
    assert.equal(
      hex(
        hmacSha256(
          new Uint8Array(131).fill(0xaa),
          text("Test Using Larger Than Block-Size Key - Hash Key First"),
        ),
      ),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    );
  },
});

Deno.test({
  ...none,
  name: "sha256() and hmacSha256() equal WebCrypto for data of 0–200 bytes and keys of 0–130 bytes",
  async fn() {
    const data = crypto.getRandomValues(new Uint8Array(200));
    for (let n = 0; n <= 200; n++) {
      const expected = new Uint8Array(await crypto.subtle.digest("SHA-256", data.subarray(0, n)));
      assert.deepEqual(sha256(data.subarray(0, n)), expected, `length ${n}`);
      // The same bytes given in two parts.
      assert.deepEqual(sha256(data.subarray(0, n >> 1), data.subarray(n >> 1, n)), expected, `split ${n}`);
    }
    const keys = crypto.getRandomValues(new Uint8Array(130));
    for (let k = 1; k <= 130; k += 7) {
      const key = keys.subarray(0, k);
      const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
      ]);
      for (const n of [0, 1, 55, 56, 64, 119, 200]) {
        const expected = new Uint8Array(await crypto.subtle.sign("HMAC", imported, data.subarray(0, n)));
        assert.deepEqual(hmacSha256(key, data.subarray(0, n)), expected, `key ${k}, length ${n}`);
      }
    }
  },
});
