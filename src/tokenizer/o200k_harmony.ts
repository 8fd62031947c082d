/**
 * gpt-oss's tokenizer, o200k_harmony: o200k_base's 199,998 ranked byte sequences plus the Harmony special
 * tokens at 199,998–201,087 (openai/harmony `tiktoken_ext/public_encodings.py`), in process.
 *
 * The library is `gpt-tokenizer` (its `o200k_harmony` encoding, vocabulary data inside the npm package,
 * nothing fetched at run time). Measured against `js-tiktoken` and `tiktoken` (WASM) on this box
 * (docs/benchmarks.md "Tokenizer"): fastest on short and long texts and the quickest to load; all three give
 * identical ids on the probe texts.
 *
 * Text is encoded with `encode_ordinary` semantics: no special token is recognised, so text that spells
 * `<|start|>` becomes ordinary tokens by construction (the allowed set is empty and nothing is disallowed,
 * so the library neither matches nor throws on special text). The caller's forbidden-id check stays as a
 * second line.
 */

/** The Harmony and reserved special tokens of o200k_harmony, by id. */
export function o200kHarmonySpecials(): Map<number, string> {
  const named: [number, string][] = [
    [199998, "<|startoftext|>"],
    [199999, "<|endoftext|>"],
    [200002, "<|return|>"],
    [200003, "<|constrain|>"],
    [200005, "<|channel|>"],
    [200006, "<|start|>"],
    [200007, "<|end|>"],
    [200008, "<|message|>"],
    [200012, "<|call|>"],
    [200018, "<|endofprompt|>"],
  ];
  const specials = new Map<number, string>(named);
  for (let id = O200K_BASE_SIZE; id < O200K_HARMONY_SIZE; id++) {
    if (!specials.has(id)) specials.set(id, `<|reserved_${id}|>`);
  }
  return new Map([...specials].sort((a, b) => a[0] - b[0]));
}

/** Ranked byte sequences of o200k_base (ids 0 … 199,997). */
export const O200K_BASE_SIZE = 199_998;
/** Every id of o200k_harmony, specials included (gpt-oss's `n_vocab`). */
export const O200K_HARMONY_SIZE = 201_088;

/** An in-process tokenizer for one vocabulary. */
export interface LocalTokenizer {
  /** Vocabulary name, for logs. */
  readonly name: string;
  /** Token ids of `text`, never a special token (`encode_ordinary`). */
  encodeOrdinary(text: string): number[];
}

let _loaded: Promise<LocalTokenizer> | undefined;

/**
 * Loads o200k_harmony once per process (~80–140 ms and ~65 MiB, measured): only gateways serving a Harmony
 * model pay for it, and only when the first request needs it.
 */
export function loadO200kHarmony(): Promise<LocalTokenizer> {
  _loaded ??= import("gpt-tokenizer/encoding/o200k_harmony").then((module) => {
    // One options object for every call: an empty allowed set and an empty disallowed set mean "plain text".
    const ordinary = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };
    return {
      name: "o200k_harmony",
      encodeOrdinary: (text: string) => text === "" ? [] : module.encode(text, ordinary),
    };
  });
  return _loaded;
}
