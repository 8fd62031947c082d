/** `privacy-gateway keys init|rotate`: the identity key file and the shared HPKE keys file. */
import { parseHpkeKeysFile, readSecretFile, rotateHpkeKeysFile } from "../config/mod.ts";
import { generateIdentity } from "../crypto/mod.ts";

/** Writes a new identity file; refuses to overwrite unless `force`. Returns the exit code. */
export async function keysInitCommand(
  options: { out: string; force: boolean },
  io: { write: (text: string) => void; error: (text: string) => void },
): Promise<number> {
  const { file } = await generateIdentity();
  const text = JSON.stringify(file, null, 2) + "\n";
  if (options.out === "-") {
    // The compiled binary may not write files: the shell stores it (umask 077 or chmod 600 afterwards).
    io.write(text);
    io.error(`Fingerprint to pin in the app: ${file.fingerprint}\n`);
    return 0;
  }
  try {
    // createNew refuses an existing file atomically; mode applies at creation, before any byte is written.
    const handle = await Deno.open(options.out, {
      write: true,
      createNew: !options.force,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    await Deno.chmod(options.out, 0o600);
    await handle.write(new TextEncoder().encode(text));
    handle.close();
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      io.error(`Cannot create identity key: '${options.out}' already exists (pass --force to replace it)\n`);
      return 1;
    }
    io.error(`Cannot create identity key: writing '${options.out}' failed (${(error as Error).name})\n`);
    return 1;
  }
  io.write(
    `Identity key written to ${options.out} (mode 0600)\nFingerprint to pin in the app: ${file.fingerprint}\n`,
  );
  return 0;
}

/**
 * `privacy-gateway keys rotate --file F [--interval SECONDS]`: adds the next HPKE key to a shared keys file
 * and prunes expired ones; written atomically (temporary file + rename) with mode 0600.
 */
export async function keysRotateCommand(
  options: { file: string; intervalSeconds: number; nowSeconds: number },
  io: { write: (text: string) => void; error: (text: string) => void },
): Promise<number> {
  let existing;
  try {
    existing = parseHpkeKeysFile(await readSecretFile(options.file), options.file);
  } catch (error) {
    if (!(error instanceof Error) || !/does not exist/.test(error.message)) {
      io.error(`${(error as Error).message}\n`);
      return 1;
    }
  }
  const next = rotateHpkeKeysFile(existing, Math.floor(options.nowSeconds), options.intervalSeconds);
  const temporary = `${options.file}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(temporary, JSON.stringify(next, null, 2) + "\n", {
      mode: 0o600,
      createNew: true,
    });
    await Deno.rename(temporary, options.file);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    io.error(`Cannot write HPKE keys '${options.file}': ${(error as Error).name}\n`);
    return 1;
  }
  io.write(`HPKE keys file ${options.file} now holds key ids ${next.keys.map((k) => k.key_id).join(", ")}\n`);
  return 0;
}
