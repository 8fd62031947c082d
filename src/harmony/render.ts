/**
 * Harmony renderer, faithful to the reference data model (openai/harmony): a conversation of messages
 * becomes pieces (special tokens and text), byte for byte what the reference renders.
 *
 *   message = <|start|> header <|message|> content (<|end|> | <|call|> for an assistant tool call)
 *   header  = role[:name] | tool-name,  [" to=" recipient],  [<|channel|> channel],  [" " content_type]
 *
 * A content type beginning with `<|constrain|>` keeps that marker as a special token.
 */
import type { Piece } from "./pieces.ts";
import { schemaToTypeScript } from "./typescript_schema.ts";

/** System message content (reference `SystemContent`); `null`/absent fields are not rendered. */
export interface SystemContent {
  model_identity?: string | null;
  knowledge_cutoff?: string | null;
  conversation_start_date?: string | null;
  reasoning_effort?: "low" | "medium" | "high" | null;
  valid_channels?: string[] | null;
  channel_required?: boolean | null;
}

/** A function tool (reference `ToolDescription`). */
export interface FunctionTool {
  name: string;
  description: string;
  parameters?: Record<string, unknown> | null;
}

/** Developer message content (reference `DeveloperContent`). */
export interface DeveloperContent {
  instructions?: string | null;
  function_tools?: FunctionTool[] | null;
  /**
   * Structured output (OpenAI's Harmony guide, "Structured output"): JSON Schemas the answer should
   * follow, rendered as a `# Response Formats` section at the end of the developer message. Rendering
   * only steers the model; it does not enforce the schema (that needs a grammar during sampling).
   */
  response_formats?: ResponseFormat[] | null;
  /** Not in the reference model: the gateway wrote all of it (no app text), so its tokens may be cached. */
  gateway_authored?: boolean;
}

/** One named response format: a JSON Schema and an optional description. */
export interface ResponseFormat {
  name: string;
  description?: string | null;
  schema: Record<string, unknown>;
}

/** One message of the reference data model. */
export type HarmonyMessage =
  | { role: "system"; system: SystemContent }
  | { role: "developer"; developer: DeveloperContent }
  | {
    role: "user" | "assistant" | "tool";
    name?: string | null;
    channel?: string | null;
    recipient?: string | null;
    content_type?: string | null;
    content: string;
  };

/** How a conversation is rendered. */
export interface RenderOptions {
  /** `completion` appends `<|start|>assistant` for the model to continue. */
  mode: "completion" | "conversation";
  /** Drop analysis before the first final message when the last assistant message is final. */
  autoDropAnalysis: boolean;
}

/** Renders a conversation into pieces. */
export function renderConversation(messages: readonly HarmonyMessage[], options: RenderOptions): Piece[] {
  const hasFunctionTools = messages.some((m) =>
    m.role === "developer" && (m.developer.function_tools?.length ?? 0) > 0
  );
  const channelOf = (m: HarmonyMessage) => ("content" in m ? m.channel ?? null : null);
  const lastAssistant = [...messages].reverse().find((m) => m.role === "assistant");
  const dropAnalysis = options.autoDropAnalysis && lastAssistant !== undefined &&
    channelOf(lastAssistant) === "final";
  const firstFinal = messages.findIndex((m) => channelOf(m) === "final");
  const pieces: Piece[] = [];
  for (const [index, message] of messages.entries()) {
    if (dropAnalysis && firstFinal >= 0 && index < firstFinal && channelOf(message) === "analysis") continue;
    pieces.push(...renderMessage(message, hasFunctionTools));
  }
  if (options.mode === "completion") pieces.push({ special: "start" }, { text: "assistant", trusted: true });
  return pieces;
}

/** Renders one message. */
export function renderMessage(message: HarmonyMessage, hasFunctionTools: boolean): Piece[] {
  const pieces: Piece[] = [{ special: "start" }];
  if (message.role === "system") {
    pieces.push({ text: "system", trusted: true }, { special: "message" }, {
      text: _systemText(message.system, hasFunctionTools),
      trusted: true,
    });
    pieces.push({ special: "end" });
    return pieces;
  }
  if (message.role === "developer") {
    pieces.push({ text: "developer", trusted: true }, { special: "message" }, {
      text: _developerText(message.developer),
      ...(message.developer.gateway_authored ? { trusted: true } : {}),
    });
    pieces.push({ special: "end" });
    return pieces;
  }
  if (message.role === "tool") {
    if (message.name == null) throw new TypeError("Tool messages need a name");
    pieces.push({ text: message.name, trusted: true });
  } else {
    pieces.push({
      text: message.name != null ? `${message.role}:${message.name}` : message.role,
      trusted: true,
    });
  }
  if (message.recipient != null && message.recipient !== "all") {
    pieces.push({ text: ` to=${message.recipient}`, trusted: true });
  }
  if (message.channel != null) pieces.push({ special: "channel" }, { text: message.channel, trusted: true });
  if (message.content_type != null) {
    if (message.content_type.startsWith("<|constrain|>")) {
      pieces.push({ text: " ", trusted: true }, { special: "constrain" });
      const rest = message.content_type.slice("<|constrain|>".length);
      if (rest) pieces.push({ text: rest, trusted: true });
    } else {
      pieces.push({ text: ` ${message.content_type}`, trusted: true });
    }
  }
  pieces.push({ special: "message" });
  if (message.content) pieces.push({ text: message.content });
  pieces.push({ special: message.role === "assistant" && message.recipient != null ? "call" : "end" });
  return _mergeText(pieces);
}

function _systemText(system: SystemContent, hasFunctionTools: boolean): string {
  const sections: string[] = [];
  const top = [
    system.model_identity,
    system.knowledge_cutoff != null ? `Knowledge cutoff: ${system.knowledge_cutoff}` : null,
    system.conversation_start_date != null ? `Current date: ${system.conversation_start_date}` : null,
  ].filter((line): line is string => line != null);
  if (top.length > 0) sections.push(top.join("\n"));
  if (system.reasoning_effort) sections.push(`Reasoning: ${system.reasoning_effort}`);
  if (system.valid_channels && system.valid_channels.length > 0) {
    let header = `# Valid channels: ${system.valid_channels.join(", ")}.`;
    if (system.channel_required) header += " Channel must be included for every message.";
    if (hasFunctionTools) header += "\nCalls to these tools must go to the commentary channel: 'functions'.";
    sections.push(header);
  }
  return sections.join("\n\n");
}

function _developerText(developer: DeveloperContent): string {
  const sections: string[] = [];
  if (developer.instructions != null) sections.push("# Instructions", developer.instructions);
  const tools = developer.function_tools ?? [];
  if (tools.length > 0) {
    const lines = ["## functions\n", "namespace functions {\n"];
    for (const tool of tools) {
      for (const line of _lines(tool.description)) lines.push(`// ${line}`);
      lines.push(
        tool.parameters
          ? `type ${tool.name} = (_: ${schemaToTypeScript(tool.parameters, "")}) => any;\n`
          : `type ${tool.name} = () => any;\n`,
      );
    }
    lines.push("} // namespace functions");
    sections.push(["# Tools", lines.join("\n")].join("\n\n"));
  }
  const formats = developer.response_formats ?? [];
  if (formats.length > 0) {
    // The guide's layout: `# Response Formats`, then per format `## {name}`, `// {description}`, schema.
    sections.push("# Response Formats");
    for (const format of formats) {
      const comment = format.description ? `// ${format.description}\n` : "";
      sections.push(`## ${format.name}`, `${comment}${JSON.stringify(format.schema)}`);
    }
  }
  return sections.join("\n\n");
}

/** Adjacent text pieces of the same trust are merged, so each text run is tokenized once. */
function _mergeText(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const piece of pieces) {
    const last = out.at(-1);
    if (last && "text" in last && "text" in piece && Boolean(last.trusted) === Boolean(piece.trusted)) {
      out[out.length - 1] = { text: last.text + piece.text, ...(piece.trusted ? { trusted: true } : {}) };
    } else out.push(piece);
  }
  return out;
}

/** Splits like Rust's `str::lines`: no line for an empty string or for a trailing newline. */
function _lines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  if (text.endsWith("\n")) lines.pop();
  return lines;
}
