/**
 * The signed key set served at `GET /api/pubkey`. The signature covers the exact bytes the client parses,
 * so no JSON canonicalisation is involved:
 *
 *   KeySet   = format(8) = 3 ‖ issued_at(64, Unix seconds) ‖ auth(8) ‖ count(8) ‖ Entry…
 *   auth     = 0 (device: a device key in every request) | 1 (token: Privacy Pass tokens, docs/privacy-pass.md)
 *   Entry    = not_before(64) ‖ not_after(64) ‖ config_length(16) ‖ KeyConfig (RFC 9458 §3.1)
 *   signature = Ed25519(identity, "privacy-gateway keyset v3" ‖ 0x00 ‖ KeySet)
 *
 * `auth` is signed so that nobody between the gateway and the app (a CDN, a TLS terminator, a relay's key
 * proxy) can strip the token keys from the document and make an app fall back to sending its device key,
 * which would link its requests to its issuance (review of issue 14). Format 2 had no such byte.
 */
import { concat, readUintBE, uintBE } from "./bytes.ts";
import { decodeKeyConfig, type KeyConfig } from "./key_config.ts";
import { type Identity, KEYSET_SIGNATURE_CONTEXT, verifySignature } from "./identity.ts";

/** One published key with its validity window (Unix seconds). */
export interface KeySetEntry {
  notBefore: number;
  notAfter: number;
  config: Uint8Array<ArrayBuffer>;
}

/** How requests authorise themselves: a device key in each, or one Privacy Pass token each. */
export type AuthMode = "device" | "token";

/** A decoded, verified key set. */
export interface KeySet {
  issuedAt: number;
  auth: AuthMode;
  entries: (KeySetEntry & { decoded: KeyConfig })[];
}

const _FORMAT = 3;
const _AUTH: readonly AuthMode[] = ["device", "token"];

/**
 * How often the gateway re-signs its key set, and the grid `issued_at` is rounded down to. Every instance
 * sharing a keys file (and a synchronised clock) then signs the same `issued_at`, so a client moving
 * between instances never sees time go backwards; and a fresh key set is at most this old, which bounds
 * how far a clock correction taken from it lags the gateway (docs/protocol.md §2.2).
 */
export const KEYSET_REISSUE_SECONDS = 10;

/**
 * A client refuses a key set whose `issued_at` is older than this (review item 4): a captured key set
 * cannot be served back for longer, even before the client has seen a newer one.
 */
export const KEYSET_MAX_AGE_SECONDS = 3600;

/** Encodes the key set bytes that the identity signs. */
export function encodeKeySet(
  issuedAt: number,
  entries: KeySetEntry[],
  auth: AuthMode,
): Uint8Array<ArrayBuffer> {
  if (entries.length > 255) throw new RangeError("At most 255 keys per key set");
  return concat(
    uintBE(_FORMAT, 1),
    uintBE(issuedAt, 8),
    uintBE(_AUTH.indexOf(auth), 1),
    uintBE(entries.length, 1),
    ...entries.flatMap((e) => [
      uintBE(e.notBefore, 8),
      uintBE(e.notAfter, 8),
      uintBE(e.config.byteLength, 2),
      e.config,
    ]),
  );
}

/** Signs key set bytes with the identity. */
export function signKeySet(
  identity: Identity,
  keySet: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return identity.sign(concat(KEYSET_SIGNATURE_CONTEXT, keySet));
}

/** Decodes key set bytes; `undefined` when they are malformed in any way. */
export function decodeKeySet(bytes: Uint8Array<ArrayBuffer>): KeySet | undefined {
  if (bytes.byteLength < 11 || bytes[0] !== _FORMAT) return undefined;
  const issuedAt = readUintBE(bytes, 1, 8);
  const auth = _AUTH[bytes[9]];
  if (!auth) return undefined;
  const count = bytes[10];
  const entries: KeySet["entries"] = [];
  let offset = 11;
  for (let i = 0; i < count; i++) {
    if (offset + 18 > bytes.byteLength) return undefined;
    const notBefore = readUintBE(bytes, offset, 8);
    const notAfter = readUintBE(bytes, offset + 8, 8);
    const length = readUintBE(bytes, offset + 16, 2);
    offset += 18;
    if (offset + length > bytes.byteLength) return undefined;
    const config = bytes.slice(offset, offset + length);
    offset += length;
    const decoded = decodeKeyConfig(config);
    if (!decoded || notAfter <= notBefore) return undefined;
    entries.push({ notBefore, notAfter, config, decoded });
  }
  if (offset !== bytes.byteLength) return undefined;
  return { issuedAt, auth, entries };
}

/**
 * Verifies the signature over key set bytes, then decodes them. `undefined` on any failure. `verify` is
 * the app SDK's injectable Ed25519 (default WebCrypto).
 */
export async function verifyKeySet(
  identityPublicKey: Uint8Array<ArrayBuffer>,
  keySet: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  verify: typeof verifySignature = verifySignature,
): Promise<KeySet | undefined> {
  const ok = await verify(identityPublicKey, signature, concat(KEYSET_SIGNATURE_CONTEXT, keySet));
  return ok ? decodeKeySet(keySet) : undefined;
}
