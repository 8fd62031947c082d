/**
 * Writes a generated model (random weights, for development and tests; nothing downloaded):
 *
 *   deno run --allow-write scripts/make-model.ts OUT.gguf [--kind gpt-oss|byte] [--seed 42]
 *
 * gpt-oss (default): llama.cpp's gpt-oss architecture with the real o200k_harmony vocabulary (the demo
 * default, src/inference/gpt_oss_model.ts). byte: the llama-architecture model with a 256-byte vocabulary
 * (src/inference/tiny_model.ts), for checks that need a vocabulary other than gpt-oss's.
 */
import { parseArgs } from "node:util";
import { generateGptOssModel } from "../src/inference/gpt_oss_model.ts";
import { generateTinyModel } from "../src/inference/mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { kind: { type: "string", default: "gpt-oss" }, seed: { type: "string", default: "42" } },
});
const out = positionals[0];
if (!out || !["gpt-oss", "byte"].includes(values.kind!)) {
  console.error("Usage: scripts/make-model.ts OUT.gguf [--kind gpt-oss|byte] [--seed N]");
  Deno.exit(2);
}
const started = performance.now();
const seed = Number(values.seed);
const bytes = values.kind === "byte" ? generateTinyModel(seed) : generateGptOssModel(seed);
await Deno.writeFile(out, bytes, { mode: 0o600 });
console.error(`${out}: ${bytes.byteLength} bytes in ${Math.round(performance.now() - started)} ms`);
