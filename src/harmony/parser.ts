/**
 * Incremental Harmony parser: a state machine over pieces (special tokens by id, text by piece) that
 * yields message starts, content deltas and message ends. It follows the reference parser's header rules
 * (openai/harmony `StreamableParser`) but never throws: malformed output gets a defined outcome instead.
 *
 *   expect_start --<|start|>--> header --<|message|>--> content --<|end|>/<|return|>/<|call|>--> expect_start
 *
 * Defined behaviour for malformed output:
 * - text with no header at all: a message with no channel (the gateway never shows it as `final`);
 * - a header with leftover words or an empty channel: the message's channel is cleared (dropped);
 * - a stop token inside a header: the header's words become the content of a channel-less message, as
 *   the reference's non-strict mode does, but with the parsed channel kept only if well formed;
 * - `<|start|>` inside content ends the open message; `<|message|>`, `<|channel|>`, `<|constrain|>`
 *   inside content are dropped, so structure never turns into text;
 * - end of stream inside content ends the message (`end: "eos"`), inside a header drops it.
 *
 * Strict mode (the reference's `ParseOptions { strict: true }`, its default) instead rejects a header that
 * never reaches `<|message|>`: a stop token inside a header, or the end of the stream inside one, yields one
 * `malformed` event and the parser ignores everything after it (the reference raises an error there).
 */
import { type Piece, SPECIAL_TOKENS } from "./pieces.ts";

/** Roles of the Harmony data model. */
const _ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

/** A parsed message header. */
export interface MessageHeader {
  role: string;
  name: string | null;
  channel: string | null;
  recipient: string | null;
  content_type: string | null;
}

/** A complete message. */
export interface ParsedMessage extends MessageHeader {
  content: string;
}

/** What the parser reports as it goes. */
export type ParserEvent =
  | { type: "message_start"; header: MessageHeader }
  | { type: "content"; delta: string; header: MessageHeader }
  | { type: "message_end"; message: ParsedMessage; end: "end" | "return" | "call" | "eos" }
  | { type: "malformed"; reason: "header_without_message" };

type _State =
  | { kind: "expect_start" }
  | { kind: "header"; text: string }
  | { kind: "content"; header: MessageHeader; content: string }
  | { kind: "failed" };

/** Parses one completion. Create one per response. */
export class HarmonyParser {
  #state: _State;
  #nextRole: string | null;
  #strict: boolean;
  #keepContent: (header: MessageHeader) => boolean;
  readonly messages: ParsedMessage[] = [];

  /**
   * `role`: the role whose header the stream starts in (the prompt ended with `<|start|>assistant`).
   * `header`: start directly inside a message's content (the prompt ended with `<|message|>`).
   * `strict`: reject a header that never reaches `<|message|>` (see the module comment).
   * `keepContent`: whether a message's whole content is collected for its `message_end` (default: every
   * message's). A message not kept ends with content "": its text went out in `content` deltas, and
   * collecting it would hold the whole answer for the stream's lifetime (docs/benchmarks.md, "Memory").
   */
  constructor(
    options: {
      role?: string | null;
      header?: MessageHeader;
      strict?: boolean;
      keepContent?: (header: MessageHeader) => boolean;
    } = {},
  ) {
    this.#nextRole = options.role ?? null;
    this.#strict = options.strict ?? false;
    this.#keepContent = options.keepContent ?? (() => true);
    this.#state = options.header
      ? { kind: "content", header: options.header, content: "" }
      : options.role
      ? { kind: "header", text: "" }
      : { kind: "expect_start" };
  }

  /** Feeds one piece. */
  push(piece: Piece): ParserEvent[] {
    const events: ParserEvent[] = [];
    const state = this.#state;
    if (state.kind === "failed") return events;
    if ("text" in piece) {
      if (piece.text === "") return events;
      if (state.kind === "header") state.text += piece.text;
      else if (state.kind === "content") {
        if (this.#keepContent(state.header)) state.content += piece.text;
        events.push({ type: "content", delta: piece.text, header: state.header });
      } else if (piece.text.trim() !== "") {
        // Text with no header: a channel-less message, never shown as final.
        const header = _emptyHeader(this.#nextRole ?? "assistant");
        this.#nextRole = null;
        this.#state = { kind: "content", header, content: piece.text };
        events.push({ type: "message_start", header }, { type: "content", delta: piece.text, header });
      }
      return events;
    }
    switch (piece.special) {
      case "start":
        if (state.kind === "content") events.push(this.#finish(state, "eos"));
        this.#state = { kind: "header", text: "" };
        break;
      case "message":
        if (state.kind === "header") {
          const header = parseHeader(state.text, this.#nextRole) ?? _emptyHeader(this.#nextRole ?? "unknown");
          this.#nextRole = null;
          this.#state = { kind: "content", header, content: "" };
          events.push({ type: "message_start", header });
        }
        break;
      case "channel":
      case "constrain":
        if (state.kind === "header") state.text += SPECIAL_TOKENS[piece.special];
        break;
      case "end":
      case "return":
      case "call":
        if (state.kind === "content") events.push(this.#finish(state, piece.special));
        else if (state.kind === "header" && this.#strict) return this.#fail();
        else if (state.kind === "header") {
          const malformed = this.#headerOnlyMessage(state.text);
          if (malformed) {
            events.push(
              { type: "message_start", header: malformed.header },
              this.#finish(malformed, piece.special),
            );
          }
          this.#state = { kind: "expect_start" };
          this.#nextRole = null;
        }
        break;
    }
    return events;
  }

  /** Signals the end of the stream. */
  end(): ParserEvent[] {
    const state = this.#state;
    if (state.kind === "content") return [this.#finish(state, "eos")];
    if (state.kind === "header" && this.#strict) return this.#fail();
    if (state.kind === "failed") return [];
    this.#state = { kind: "expect_start" };
    return [];
  }

  #fail(): ParserEvent[] {
    this.#state = { kind: "failed" };
    return [{ type: "malformed", reason: "header_without_message" }];
  }

  #finish(
    state: { header: MessageHeader; content: string },
    end: "end" | "return" | "call" | "eos",
  ): ParserEvent {
    const message = { ...state.header, content: state.content };
    this.messages.push(message);
    this.#state = { kind: "expect_start" };
    return { type: "message_end", message, end };
  }

  /** A stop token arrived inside a header: its words become content (reference non-strict mode). */
  #headerOnlyMessage(text: string): { header: MessageHeader; content: string } | undefined {
    const role = this.#nextRole;
    if (role === null || text.trim() === "") return undefined;
    const { channel, rest } = _extractChannel(text);
    const words = rest.trim().split(/[ \t\n\r\f]+/).filter((w) => w !== "");
    if (words[0] === role) words.shift();
    const header = { ..._emptyHeader(role), channel: channel ?? null };
    return { header, content: words.join(" ") };
  }
}

function _emptyHeader(role: string): MessageHeader {
  return { role, name: null, channel: null, recipient: null, content_type: null };
}

function _extractChannel(text: string): { channel?: string; rest: string; malformed?: boolean } {
  const marker = SPECIAL_TOKENS.channel;
  const index = text.indexOf(marker);
  if (index < 0) return { rest: text };
  const after = text.slice(index + marker.length);
  const stop = after.search(/[\s<]/);
  const end = stop < 0 ? after.length : stop;
  const channel = after.slice(0, end);
  if (channel === "") return { rest: text, malformed: true };
  return { channel, rest: text.slice(0, index) + after.slice(end) };
}

/**
 * Parses a header's text (special tokens in text form) as the reference does. Returns `undefined` when
 * the header is malformed (empty channel, unknown role, leftover words).
 */
export function parseHeader(text: string, knownRole: string | null): MessageHeader | undefined {
  const extracted = _extractChannel(text);
  if (extracted.malformed) return undefined;
  let rest = extracted.rest.trim();
  const constrain = SPECIAL_TOKENS.constrain;
  if (rest.includes(constrain)) rest = rest.replaceAll(constrain, ` ${constrain}`).trim();
  const parts = rest.split(/[ \t\n\r\f]+/).filter((p) => p !== "");
  let role = knownRole;
  let name: string | null = null;
  if (role === null) {
    const first = parts[0];
    if (first === undefined) return undefined;
    if (_ROLES.has(first)) role = first;
    else if (parts.length > 1 || first.startsWith("to=")) {
      parts.shift();
      role = "tool";
      name = first;
    } else return undefined;
  }
  if (parts[0] === role) parts.shift();
  let recipient: string | null = null;
  let contentType: string | null = null;
  if (parts.length > 0) {
    const count = parts.length;
    const last = parts.pop()!;
    if (last.startsWith("to=")) recipient = last.slice(3);
    else if (count === 1) recipient = last;
    else {
      contentType = last;
      const raw = parts.pop();
      if (raw !== undefined) recipient = raw.startsWith("to=") ? raw.slice(3) : raw;
    }
    if (parts.length > 0) return undefined;
  }
  return { role, name, channel: extracted.channel ?? null, recipient, content_type: contentType };
}
