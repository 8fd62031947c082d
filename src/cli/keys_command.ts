/** `privacy-gateway keys init`: creates the identity key file with mode 0600 and prints the pin. */
import { generateIdentity } from "../crypto/mod.ts";

/** Writes a new identity file; refuses to overwrite unless `force`. Returns the exit code. */
export async function keysInitCommand(
  options: { out: string; force: boolean },
  io: { write: (text: string) => void; error: (text: string) => void },
): Promise<number> {
  const { file } = await generateIdentity();
  const text = JSON.stringify(file, null, 2) + "\n";
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
