/**
 * The client's half of issuance (RFC 9578 §6.1, §6.3), through `@cloudflare/privacypass-ts`:
 *
 *   nonce = random(32); token_input = 0x0002 ‖ nonce ‖ SHA-256(challenge) ‖ token_key_id
 *   (blinded_msg, inv) = Blind(pkI, token_input)          RSABSSA-SHA384-PSS-Deterministic, RFC 9474 §4.2
 *   TokenRequest = 0x0002 ‖ token_key_id[31] ‖ blinded_msg
 *   authenticator = Finalize(pkI, token_input, blind_sig, inv)   (verifies the signature: a bad issuer
 *   response is refused here, never stored)
 *
 * Used by the wallet; no dependency on the SDK (src/client), so issue 16 can plug it in.
 */
import { publicVerif, TokenChallenge } from "@cloudflare/privacypass-ts";
import { NK } from "./wire.ts";
import { tokenIntegrityError } from "./token_error.ts";

/** One blinded request and how to finish it. */
export interface PendingToken {
  /** The serialized TokenRequest to send. */
  request: Uint8Array<ArrayBuffer>;
  /** Turns the issuer's TokenResponse into a serialized Token; rejects a response that does not verify. */
  finalize(response: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
}

/** Blinds one fresh token for `challenge` (serialized TokenChallenge) under the issuer key `pssSpki`. */
export async function blindTokenRequest(
  challenge: Uint8Array,
  pssSpki: Uint8Array,
): Promise<PendingToken> {
  const client = new publicVerif.Client(publicVerif.BlindRSAMode.PSS);
  const request = await client.createTokenRequest(TokenChallenge.deserialize(challenge), pssSpki);
  return {
    request: new Uint8Array(request.serialize()),
    async finalize(response: Uint8Array) {
      if (response.byteLength !== NK) {
        throw new Error("Cannot finalize the token: the response is not Nk bytes");
      }
      let token;
      try {
        token = await client.finalize(new publicVerif.TokenResponse(new Uint8Array(response)));
      } catch {
        throw tokenIntegrityError("the issuer's signature does not verify");
      }
      return new Uint8Array(token.serialize());
    },
  };
}
