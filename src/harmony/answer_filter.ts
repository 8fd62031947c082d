/**
 * Decides what of the model's output the app sees. The channel comes only from a parsed header, so text
 * can reach `text` events only from a message whose header said `final`; analysis goes to `reasoning`
 * events only when the request asked for it and configuration allows it; complete function calls become
 * `tool_call` events. Everything else (commentary preambles, headerless or malformed messages, unknown
 * channels) is dropped.
 */
import type { ChatEvent, FinishReason } from "../protocol/mod.ts";
import type { ParserEvent } from "./parser.ts";

/** Converts parser events into app events for one response. */
export class AnswerFilter {
  #includeReasoning: boolean;
  #newId: () => string;
  #sawToolCall = false;
  #ended?: "return" | "call";

  constructor(options: { includeReasoning: boolean; newId?: () => string }) {
    this.#includeReasoning = options.includeReasoning;
    this.#newId = options.newId ?? (() => `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`);
  }

  /** Events for one parser event. */
  accept(event: ParserEvent): ChatEvent[] {
    if (event.type === "content") {
      const { header } = event;
      if (header.role !== "assistant" || header.recipient !== null) return [];
      if (header.channel === "final") return [{ type: "text", delta: event.delta }];
      if (header.channel === "analysis" && this.#includeReasoning) {
        return [{ type: "reasoning", delta: event.delta }];
      }
      return [];
    }
    if (event.type === "message_end") {
      const { message } = event;
      if (event.end === "return") this.#ended = "return";
      const isFunctionCall = message.role === "assistant" && message.recipient?.startsWith("functions.") &&
        (event.end === "call" || event.end === "eos");
      if (isFunctionCall && event.end === "call") {
        this.#sawToolCall = true;
        this.#ended = "call";
        return [{
          type: "tool_call",
          id: this.#newId(),
          name: message.recipient!.slice("functions.".length),
          arguments: message.content,
        }];
      }
    }
    return [];
  }

  /** The finish reason, given whether generation hit the token limit. */
  finishReason(hitLimit: boolean): FinishReason {
    if (this.#sawToolCall) return "tool_calls";
    if (this.#ended === "return") return "stop";
    return hitLimit ? "length" : "stop";
  }
}
