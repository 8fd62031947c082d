/**
 * The issuance endpoint as a Hono handler, for the lead to mount (`app.post("/api/tokens", handler)`):
 *
 *   request   POST, Content-Type: application/json, at most `maxBodyBytes`
 *             {"requests": [b64url(TokenRequest), …], "evidence": {…attester's…}, "pow"?: {"challenge", "solution"}}
 *   200       {"responses": [b64url(TokenResponse), …]}   (the first k requests; k < count when the quota is short)
 *   4xx/5xx   {"error": {"code", "message"}, "challenge"?: {"token", "difficulty"?}}, Retry-After when known
 *
 * The envelope is JSON rather than RFC 9578's one-request `application/private-token-request` because the
 * app asks for a batch at once (one round trip, one attestation); each element is the RFC's exact bytes.
 * Issuance is not anonymous (the device proves itself), so it runs outside the chat path: the network is
 * the caller's, as the gateway's limits hash it.
 */
import type { Context } from "hono";
import { z } from "zod";
import { fromBase64Url, toBase64Url } from "./base64url.ts";
import type { Issuer } from "./issuer.ts";
import { TokenError } from "./token_error.ts";

/** Options of {@link issuanceHandler}. */
export interface IssuanceHandlerOptions {
  issuer: Issuer;
  /** The keyed hash of the caller's network (the limits' KeyHasher over networkOf(clientAddress)). */
  network: (c: Context) => string | Promise<string>;
  /**
   * Reads the body, at most `maxBytes`, throwing beyond (src/http/read_body.ts's `readBodyLimited`: the
   * gateway's one bounded reader, which copies and lets go of each transport chunk).
   */
  readBody: (request: Request, maxBytes: number) => Promise<Uint8Array>;
  /** Body limit; a batch of 100 requests is about 35 KiB of base64url. */
  maxBodyBytes?: number;
}

const _Envelope = z.strictObject({
  requests: z.array(z.string().max(400)).min(1).max(100),
  evidence: z.unknown(),
  pow: z.strictObject({ challenge: z.string().max(200), solution: z.string().max(20) }).optional(),
});

/** Builds the handler of `POST /api/tokens`. */
export function issuanceHandler(options: IssuanceHandlerOptions): (c: Context) => Promise<Response> {
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  if (!(maxBodyBytes >= 1024)) {
    throw new Error(`Cannot create the issuance handler: maxBodyBytes '${maxBodyBytes}' < 1024`);
  }
  return async function tokenIssuance(c: Context): Promise<Response> {
    try {
      if (!(c.req.header("content-type") ?? "").toLowerCase().startsWith("application/json")) {
        throw new TokenError("invalid_token_request");
      }
      // Too large, or no body: one refusal for any malformed envelope.
      const body = await options.readBody(c.req.raw, maxBodyBytes).catch(() => {
        throw new TokenError("invalid_token_request");
      });
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
      } catch {
        throw new TokenError("invalid_token_request");
      }
      const envelope = _Envelope.safeParse(json);
      if (!envelope.success) throw new TokenError("invalid_token_request");
      const requests = envelope.data.requests.map(fromBase64Url);
      if (requests.some((r) => !r)) throw new TokenError("invalid_token_request");
      const responses = await options.issuer.issue(requests as Uint8Array[], {
        network: await options.network(c),
        evidence: envelope.data.evidence,
        pow: envelope.data.pow,
      });
      return c.json({ responses: responses.map(toBase64Url) }, 200, { "cache-control": "no-store" });
    } catch (error) {
      const refusal = error instanceof TokenError ? error : new TokenError("overloaded");
      const headers: Record<string, string> = { "cache-control": "no-store" };
      if (refusal.retryAfterSeconds) headers["retry-after"] = String(refusal.retryAfterSeconds);
      return c.json(refusal.toBody(), refusal.status as 400, headers);
    }
  };
}
