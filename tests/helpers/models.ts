/**
 * Test helper: the generated gpt-oss demo model (real vocabulary), generated once per machine into a
 * shared temporary cache and hard-linked (or copied) into each test's private directory, so a test pays
 * llama-server's ~0.8 s load but not the ~1.7 s generation.
 */
import { DEFAULT_TIMING, DEMO_MODEL_FILE, demoModelFile, Supervisor } from "../../src/inference/mod.ts";
import { llamaServerBin, privateTempDir } from "./gateway.ts";

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

/**
 * Runs `fn` against a real llama-server (supervised, on a UNIX socket in a fresh private directory) serving
 * the model that `model(dir)` places there; stops it and removes the directory however `fn` ends.
 */
export async function withLlamaServer(
  model: (dir: string) => Promise<string>,
  fn: (supervisor: Supervisor, socketPath: string) => Promise<void>,
  options: { contextSize?: number; threads?: number; prefix?: string } = {},
): Promise<void> {
  const dir = await privateTempDir(options.prefix ?? "pg-llama-");
  const socketPath = `${dir}/llama.sock`;
  const supervisor = new Supervisor(
    {
      binary: llamaServerBin(),
      model: await model(dir),
      socketPath,
      contextSize: options.contextSize ?? 2048,
      threads: options.threads ?? 1,
      parallel: 1,
    },
    DEFAULT_TIMING,
    { log() {} },
  );
  supervisor.start();
  try {
    await supervisor.ensureReady(AbortSignal.timeout(20_000));
    await fn(supervisor, socketPath);
  } finally {
    await supervisor.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
