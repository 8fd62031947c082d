/**
 * The generated gpt-oss model (real vocabulary): its vocabulary against the tokenizer package, its stored
 * merge split points against a fresh derivation, and what llama-server makes of it.
 */
import assert from "node:assert/strict";
import { deriveMergeSplits, o200kHarmonyVocabulary } from "../src/inference/gpt_oss_model.ts";
import {
  DEFAULT_TIMING,
  discoverSpecialTokenIds,
  generateTinyModel,
  knownO200kSpecialTokenIds,
  Supervisor,
  vocabularySize,
} from "../src/inference/mod.ts";
import { O200K_MERGE_SPLITS } from "../src/inference/o200k_merge_splits.ts";
import { silentLogger } from "../src/observability/mod.ts";
import { o200kHarmonySpecials } from "../src/tokenizer/mod.ts";
import { llamaServerBin, privateTempDir } from "./helpers/gateway.ts";
import { provideDemoModel, withLlamaServer } from "./helpers/models.ts";

Deno.test({
  name: "The stored merge split points equal a fresh derivation from the ranks",
  permissions: "none",
  fn() {
    const stored = Uint8Array.from(atob(O200K_MERGE_SPLITS), (c) => c.charCodeAt(0));
    const derived = deriveMergeSplits();
    assert.equal(stored.length, derived.length);
    const first = derived.findIndex((split, id) => split !== stored[id]);
    assert.equal(first, -1, `rank ${first} differs: regenerate with scripts/make-model.ts --merge-splits`);
  },
});

Deno.test({
  name: "o200kHarmonyVocabulary() has all 201,088 tokens, its specials as control tokens at their ids",
  permissions: "none",
  fn() {
    const vocab = o200kHarmonyVocabulary();
    assert.equal(vocab.tokens.length, 201_088);
    assert.equal(vocab.merges.length, 199_742);
    for (const [id, text] of o200kHarmonySpecials()) {
      assert.equal(vocab.tokens[id], text);
      assert.equal(vocab.types[id], 3, text);
    }
    assert.equal(vocab.tokens[200006], "<|start|>");
    assert.equal(vocab.types.slice(0, 199_998).every((t) => t === 1), true);
    // Byte-level form: " hello" is stored with GPT-2's Ġ for the space.
    assert.equal(vocab.tokens[40617], "Ġhello");
  },
});

Deno.test("llama-server loads the gpt-oss model: 201,088 ids, and the forbidden set is exactly the specials", async () => {
  await withLlamaServer(provideDemoModel, async (supervisor) => {
    assert.equal(await vocabularySize(supervisor.client, 10_000), 201_088);
    const specials = await discoverSpecialTokenIds(supervisor.client, 60_000);
    assert.deepEqual([...specials.forbidden].sort((a, b) => a - b), [...o200kHarmonySpecials().keys()]);
  }, { prefix: "pg-gptoss-" });
});

Deno.test("knownO200kSpecialTokenIds() finds what the full measurement finds on the gpt-oss model, and nothing on another", async () => {
  const dir = await privateTempDir("pg-known-");
  const supervisor = (model: string, name: string) =>
    new Supervisor(
      {
        binary: llamaServerBin(),
        model,
        socketPath: `${dir}/${name}.sock`,
        contextSize: 512,
        threads: 1,
        parallel: 1,
      },
      DEFAULT_TIMING,
      silentLogger,
    );
  await Deno.writeFile(`${dir}/byte.gguf`, generateTinyModel());
  const gptOss = supervisor(await provideDemoModel(dir), "gptoss");
  const byte = supervisor(`${dir}/byte.gguf`, "byte");
  gptOss.start();
  byte.start();
  try {
    await gptOss.ensureReady(AbortSignal.timeout(20_000));
    await byte.ensureReady(AbortSignal.timeout(20_000));
    const expected = o200kHarmonySpecials();
    const known = await knownO200kSpecialTokenIds(gptOss.client, expected, 201_088, 10_000);
    const measured = await discoverSpecialTokenIds(gptOss.client, 60_000);
    assert.ok(known);
    assert.deepEqual(known.byName, measured.byName);
    assert.deepEqual(
      [...known.forbidden].sort((a, b) => a - b),
      [...measured.forbidden].sort((a, b) => a - b),
    );
    assert.equal(await knownO200kSpecialTokenIds(byte.client, expected, 201_088, 10_000), undefined);
  } finally {
    await Promise.all([gptOss.stop(), byte.stop()]);
    await Deno.remove(dir, { recursive: true });
  }
});
