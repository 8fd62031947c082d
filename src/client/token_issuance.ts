/**
 * The app's side of `POST /api/tokens` (docs/privacy-pass.md): sends a batch of blinded TokenRequests,
 * answers the gateway's device-key attestation challenge (an Ed25519 signature over
 * ISSUANCE_PROOF_LABEL ‖ challenge) and, under load, its proof-of-work challenge.
 *
 * Issuance is identified by design (it is where limits per device live); it goes straight to the gateway,
 * never at the moment of a chat request (the wallet refills ahead of need).
 */
import { fromBase64Url, toBase64Url } from "../crypto/bytes.ts";
import type { ErrorCode } from "../protocol/errors.ts";
import { solveChallenge } from "../protocol/proof_of_work_solver.ts";
import type { IssueBatch } from "../tokens/wallet.ts";
import type { DeviceSigner } from "./device_key.ts";
import { GatewayRequestError } from "./errors.ts";

/**
 * Domain separation of the issuance attestation signature: the gateway's tokens/attester.ts
 * ISSUANCE_PROOF_LABEL (that module is server code; tests/unit/sdk_package_test.ts checks they agree).
 */
export const ISSUANCE_PROOF_LABEL = "privacy-gateway token issuance v1\0";

/** Rounds of one issuance: attestation, proof of work, attestation again (its challenge is single-use). */
const _MAX_ROUNDS = 4;

/** Builds the wallet's `issue` function for one gateway and device key. */
export function deviceKeyIssuance(options: {
  url: string;
  fetch: typeof fetch;
  device: () => Promise<DeviceSigner>;
  /** SHA-256 for the proof of work (the client's injectable crypto). */
  sha256?: (data: Uint8Array<ArrayBuffer>) => Promise<Uint8Array>;
}): IssueBatch {
  return async (requests) => {
    const encoded = requests.map(toBase64Url);
    let evidence: unknown = null;
    let pow: { challenge: string; solution: string } | undefined;
    for (let round = 1;; round++) {
      const response = await options.fetch(options.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ requests: encoded, evidence, ...(pow ? { pow } : {}) }),
      }).catch(() => {
        throw new GatewayRequestError("network_error", 0);
      });
      const body = await response.json().catch(() => ({})) as {
        responses?: string[];
        error?: { code?: string };
        challenge?: { token: string; difficulty?: number };
      };
      if (response.status === 200 && Array.isArray(body.responses)) {
        return body.responses.map((r) => {
          const bytes = typeof r === "string" ? fromBase64Url(r) : undefined;
          if (!bytes) throw new GatewayRequestError("invalid_token_request", 200);
          return bytes;
        });
      }
      const code = (body.error?.code ?? "internal_error") as ErrorCode;
      const retryAfter = Number(response.headers.get("retry-after") ?? "") || undefined;
      if (round >= _MAX_ROUNDS || !body.challenge) {
        throw new GatewayRequestError(code, response.status, retryAfter);
      }
      if (code === "attestation_required" || code === "attestation_invalid") {
        const device = await options.device();
        const signature = await device.sign(
          new TextEncoder().encode(ISSUANCE_PROOF_LABEL + body.challenge.token),
        );
        evidence = {
          kind: "device_key",
          publicKey: device.publicKey,
          challenge: body.challenge.token,
          signature: toBase64Url(signature),
        };
      } else if (code === "challenge_required" && body.challenge.difficulty !== undefined) {
        const challenge = { token: body.challenge.token, difficulty: body.challenge.difficulty };
        pow = {
          challenge: challenge.token,
          solution: await solveChallenge(challenge, undefined, options.sha256),
        };
        // The attestation challenge was spent on this round: the next one asks for a fresh one.
        evidence = null;
      } else {
        throw new GatewayRequestError(code, response.status, retryAfter);
      }
    }
  };
}
