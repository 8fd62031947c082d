/**
 * Writes a generated model (random weights, for development and tests; nothing downloaded):
 *
 *   deno run --allow-write scripts/make-model.ts OUT.gguf [--kind gpt-oss|byte] [--seed 42]
 *
 * gpt-oss (default): llama.cpp's gpt-oss architecture with the real o200k_harmony vocabulary (the demo
 * default, src/inference/gpt_oss_model.ts). byte: the llama-architecture model with a 256-byte vocabulary
 * (src/inference/tiny_model.ts), for checks that need a vocabulary other than gpt-oss's.
 *
 *   deno run --allow-write scripts/make-model.ts --merge-splits src/inference/o200k_merge_splits.ts
 *
 * re-derives the stored merge split points (after a change of the gpt-tokenizer package's data).
 */
import { parseArgs } from "node:util";
import { deriveMergeSplits, generateGptOssModel } from "../src/inference/gpt_oss_model.ts";
import { generateTinyModel } from "../src/inference/mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    kind: { type: "string", default: "gpt-oss" },
    seed: { type: "string", default: "42" },
    "merge-splits": { type: "string" },
  },
});
if (values["merge-splits"]) {
  const splits = deriveMergeSplits();
  const base64 = btoa(Array.from(splits, (b) => String.fromCharCode(b)).join(""));
  await Deno.writeTextFile(
    values["merge-splits"],
    `/**\n * Where each o200k_base rank's BPE merge splits the token, in bytes (0 for single bytes), as base64:\n` +
      ` * derived by gpt_oss_model.ts \`deriveMergeSplits()\` from the ranks of the gpt-tokenizer package;\n` +
      ` * tests/gpt_oss_model_test.ts derives them again and compares. Regenerate with\n` +
      ` * \`deno run --allow-write scripts/make-model.ts --merge-splits src/inference/o200k_merge_splits.ts\`.\n */\n` +
      `export const O200K_MERGE_SPLITS =\n  "${base64}";\n`,
  );
  console.error(`${values["merge-splits"]}: ${splits.length} split points`);
  Deno.exit(0);
}
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
