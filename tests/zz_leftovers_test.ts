/**
 * Runs last (files run in name order): after the whole suite no llama-server started by a test is still
 * running and no socket file is left in a test directory.
 */
import assert from "node:assert/strict";

Deno.test("No llama-server process and no socket file outlive the test suite", async () => {
  // Give processes killed by the last tests a moment to be reaped.
  await new Promise((r) => setTimeout(r, 500));
  const leftovers: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).replaceAll("\0", " ");
      if (/llama-server|fake_(harmony_)?llama/.test(cmdline) && /\/pg-[a-z-]+/.test(cmdline)) {
        leftovers.push(cmdline);
      }
    } catch { /* exited meanwhile */ }
  }
  assert.deepEqual(leftovers, []);
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const sockets: string[] = [];
  for await (const entry of Deno.readDir(tmp)) {
    if (!entry.isDirectory || !entry.name.startsWith("pg-")) continue;
    try {
      for await (const inner of Deno.readDir(`${tmp}/${entry.name}`)) {
        if (inner.name.endsWith(".sock")) sockets.push(`${tmp}/${entry.name}/${inner.name}`);
      }
    } catch { /* removed meanwhile */ }
  }
  assert.deepEqual(sockets, []);
});
