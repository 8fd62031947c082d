/**
 * Test helper for the deployment kit (scripts/*.sh, systemd/, deploy/): runs a command from the repository
 * root and returns its exit code and output, and stages temporary directories that clean up after
 * themselves.
 */

/** The repository root, with a trailing slash. */
export const ROOT = new URL("../..", import.meta.url).pathname;

/** What a finished command left behind. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` in the repository root with stdin closed. */
export async function sh(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; clearEnv?: boolean } = {},
): Promise<Ran> {
  const output = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd ?? ROOT,
    env: options.env,
    clearEnv: options.clearEnv,
    stdin: "null",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Runs a repository script with bash. */
export function script(path: string, args: string[], env?: Record<string, string>): Promise<Ran> {
  return sh("bash", [`${ROOT}${path}`, ...args], { env });
}

/** A temporary directory removed when the returned object is disposed (`await using`). */
export async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** Whether a command exists on this machine (tests that need it say so instead of passing silently). */
export async function have(command: string): Promise<boolean> {
  const result = await sh("bash", ["-c", `command -v ${command}`]);
  return result.code === 0;
}

/** Owner uid, gid and permission bits of a path. */
export async function ownership(path: string): Promise<{ uid: number; gid: number; mode: number }> {
  const info = await Deno.stat(path);
  return { uid: info.uid!, gid: info.gid!, mode: info.mode! & 0o7777 };
}
