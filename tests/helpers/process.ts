/** Test helpers about processes: liveness and polling. */

/** Whether a process exists (signal 0 semantics through SIGCONT, harmless to a running process). */
export function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every 20 ms; resolves whether it became true within `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
