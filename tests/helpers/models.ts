/**
 * Test helper: the generated gpt-oss demo model (real vocabulary), generated once per machine into a
 * shared temporary cache and hard-linked (or copied) into each test's private directory, so a test pays
 * llama-server's ~0.8 s load but not the ~1.7 s generation.
 */
import { DEMO_MODEL_FILE, demoModelFile } from "../../src/inference/mod.ts";

let _shared: Promise<string> | undefined;

/** Path of the shared generated gpt-oss model (generated on first use). */
export function sharedGptOssModel(): Promise<string> {
  _shared ??= (async () => {
    const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/pg-test-models-${Deno.uid() ?? "user"}`;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return (await demoModelFile(dir)).path;
  })();
  return _shared;
}

/**
 * Places the demo model in `runtimeDir` under the name the gateway looks for, so a gateway started there
 * without PG_MODEL_PATH serves it at once. Returns its path.
 */
export async function provideDemoModel(runtimeDir: string): Promise<string> {
  const source = await sharedGptOssModel();
  // The gateway creates a missing runtime directory itself (mode 0700); do the same before placing the file.
  await Deno.mkdir(runtimeDir, { recursive: true, mode: 0o700 });
  const target = `${runtimeDir}/${DEMO_MODEL_FILE}`;
  try {
    await Deno.link(source, target);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return target;
    await Deno.copyFile(source, target);
  }
  return target;
}
