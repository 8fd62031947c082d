/**
 * One streamed chunk of model output as pieces, in token order. Token ids decide what is structure: a
 * special id is a special piece, and text never is, even if it spells a marker.
 *
 * A chunk usually carries one token, but several arrive together (a character split across tokens is held
 * back until complete; speculative decoding). Its `content` is the text of all of them, in which llama.cpp
 * renders gpt-oss's user-defined markers (`<|start|>`, `<|channel|>`, `<|message|>`, `<|constrain|>`) and
 * leaves the control ones (`<|end|>`, `<|return|>`, `<|call|>`) out. So the content is cut at marker texts,
 * and walking the ids in order places each special piece: a rendered one where its text is, an unrendered
 * one after the text that precedes it (when text tokens came before it). Marker texts that no special id
 * accounts for (ordinary tokens spelling a marker) are dropped in a chunk that carries specials; in a chunk
 * of only text tokens the content is text as it stands.
 */
import { type Piece, SPECIAL_TOKENS, type SpecialName } from "./pieces.ts";

const _MARKERS = new RegExp(
  `(${Object.values(SPECIAL_TOKENS).map((t) => t.replace(/[|]/g, "\\|")).join("|")})`,
);
const _MARKER_TEXTS = new Set<string>(Object.values(SPECIAL_TOKENS));

/** Pieces of one chunk; `names` maps the model's special ids to their Harmony names. */
export function chunkPieces(
  content: string | undefined,
  tokens: readonly number[] | undefined,
  names: ReadonlyMap<number, SpecialName>,
): Piece[] {
  const ids = tokens ?? [];
  // The common case, one text token (or text only): no allocation beyond the piece itself.
  let specials = 0;
  for (const id of ids) if (names.has(id)) specials++;
  if (specials === 0) return content ? [{ text: content }] : [];
  if (ids.length === 1) return [{ special: names.get(ids[0])! }];
  const parts = content ? content.split(_MARKERS) : [];
  const pieces: Piece[] = [];
  let next = 0; // first part not yet emitted
  let text = ""; // text gathered for the next text piece
  const takeTextUntil = (stop: number) => {
    for (; next < stop; next++) if (!_MARKER_TEXTS.has(parts[next])) text += parts[next];
    if (text) pieces.push({ text });
    text = "";
  };
  let sawText = false;
  for (const id of ids) {
    const name = names.get(id);
    if (name === undefined) {
      sawText = true;
      continue;
    }
    const marker = SPECIAL_TOKENS[name];
    let at = -1;
    for (let i = next; i < parts.length; i++) {
      if (_MARKER_TEXTS.has(parts[i])) {
        if (parts[i] === marker) at = i;
        break;
      }
    }
    if (at >= 0) {
      takeTextUntil(at);
      next = at + 1;
    } else if (sawText) {
      let stop = next;
      while (stop < parts.length && !_MARKER_TEXTS.has(parts[stop])) stop++;
      takeTextUntil(stop);
    }
    pieces.push({ special: name });
    sawText = false;
  }
  takeTextUntil(parts.length);
  return pieces;
}
