/**
 * Unpadded base64url (RFC 4648 §5) for the JSON envelopes and key sets. Kept here, not imported from
 * src/crypto, so this module stays self-contained while the protocol is being rewritten (issue 13).
 */
import { Buffer } from "node:buffer";

/** Encodes bytes as unpadded base64url. */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Decodes strict unpadded base64url; undefined on any other character or a non-canonical tail. */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const bytes = new Uint8Array(Buffer.from(text, "base64url"));
  return toBase64Url(bytes) === text ? bytes : undefined;
}
