/**
 * The injection-proof prompt path. Structure (special pieces) becomes token ids directly; text is
 * tokenized by llama-server in segments that can never contain a special token, and the result is
 * verified.
 *
 * Why segments: llama.cpp marks gpt-oss's `<|start|>`, `<|channel|>`, `<|message|>`, `<|constrain|>` (and
 * `<|end|>`) as user-defined tokens, which its tokenizer matches in any text even with
 * `parse_special: false` (shared/notes/llama-server.md). Every Harmony special token starts with `<|`, so
 * text is cut between `<` and `|` wherever `<|` occurs; no segment can then contain a special token's text,
 * and the model sees those characters as ordinary text tokens, as the reference `encode_ordinary` does.
 * The ids are then checked against every special id: if any appears, the request fails closed.
 *
 * With an in-process tokenizer (tokenizer/, `encode_ordinary`: no special token is ever matched) the text
 * needs no split and no round trip: {@link piecesToTokenIdsLocal}. The forbidden-id check stays.
 */
import type { Piece, SpecialName } from "./pieces.ts";

/** Special token ids of the served model, discovered at start-up. */
export interface SpecialTokenIds {
  byName: ReadonlyMap<SpecialName, number>;
  /** Every id that must never come from text: the Harmony markers and any other special of the vocab. */
  forbidden: ReadonlySet<number>;
}

/** Raised when text tokenized into a special token despite the segmentation: the request is refused. */
export class InjectionDetectedError extends Error {
  constructor() {
    super("Text tokenized into a special token");
    this.name = "InjectionDetectedError";
  }
}

/** Splits text so that no segment contains `<|`. */
export function splitUntrustedText(text: string): string[] {
  return text.split(/(?<=<)(?=\|)/).filter((s) => s !== "");
}

/**
 * Token ids of renderer-written text (headers, the system message), keyed by text. Bounded; never holds
 * content from a request.
 */
export class TrustedTokenCache {
  #entries = new Map<string, number[]>();
  #max: number;

  constructor(max = 256) {
    this.#max = max;
  }

  get(text: string): number[] | undefined {
    return this.#entries.get(text);
  }

  set(text: string, ids: number[]): void {
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(text, ids);
  }
}

/** Converts rendered pieces into token ids without ever letting text become structure. */
export async function piecesToTokenIds(
  pieces: readonly Piece[],
  specials: SpecialTokenIds,
  tokenize: (text: string) => Promise<number[]>,
  cache?: TrustedTokenCache,
): Promise<number[]> {
  const parts = await Promise.all(pieces.map(async (piece) => {
    if ("special" in piece) {
      const id = specials.byName.get(piece.special);
      if (id === undefined) throw new Error(`The model has no ${piece.special} token`);
      return [id];
    }
    const cached = piece.trusted ? cache?.get(piece.text) : undefined;
    if (cached) return cached;
    const segments = await Promise.all(splitUntrustedText(piece.text).map(tokenize));
    const ids = segments.flat();
    for (const id of ids) if (specials.forbidden.has(id)) throw new InjectionDetectedError();
    if (piece.trusted) cache?.set(piece.text, ids);
    return ids;
  }));
  return parts.flat();
}

/**
 * {@link piecesToTokenIds} with an in-process `encode_ordinary` tokenizer: synchronous, no `<|` split
 * (the encoder never matches a special token, as the reference renders text), the same forbidden-id check,
 * and renderer-written text served from `cache`.
 */
export function piecesToTokenIdsLocal(
  pieces: readonly Piece[],
  specials: SpecialTokenIds,
  encodeOrdinary: (text: string) => number[],
  cache?: TrustedTokenCache,
): number[] {
  const ids: number[] = [];
  for (const piece of pieces) {
    if ("special" in piece) {
      const id = specials.byName.get(piece.special);
      if (id === undefined) throw new Error(`The model has no ${piece.special} token`);
      ids.push(id);
      continue;
    }
    let part = piece.trusted ? cache?.get(piece.text) : undefined;
    if (!part) {
      part = encodeOrdinary(piece.text);
      for (const id of part) if (specials.forbidden.has(id)) throw new InjectionDetectedError();
      if (piece.trusted) cache?.set(piece.text, part);
    }
    for (const id of part) ids.push(id);
  }
  return ids;
}
