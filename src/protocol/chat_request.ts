/**
 * The decrypted chat request: the OpenAI chat-completions shape plus `reasoning_effort` and `verbosity`.
 * Strict everywhere: an unknown field (including `__proto__` or `constructor`) is an error, not ignored.
 */
import { z } from "zod";
import { GatewayError } from "./errors.ts";

/** Bounds on a request, set per profile in configuration. */
export interface ChatRequestLimits {
  maxMessages: number;
  maxMessageChars: number;
  maxTotalChars: number;
  maxTools: number;
  maxTokensCap: number;
}

const _name = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);

/** Builds the request schema for the given limits. */
export function chatRequestSchema(limits: ChatRequestLimits) {
  const content = z.string().max(limits.maxMessageChars);
  const toolCall = z.strictObject({
    id: z.string().max(64),
    type: z.literal("function"),
    function: z.strictObject({ name: _name, arguments: z.string().max(limits.maxMessageChars) }),
  });
  const message = z.discriminatedUnion("role", [
    z.strictObject({ role: z.literal("system"), content }),
    z.strictObject({ role: z.literal("developer"), content }),
    z.strictObject({ role: z.literal("user"), content }),
    z.strictObject({
      role: z.literal("assistant"),
      content: content.nullable().optional(),
      tool_calls: z.array(toolCall).max(16).optional(),
    }),
    z.strictObject({
      role: z.literal("tool"),
      content,
      tool_call_id: z.string().max(64),
      name: _name.optional(),
    }),
  ]);
  const tool = z.strictObject({
    type: z.literal("function"),
    function: z.strictObject({
      name: _name,
      description: z.string().max(4096).optional(),
      parameters: z.record(z.string(), z.unknown()).optional(),
    }),
  });
  return z.strictObject({
    messages: z.array(message).min(1).max(limits.maxMessages),
    max_tokens: z.int().min(1).max(limits.maxTokensCap).optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    stream: z.boolean().default(true),
    reasoning_effort: z.enum(["low", "medium", "high"]).optional(),
    verbosity: z.enum(["brief", "normal", "detailed"]).optional(),
    include_reasoning: z.boolean().default(false),
    tools: z.array(tool).max(limits.maxTools).optional(),
    device: z.strictObject({
      public_key: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
      signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/),
    }).optional(),
    /** A Privacy Pass token (RFC 9577 §2.2, 354 bytes, base64url) in token mode, instead of `device`. */
    token: z.string().regex(/^[A-Za-z0-9_-]{472}$/).optional(),
    pow: z.strictObject({
      challenge: z.string().max(200),
      solution: z.string().regex(/^\d{1,12}$/),
    }).optional(),
  }).superRefine((request, ctx) => {
    // Everything the model will read counts: messages, tool calls and tool definitions (issue #10: tool
    // schemas escaped the limit and a 36 KiB request became a 4 MB prompt).
    let total = 0;
    for (const m of request.messages) {
      total += (m.content ?? "").length;
      if (m.role === "assistant") {
        for (const call of m.tool_calls ?? []) total += call.function.arguments.length;
      }
    }
    if (request.tools) total += JSON.stringify(request.tools).length;
    if (total > limits.maxTotalChars) {
      ctx.addIssue({ code: "custom", message: "conversation too long", path: ["messages"] });
    }
    if (request.messages.at(-1)?.role === "assistant") {
      ctx.addIssue({
        code: "custom",
        message: "last message must not be from the assistant",
        path: ["messages"],
      });
    }
  });
}

/** Deepest nesting of arrays and objects a request may have (tool schemas included). */
export const MAX_JSON_DEPTH = 32;

/**
 * Checks what the schema cannot see cheaply, without recursion: nesting depth (a tool schema nested
 * ~3,400 deep overflowed the renderer's recursion) and lone UTF-16 surrogates from `\ud800` escapes
 * (llama-server's JSON parser answers them with a 500, which once opened the circuit breaker for
 * everyone). Returns a fixed, input-free problem description, or undefined when the shape is fine.
 */
export function checkJsonShape(value: unknown): string | undefined {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item === "string") {
      if (!item.isWellFormed()) return "text: lone surrogate";
    } else if (item !== null && typeof item === "object") {
      if (depth >= MAX_JSON_DEPTH) return `(root): nested deeper than ${MAX_JSON_DEPTH}`;
      if (Array.isArray(item)) {
        for (const child of item) stack.push([child, depth + 1]);
      } else {
        for (const [key, child] of Object.entries(item)) {
          if (!key.isWellFormed()) return "text: lone surrogate";
          stack.push([child, depth + 1]);
        }
      }
    }
  }
  return undefined;
}

/** A validated chat request. */
export type ChatRequest = z.infer<ReturnType<typeof chatRequestSchema>>;
/** One message of a chat request. */
export type ChatMessage = ChatRequest["messages"][number];
/** A function tool the app offers the model. */
export type ChatTool = NonNullable<ChatRequest["tools"]>[number];

const _utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Decodes the Binary HTTP content into a validated request: UTF-8, then JSON, then the schema, each with
 * its own error code. Schema errors name only the path, never the offending value.
 */
export function parseChatRequest(
  payload: Uint8Array,
  schema: ReturnType<typeof chatRequestSchema>,
): ChatRequest {
  let text: string;
  try {
    text = _utf8.decode(payload);
  } catch {
    throw new GatewayError("invalid_utf8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new GatewayError("invalid_json");
  }
  const shape = checkJsonShape(json);
  if (shape) throw new GatewayError("invalid_request", { detail: shape });
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue.path.map(String).join(".") || "(root)";
    const keys = issue.code === "unrecognized_keys" ? ` unknown field` : "";
    throw new GatewayError("invalid_request", { detail: `${path}:${keys || " " + issue.code}` });
  }
  return result.data;
}
