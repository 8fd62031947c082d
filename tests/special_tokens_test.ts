/**
 * The forbidden-id set is discovered from the served model (security review item 9), against the real
 * llama-server on the tiny model, whose vocabulary has gpt-oss's Harmony markers plus `<|startoftext|>` and
 * a reserved id as control tokens.
 */
import assert from "node:assert/strict";
import { withLlamaServer } from "./helpers/models.ts";
import {
  discoverSpecialTokenIds,
  generateTinyModel,
  Supervisor,
  tinyModelVocabulary,
  vocabularySize,
} from "../src/inference/mod.ts";

const TIMEOUT_MS = 10_000;

function withLlama(fn: (s: Supervisor) => Promise<void>) {
  return withLlamaServer(
    async (dir) => {
      await Deno.writeFile(`${dir}/tiny.gguf`, generateTinyModel());
      return `${dir}/tiny.gguf`;
    },
    fn,
    { contextSize: 512, prefix: "pg-special-" },
  );
}

/** GGUF token types (llama.cpp): 1 normal, 3 control, 4 user-defined, 6 byte. */
const NORMAL = 1;

Deno.test("discoverSpecialTokenIds() forbids every non-normal id of the served vocabulary, <|startoftext|> and reserved ids included", async () => {
  const vocab = tinyModelVocabulary();
  const expected = vocab.types.flatMap((type, id) => (type === NORMAL ? [] : [id]));
  assert.ok(expected.includes(vocab.tokens.indexOf("<|startoftext|>")));
  assert.ok(expected.includes(vocab.tokens.indexOf("<|reserved_200013|>")));
  assert.ok(expected.includes(vocab.tokens.indexOf("[control]")), "a control token without <|");
  await withLlama(async (s) => {
    const specials = await discoverSpecialTokenIds(s.client, TIMEOUT_MS);
    assert.deepEqual([...specials.forbidden].sort((a, b) => a - b), expected);
    assert.equal(specials.byName.get("start"), vocab.tokens.indexOf("<|start|>"));
  });
});

Deno.test("vocabularySize() finds the first id llama-server refuses", async () => {
  await withLlama(async (s) => {
    assert.equal(await vocabularySize(s.client, TIMEOUT_MS), tinyModelVocabulary().tokens.length);
  });
});
