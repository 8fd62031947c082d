/**
 * The demo model's file: the generated gpt-oss model (gpt_oss_model.ts, real vocabulary, random weights),
 * written once into the private runtime directory and reused by later starts. Generating it takes ~1.7 s
 * of CPU (deriving 199,742 merges, 27 MB of weights), loading it in llama-server ~0.8 s: only the first
 * start of a runtime directory pays the former. The generator is imported only here, only when needed.
 */

/**
 * File name of the current generator's output; bump the version whenever the generator's output changes,
 * so a stale file is never served.
 */
export const DEMO_MODEL_FILE = "demo-gpt-oss-v1.gguf";

/** Path of the demo model in `dir`, generating it first when it is not there yet. */
export async function demoModelFile(dir: string): Promise<{ path: string; generated: boolean }> {
  const path = `${dir}/${DEMO_MODEL_FILE}`;
  try {
    if ((await Deno.lstat(path)).isFile) return { path, generated: false };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const { generateGptOssModel } = await import("./gpt_oss_model.ts");
  // Written beside and renamed into place: a crash mid-write never leaves a truncated model under the name.
  const partial = `${path}.${Deno.pid}.partial`;
  await Deno.writeFile(partial, generateGptOssModel(), { mode: 0o600 });
  await Deno.rename(partial, path);
  return { path, generated: true };
}
