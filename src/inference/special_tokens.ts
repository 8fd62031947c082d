/**
 * Discovers, from the served model itself, every token id that must never come from text: the second
 * line of defence behind the `<|` split in harmony/safe_tokens.ts (review item 9: the list used to be the
 * Harmony markers plus four names, missing `<|startoftext|>` and gpt-oss's reserved ids).
 *
 * llama-server exposes no token attributes, so they are measured through `/tokenize`:
 *
 *   1. vocabulary size: the smallest id that `/tokenize` with pieces refuses (binary search);
 *   2. every id's text: one `/tokenize` of the ids `[0, n)` with `with_pieces`;
 *   3. each text tokenized on its own, once with `parse_special: true` and once with `false`.
 *
 * A control (or unknown) token is matched only when special tokens are parsed, so its id appears in the
 * second result and never in the first: those ids are collected. User-defined tokens are matched in both
 * (the gpt-oss trap, shared/notes/llama-server.md); every such token in gpt-oss is a Harmony marker, and
 * every id whose text contains `<|` is added as well, which is harmless for a normal token since the split
 * makes `<|` unreachable from text anyway.
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
  const texts = pieces.filter((p): p is string => p !== undefined && p !== "");
  const asText = new Set(await client.tokenizeEach(texts, false, timeoutMs));
  const asSpecial = await client.tokenizeEach(texts, true, timeoutMs);
  const forbidden = new Set<number>(byName.values());
  for (const id of asSpecial) if (!asText.has(id)) forbidden.add(id);
  pieces.forEach((piece, id) => {
    if (piece?.includes("<|")) forbidden.add(id);
  });
  return { byName, forbidden };
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
