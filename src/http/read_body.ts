/** Reads a request body up to a limit without buffering more than the limit. */
import { concat } from "../crypto/mod.ts";
import { GatewayError } from "../protocol/mod.ts";

/** Returns the whole body, or throws `request_too_large` as soon as it exceeds `maxBytes`. */
export async function readBodyLimited(request: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) throw new GatewayError("request_too_large");
  if (!request.body) throw new GatewayError("malformed_request");
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw new GatewayError("request_too_large");
      parts.push(value);
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw new GatewayError("malformed_request");
  } finally {
    reader.releaseLock();
  }
  return concat(...parts);
}
