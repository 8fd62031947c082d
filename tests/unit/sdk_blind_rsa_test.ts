/**
 * The SDK's pure-JS Privacy Pass blinding (src/client/blind_rsa.ts) against RFC 9578 Appendix A.2 (Blind
 * RSA 2048, RSABSSA-SHA384-PSS-Deterministic; tests/testdata/README.md): the vector's nonce, salt and blind
 * fed as its randomness reproduce the TokenRequest, and the vector's TokenResponse finalizes to its Token.
 */
import assert from "node:assert/strict";
import { fromHex, toHex } from "../../src/crypto/bytes.ts";
import { nobleBlindTokenRequest } from "../../src/client/blind_rsa.ts";
import { nobleCrypto } from "../../src/client/noble_crypto.ts";
import vectors from "../testdata/rfc9578-blind-rsa-2048.json" with { type: "json" };

function _vectorRandomness(v: (typeof vectors)[number]) {
  const queue = [fromHex(v.nonce), fromHex(v.salt), fromHex(v.blind)];
  return (length: number) => {
    const next = queue.shift();
    if (!next || next.byteLength !== length) throw new Error("unexpected randomness draw");
    return next;
  };
}

vectors.forEach((v, i) => {
  Deno.test({
    name: `nobleBlindTokenRequest() reproduces RFC 9578 vector ${i}: TokenRequest and Token`,
    permissions: "none",
    async fn() {
      const blind = nobleBlindTokenRequest(nobleCrypto(_vectorRandomness(v)));
      const pending = await blind(fromHex(v.token_challenge), fromHex(v.pkS));
      assert.equal(toHex(pending.request), v.token_request);
      assert.equal(toHex(await pending.finalize(fromHex(v.token_response))), v.token);
    },
  });
});

Deno.test({
  name: "nobleBlindTokenRequest() finalize refuses a TokenResponse with a flipped bit (forged issuer answer)",
  permissions: "none",
  async fn() {
    const v = vectors[0];
    const pending = await nobleBlindTokenRequest(nobleCrypto(_vectorRandomness(v)))(
      fromHex(v.token_challenge),
      fromHex(v.pkS),
    );
    const response = fromHex(v.token_response);
    response[100] ^= 1;
    await assert.rejects(pending.finalize(response), /does not verify/);
  },
});
