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
  // A fixed temporary name, so the compiled binary's grants can name it (src/config/grants.ts: write on
  // FILE and FILE.tmp, nothing else); createNew keeps two concurrent rotations from mixing their output.
  const temporary = `${options.file}.tmp`;
  try {
    await Deno.writeTextFile(temporary, JSON.stringify(next, null, 2) + "\n", {
      mode: 0o600,
      createNew: true,
    });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      io.error(
        `Cannot write HPKE keys '${options.file}': '${temporary}' exists (another rotation is running, ` +
          "or one was interrupted: remove it)\n",
      );
      return 1;
    }
    io.error(_writeFailure(options.file, error));
    return 1;
  }
  try {
    await Deno.rename(temporary, options.file);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    io.error(_writeFailure(options.file, error));
    return 1;
  }
  io.write(`HPKE keys file ${options.file} now holds key ids ${next.keys.map((k) => k.key_id).join(", ")}\n`);
  return 0;
}

function _writeFailure(file: string, error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    return `Cannot write HPKE keys '${file}': this build may write only its PG_HPKE_KEYS_FILE; ` +
      "pass that path to --file, or rebuild from the env file that names it (scripts/compile.sh --env-file)\n";
  }
  return `Cannot write HPKE keys '${file}': ${(error as Error).name}\n`;
}
