/**
 * RFC 9578 Appendix A.2 vectors (Issuance Protocol 2, Blind RSA 2048, RSABSSA-SHA384-PSS-Deterministic),
 * one test per vector and step. Source: tests/testdata/README.md.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { MemoryStore } from "../../src/limits/mod.ts";
import { blindTokenRequest, IssuerKey, Redeemer } from "../../src/tokens/mod.ts";

interface Vector {
  skS: string;
  pkS: string;
  token_challenge: string;
  nonce: string;
  blind: string;
  salt: string;
  token_request: string;
  token_response: string;
  token: string;
}

const none = { permissions: "none" as const };
const vectors: Vector[] = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/rfc9578-blind-rsa-2048.json", import.meta.url)),
);

const hex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function _pkcs8(v: Vector): Uint8Array<ArrayBuffer> {
  const pem = new TextDecoder().decode(hex(v.skS));
  return new Uint8Array(Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64"));
}

function _key(v: Vector): Promise<IssuerKey> {
  return IssuerKey.fromRecord({ pkcs8: _pkcs8(v), notBefore: 0, notAfter: 8.64e15 });
}

/** Feeds the vector's nonce, salt and blind to the library's randomness, in the order it draws them. */
function _withVectorRandomness<T>(v: Vector, run: () => Promise<T>): Promise<T> {
  const queue = [hex(v.nonce), hex(v.salt), hex(v.blind)];
  const original = crypto.getRandomValues;
  crypto.getRandomValues = (<A extends ArrayBufferView | null>(array: A): A => {
    const next = queue.shift();
    if (!next || !array || next.byteLength !== array.byteLength) {
      throw new Error("unexpected randomness draw");
    }
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(next);
    return array;
  }) as typeof crypto.getRandomValues;
  return run().finally(() => {
    crypto.getRandomValues = original;
  });
}

vectors.forEach((v, i) => {
  Deno.test({
    name: `IssuerKey tokenKeyId and pssSpki match RFC 9578 vector ${i}`,
    ...none,
    fn: async () => {
      const key = await _key(v);
      assert.equal(toHex(key.pssSpki), v.pkS);
      assert.equal(
        toHex(key.tokenKeyId),
        toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", hex(v.pkS)))),
      );
    },
  });

  Deno.test({
    name: `blindTokenRequest() builds the token_request of RFC 9578 vector ${i}`,
    ...none,
    fn: async () => {
      const pending = await _withVectorRandomness(
        v,
        () => blindTokenRequest(hex(v.token_challenge), hex(v.pkS)),
      );
      assert.equal(toHex(pending.request), v.token_request);
      assert.equal(toHex(await pending.finalize(hex(v.token_response))), v.token);
    },
  });

  Deno.test({
    name: `IssuerKey.blindSign() gives the token_response of RFC 9578 vector ${i}`,
    ...none,
    fn: async () => {
      const key = await _key(v);
      const request = hex(v.token_request);
      assert.equal(request[2], key.truncatedTokenKeyId);
      assert.equal(toHex(key.blindSign(request.subarray(3))!), v.token_response);
    },
  });

  Deno.test({
    name: `IssuerKey.verify() accepts the token of RFC 9578 vector ${i}`,
    ...none,
    fn: async () => {
      const key = await _key(v);
      const token = hex(v.token);
      assert.equal(await key.verify(token.slice(0, 98), token.slice(98)), true);
      token[token.length - 1] ^= 1;
      assert.equal(await key.verify(token.slice(0, 98), token.slice(98)), false);
    },
  });
});

Deno.test({
  name: "Redeemer.redeem() accepts the RFC 9578 vector whose challenge has the gateway's form, once",
  ...none,
  fn: async () => {
    // Vector 3's TokenChallenge is (0x0002, "issuer.example", no context, no origin info): the gateway's form.
    const v = vectors[3];
    const key = await _key(v);
    const redeemer = new Redeemer({
      keys: { forRedemption: (id) => id.every((b, j) => b === key.tokenKeyId[j]) ? key : undefined },
      spent: new MemoryStore(),
      issuerName: "issuer.example",
      nowMs: () => 1_000,
    });
    await redeemer.redeem(hex(v.token));
    await assert.rejects(redeemer.redeem(hex(v.token)), { code: "token_spent", status: 401 });
  },
});
