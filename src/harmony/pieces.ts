/**
 * Harmony text as a sequence of pieces: special tokens and ordinary text. Keeping structure and text apart
 * from the first step is what makes the prompt path injection-proof: only the renderer creates special
 * pieces, and text pieces are tokenized in a way that can never yield a special token.
 */

/** Harmony's formatting tokens (openai/harmony, HARMONY_GPT_OSS encoding). */
export const SPECIAL_TOKENS = {
  start: "<|start|>",
  end: "<|end|>",
  message: "<|message|>",
  channel: "<|channel|>",
  constrain: "<|constrain|>",
  return: "<|return|>",
  call: "<|call|>",
} as const;

/** Name of a formatting token. */
export type SpecialName = keyof typeof SPECIAL_TOKENS;

/**
 * One piece of a rendered conversation or of a model's output. `trusted` marks text the renderer wrote
 * itself (headers, the system message), whose tokenization may be cached; content never is.
 */
export type Piece = { special: SpecialName } | { text: string; trusted?: boolean };

/** Joins pieces into Harmony text, special tokens written as their text form. */
export function piecesToText(pieces: readonly Piece[]): string {
  return pieces.map((p) => ("special" in p ? SPECIAL_TOKENS[p.special] : p.text)).join("");
}

const _BY_TEXT = new Map<string, SpecialName>(
  Object.entries(SPECIAL_TOKENS).map(([name, text]) => [text, name as SpecialName]),
);
const _SPLIT = new RegExp(
  `(${Object.values(SPECIAL_TOKENS).map((t) => t.replace(/[|]/g, "\\|")).join("|")})`,
);

/**
 * Splits Harmony text into pieces, reading special tokens from their text form. Only for trusted text:
 * the debug command's input and tests. Never applied to user content.
 */
export function textToPieces(text: string): Piece[] {
  return text.split(_SPLIT).filter((part) => part !== "").map((part) => {
    const special = _BY_TEXT.get(part);
    return special ? { special } : { text: part };
  });
}
