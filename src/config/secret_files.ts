/**
 * Reading secret files (identity key, shared HPKE keys). A file that group or others can read is refused:
 * a key readable by other users is a key already lost.
 */
import { fromBase64Url, type Identity, importIdentity } from "../crypto/mod.ts";

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
