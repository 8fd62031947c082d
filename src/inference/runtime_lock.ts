/**
 * One process per runtime directory. Two gateways that share PG_RUNTIME_DIR would share the llama-server
 * socket path: the second one's llama-server replaces the first one's socket, and requests of one reach
 * the other's model (issue 12, finding 14). An exclusive `flock` on a file in the directory makes the
 * second one refuse to start; the kernel drops the lock when the holder exits, even by SIGKILL, so a
 * crash never leaves a stale lock behind.
 */
import { preparePrivateDir } from "./supervisor.ts";

/** Name of the lock file inside the runtime directory. */
export const RUNTIME_LOCK_FILE = "instance.lock";

/** A held lock; `release()` (or process exit) frees the directory. */
export interface RuntimeLock {
  release(): void;
}

/**
 * Prepares `dir` (private, owned by this user) and takes its lock; rejects with a message naming the
 * directory when another process holds it.
 */
export async function lockRuntimeDir(dir: string): Promise<RuntimeLock> {
  await preparePrivateDir(dir);
  const file = await Deno.open(`${dir}/${RUNTIME_LOCK_FILE}`, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  let locked = false;
  try {
    locked = await file.tryLock(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) {
    throw new Error(
      `Cannot start: another privacy-gateway uses the runtime directory '${dir}' (its llama-server socket); ` +
        "stop it, or give this one its own PG_RUNTIME_DIR",
    );
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      file.close();
    },
  };
}
