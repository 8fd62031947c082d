/**
 * Discovers, from the served model itself, every token id that must never come from text: the second
 * line of defence behind the `<|` split in harmony/safe_tokens.ts (review item 9: the list used to be the
 * Harmony markers plus four names, missing `<|startoftext|>` and gpt-oss's reserved ids).
 *
 * llama-server exposes no token attributes, so they are measured through `/tokenize`:
 *
 *   1. vocabulary size: the smallest id that `/tokenize` with pieces refuses (binary search);
 *   2. every id's text: one `/tokenize` of the ids `[0, n)` with `with_pieces`;
 *   3. candidates: all those texts joined into one text, tokenized once with `parse_special: true` and
 *      once with `false`; an id in the first result and not in the second is a candidate;
 *   4. each candidate's text tokenized on its own, both ways: an id matched only when special tokens are
 *      parsed is a control (or unknown) token, and is collected.
 *
 * A control token is matched only when special tokens are parsed, so every control id whose text is in the
 * joined text is a candidate (no false negative); joining can change the ordinary tokens around a special
 * one, so step 4 removes false candidates. Tokenizing each of gpt-oss's 201,088 texts separately took
 * ~0.5 ms each in llama-server (its special-token partition runs per text): ~200 s, longer than any
 * first-token deadline; the joined text takes ~3 s (measured, docs/benchmarks.md).
 *
 * User-defined tokens are matched in both modes (the gpt-oss trap, shared/notes/llama-server.md); every
 * such token in gpt-oss is a Harmony marker, and every id whose text contains `<|` is added as well, which
 * is harmless for a normal token since text can never become `<|` … `|>` structure anyway.
 */
import type { SpecialName, SpecialTokenIds } from "../harmony/mod.ts";
import { SPECIAL_TOKENS } from "../harmony/mod.ts";
import { GatewayError } from "../protocol/mod.ts";
import type { LlamaClient } from "./llama_client.ts";

/** Upper bound of the vocabulary-size search: 2^24 ids, far above any tokenizer (gpt-oss: 201 088). */
export const MAX_VOCABULARY_SIZE = 1 << 24;

/** The Harmony markers by name and every id the vocabulary treats as special. */
export async function discoverSpecialTokenIds(
  client: LlamaClient,
  timeoutMs: number,
): Promise<SpecialTokenIds> {
  const byName = new Map<SpecialName, number>();
  for (const [name, text] of Object.entries(SPECIAL_TOKENS) as [SpecialName, string][]) {
    const ids = await client.tokenize(text, true, undefined, timeoutMs);
    if (ids.length !== 1) throw new GatewayError("upstream_error");
    byName.set(name, ids[0]);
  }
  const size = await vocabularySize(client, timeoutMs);
  const all = Array.from({ length: size }, (_, id) => id);
  const pieces = await client.tokenPieces(all, timeoutMs);
  if (!pieces) throw new GatewayError("upstream_error");
  const joined = pieces.filter((p): p is string => p !== undefined && p !== "").join("\n");
  const asText = new Set(await client.tokenize(joined, false, undefined, timeoutMs));
  const candidates = new Set<number>();
  for (const id of await client.tokenize(joined, true, undefined, timeoutMs)) {
    if (!asText.has(id)) candidates.add(id);
  }
  const texts = [...candidates].map((id) => pieces[id]).filter((p): p is string =>
    p !== undefined && p !== ""
  );
  const forbidden = new Set<number>(byName.values());
  if (texts.length > 0) {
    const alone = new Set(await client.tokenizeEach(texts, false, timeoutMs));
    for (const id of await client.tokenizeEach(texts, true, timeoutMs)) {
      if (candidates.has(id) && !alone.has(id)) forbidden.add(id);
    }
  }
  pieces.forEach((piece, id) => {
    if (piece?.includes("<|")) forbidden.add(id);
  });
  return { byName, forbidden };
}

/**
 * The fast path for gpt-oss's own vocabulary: when the Harmony markers have o200k_harmony's ids, the
 * vocabulary has its 201,088 ids and ids 199,998–201,087 carry exactly its special texts, the forbidden set
 * is those 1,090 ids, found with ~35 small requests instead of the ~3 s classification. Anything else
 * (another vocabulary, a renamed or moved special) returns undefined: the caller measures in full.
 *
 * What it does not measure: whether an ordinary o200k id was re-typed as control in this GGUF. Such a
 * token could only come from text through the tokenizer, and with o200k_harmony in process (the only case
 * this path serves; the caller checks the tokenizer against the server next) text is encoded by rank with
 * no special matching, so the served GGUF's token types never reach the prompt path.
 */
export async function knownO200kSpecialTokenIds(
  client: LlamaClient,
  expected: ReadonlyMap<number, string>,
  vocabulary: number,
  timeoutMs: number,
): Promise<SpecialTokenIds | undefined> {
  const byName = new Map<SpecialName, number>();
  for (const [name, text] of Object.entries(SPECIAL_TOKENS) as [SpecialName, string][]) {
    const ids = await client.tokenize(text, true, undefined, timeoutMs);
    if (ids.length !== 1 || expected.get(ids[0]) !== text) return undefined;
    byName.set(name, ids[0]);
  }
  if (await vocabularySize(client, timeoutMs) !== vocabulary) return undefined;
  const ids = [...expected.keys()];
  const pieces = await client.tokenPieces(ids, timeoutMs);
  if (!pieces || pieces.some((piece, i) => piece !== expected.get(ids[i]))) return undefined;
  return { byName, forbidden: new Set(ids) };
}

/** The number of ids llama-server knows: every id below it has a piece, the id itself is refused. */
export async function vocabularySize(client: LlamaClient, timeoutMs: number): Promise<number> {
  const known = async (id: number) => (await client.tokenPieces([id], timeoutMs)) !== undefined;
  if (!await known(0)) throw new GatewayError("upstream_error");
  let low = 0; // known
  let high = MAX_VOCABULARY_SIZE; // assumed unknown; checked below
  if (await known(high)) throw new GatewayError("upstream_error");
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (await known(mid)) low = mid;
    else high = mid;
  }
  return high;
}
