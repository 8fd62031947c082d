/**
 * Runs last (files run in name order): after the whole suite no llama-server started by a test is still
 * running and no socket file is left anywhere under a test directory (nested ones included).
 */
import assert from "node:assert/strict";

const TMP = Deno.env.get("TMPDIR") ?? "/tmp";

/** Command lines of llama-servers (real or fake) started from a test directory under TMP. */
async function leftoverProcesses(): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).replaceAll("\0", " ");
      if (/llama-server|fake_(harmony_)?llama/.test(cmdline) && cmdline.includes(`${TMP}/pg-`)) {
        found.push(cmdline);
      }
    } catch { /* exited meanwhile */ }
  }
  return found;
}

/** Every socket file below `dir`, at any depth (symlinks are not followed). */
async function socketsUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) found.push(...await socketsUnder(path));
      else if (!entry.isSymlink && (await Deno.lstat(path).catch(() => undefined))?.isSocket) {
        found.push(path);
      }
    }
  } catch { /* removed meanwhile */ }
  return found;
}

Deno.test("No llama-server process and no socket file outlive the test suite", async () => {
  // Processes killed by the last tests may still be being reaped: wait for the condition, bounded.
  let leftovers: string[] = [];
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    leftovers = await leftoverProcesses();
    if (leftovers.length === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(leftovers, []);
  const sockets: string[] = [];
  for await (const entry of Deno.readDir(TMP)) {
    if (entry.isDirectory && entry.name.startsWith("pg-")) {
      sockets.push(...await socketsUnder(`${TMP}/${entry.name}`));
    }
  }
  assert.deepEqual(sockets, []);
});
