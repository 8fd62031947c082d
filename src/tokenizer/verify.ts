/**
 * The start-up check that the in-process tokenizer is the served model's: the same ids as llama-server's
 * `/tokenize` for a set of probe texts chosen where tokenizers differ (scripts, emoji and ZWJ sequences,
 * whitespace runs, long digit runs, contractions, code). Any difference, including another vocabulary
 * altogether (the byte-level test model, a chat-template model), means the local tokenizer is not used.
 *
 * Known difference, left out of the probes: text with combining marks (Devanagari, Thai: `नमस्ते`).
 * llama.cpp's `gpt-4o` pre-tokenizer regex drops the reference's `\p{M}` classes (llama-vocab.cpp), so
 * llama-server splits such words differently from o200k_harmony; the local ids are the reference's (what
 * gpt-oss was trained on), so that difference is not a reason to fall back. tests/tokenizer_test.ts pins it,
 * so a llama.cpp that fixes it is noticed.
 *
 * No probe contains `<|`: llama.cpp turns gpt-oss's markers into control tokens even in plain text (the
 * trap in harmony/safe_tokens.ts), which is exactly what the local encoder never does.
 */
import type { LocalTokenizer } from "./o200k_harmony.ts";

/** Texts whose ids must agree. */
export const PROBE_TEXTS: readonly string[] = [
  "Hello, world! How's it going? I'd say we'll see, they're fine, you've done it.",
  "Grüße aus Köln — naïve café, señor, ça va? Æsir Øre Åse ß",
  "Привет, мир! Как дела? Съешь же ещё этих мягких французских булок.",
  "日本語のテキストと、中文文本，以及한국어 텍스트。",
  "مرحبا بالعالم — שלום עולם — Ελληνικά κείμενα — Türkçe ğüşıöç",
  "emoji 🌊🎉👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 flags 🇩🇪🇯🇵 and ❤️",
  "spaces:  two,   three,        eight;\ttab\t\ttabs\n\nnewlines\r\n\r\ncrlf   \n  trailing   ",
  "numbers 1234567890123456789 3.14159265358979 -42 1e10 0x7fffffff 1,000,000.00",
  "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n\n\n    \tindent",
  "URLs https://example.com/path?q=1&r=2#frag, emails a.b@c.de, paths /usr/local/bin",
  "ALL CAPS WORDS, MiXeD CaSe, camelCaseWord, snake_case_word, kebab-case-word",
  "\u0000\u0001 control \u007f and \u200b zero width \ufeff bom",
];

/** Where the check found a difference, if anywhere. */
export type TokenizerCheck = { ok: true } | { ok: false; probe: number };

/** Compares `local` with the served model's tokenization of every probe text. */
export async function checkAgainstServer(
  local: LocalTokenizer,
  remote: (text: string) => Promise<number[]>,
): Promise<TokenizerCheck> {
  for (const [probe, text] of PROBE_TEXTS.entries()) {
    const mine = local.encodeOrdinary(text);
    const theirs = await remote(text);
    if (mine.length !== theirs.length || mine.some((id, i) => id !== theirs[i])) return { ok: false, probe };
  }
  return { ok: true };
}
