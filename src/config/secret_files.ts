/**
 * Reading secret files (identity key, shared HPKE keys). A file that group or others can read is refused:
 * a key readable by other users is a key already lost.
 */
import {
  fromBase64Url,
  type HpkeKey,
  type Identity,
  importIdentity,
  KEM_X25519,
  KEM_XWING,
  kemSuite,
  makeHpkeKey,
  toBase64Url,
} from "../crypto/mod.ts";

/** Reads a file only if its mode grants nothing to group and others. */
export async function readSecretFile(path: string): Promise<string> {
  const info = await Deno.stat(path).catch(() => {
    throw new Error(`Cannot read secret file '${path}': it does not exist or is not readable`);
  });
  if (!info.isFile) throw new Error(`Cannot read secret file '${path}': it is not a regular file`);
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new Error(`Cannot use secret file '${path}': it is readable by others (run chmod 600)`);
  }
  return await Deno.readTextFile(path);
}

/** Loads the identity written by `privacy-gateway keys init`. */
export async function loadIdentityFile(path: string): Promise<Identity> {
  let parsed: { type?: string; private_key_pkcs8?: string };
  try {
    parsed = JSON.parse(await readSecretFile(path));
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new Error(`Cannot load identity '${path}': not a JSON identity file`);
    }
    throw error;
  }
  const pkcs8 = typeof parsed.private_key_pkcs8 === "string"
    ? fromBase64Url(parsed.private_key_pkcs8)
    : undefined;
  if (parsed.type !== "privacy-gateway-identity" || !pkcs8) {
    throw new Error(`Cannot load identity '${path}': not a privacy-gateway identity file`);
  }
  try {
    return await importIdentity(pkcs8);
  } catch {
    throw new Error(`Cannot load identity '${path}': the key is not a valid Ed25519 key`);
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Shared HPKE keys file, for several gateway instances behind one load balancer. Each key is a 32-byte
 * seed from which the pair of its KEM is derived (RFC 9180 DeriveKeyPair; X-Wing's own derivation):
 *
 *   { "type": "privacy-gateway-hpke-keys", "version": 1,
 *     "keys": [{ "key_id": 0..255, "kem": "x25519" | "x-wing", "seed": b64url(32),
 *                "not_before": unix, "not_after": unix }] }
 *
 * `kem` defaults to "x25519" (files written before protocol v2).
 */
export interface HpkeKeysFile {
  type: "privacy-gateway-hpke-keys";
  version: 1;
  keys: { key_id: number; kem?: "x25519" | "x-wing"; seed: string; not_before: number; not_after: number }[];
}

const _KEM_IDS = { "x25519": KEM_X25519, "x-wing": KEM_XWING } as const;

/** Parses and checks a keys file's text; throws a sentence-case Error naming the problem. */
export function parseHpkeKeysFile(text: string, path: string): HpkeKeysFile {
  let parsed: HpkeKeysFile;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`Cannot load HPKE keys '${path}': not JSON`);
  }
  const ok = parsed?.type === "privacy-gateway-hpke-keys" && Array.isArray(parsed.keys) &&
    parsed.keys.every((k) =>
      Number.isInteger(k.key_id) && k.key_id >= 0 && k.key_id <= 255 && typeof k.seed === "string" &&
      (k.kem === undefined || k.kem === "x25519" || k.kem === "x-wing") &&
      fromBase64Url(k.seed)?.byteLength === 32 && Number.isInteger(k.not_before) &&
      Number.isInteger(k.not_after) &&
      k.not_after > k.not_before
    );
  if (!ok) throw new Error(`Cannot load HPKE keys '${path}': not a privacy-gateway keys file`);
  return parsed;
}

/** Loads a shared keys file (refusing one readable by others) and derives the key pairs. */
export async function loadHpkeKeysFile(path: string): Promise<HpkeKey[]> {
  const file = parseHpkeKeysFile(await readSecretFile(path), path);
  return await Promise.all(file.keys.map(async (k) => {
    const kemId = _KEM_IDS[k.kem ?? "x25519"];
    const seed = fromBase64Url(k.seed)!;
    const pair = await kemSuite(kemId).kem.deriveKeyPair(seed.buffer);
    seed.fill(0);
    return makeHpkeKey(kemId, pair, k.key_id, k.not_before, k.not_after);
  }));
}

/**
 * Adds a key to a keys file (creating it), pruning expired keys: run on a timer on one machine and
 * distribute the file, or keep it on shared storage. New keys start one interval ahead so every instance
 * picks them up before clients use them. Returns the new file content.
 */
export function rotateHpkeKeysFile(
  existing: HpkeKeysFile | undefined,
  nowSeconds: number,
  intervalSeconds: number,
): HpkeKeysFile {
  const keys = (existing?.keys ?? []).filter((k) => k.not_after > nowSeconds);
  const used = new Set(keys.map((k) => k.key_id));
  const last = keys.at(-1);
  let keyId = last ? (last.key_id + 1) % 256 : crypto.getRandomValues(new Uint8Array(1))[0];
  const notBefore = keys.length === 0
    ? nowSeconds
    : Math.max(nowSeconds, (last?.not_before ?? nowSeconds) + intervalSeconds);
  // One key per KEM and generation, as the in-memory ring makes them (crypto/key_ring.ts).
  for (const kem of ["x25519", "x-wing"] as const) {
    while (used.has(keyId)) keyId = (keyId + 1) % 256;
    used.add(keyId);
    keys.push({
      key_id: keyId,
      kem,
      seed: toBase64Url(crypto.getRandomValues(new Uint8Array(32))),
      not_before: notBefore,
      not_after: notBefore + 2 * intervalSeconds,
    });
  }
  return { type: "privacy-gateway-hpke-keys", version: 1, keys };
}
