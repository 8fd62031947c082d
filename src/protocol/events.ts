/**
 * Events the app receives, inside the encrypted stream. Each chunk's payload is a JSON array of events.
 * The last chunk always carries `done` or `error`.
 */
import type { ErrorCode } from "./errors.ts";

/** Why generation ended. */
export type FinishReason = "stop" | "length" | "tool_calls" | "cancelled";

/** Token counts of one request. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** A piece of the answer (Harmony `final` channel). */
export interface TextEvent {
  type: "text";
  delta: string;
}
/** A piece of reasoning (Harmony `analysis`), only when the request asks and configuration allows. */
export interface ReasoningEvent {
  type: "reasoning";
  delta: string;
}
/** A complete function call the app should run. */
export interface ToolCallEvent {
  type: "tool_call";
  id: string;
  name: string;
  arguments: string;
}
/** The end of a successful response. */
export interface DoneEvent {
  type: "done";
  finish_reason: FinishReason;
  usage: Usage;
}
/** The end of a failed response. */
export interface ErrorEvent {
  type: "error";
  code: ErrorCode;
  message: string;
  /** With `challenge_required`: solve it (SHA-256 leading zero bits) and resend with `pow`. */
  challenge?: { token: string; difficulty: number };
  /** With rate limits and overload: when to retry. */
  retry_after?: number;
}

/** Any event of the response stream. */
export type ChatEvent = TextEvent | ReasoningEvent | ToolCallEvent | DoneEvent | ErrorEvent;

/** Whether an event ends the stream. */
export function isTerminal(event: ChatEvent): event is DoneEvent | ErrorEvent {
  return event.type === "done" || event.type === "error";
}
