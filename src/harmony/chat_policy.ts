/**
 * The gateway's policy for turning an app's chat request into a Harmony conversation: the system message
 * (identity, cutoff, today's date, reasoning effort, channels), the developer message (the gateway's
 * instructions, the verbosity template, the app's own system/developer text, function tools), and the
 * history. Earlier turns' analysis is never sent by the app, so nothing needs dropping here.
 */
import type { ChatRequest } from "../protocol/mod.ts";
import type { HarmonyMessage } from "./render.ts";

/** Verbosity levels and what they ask of the model. */
export const VERBOSITY_TEMPLATES = {
  brief: "Answer briefly for a phone screen: at most three short sentences or a short list. No preamble, " +
    "do not restate the question, no closing remarks.",
  normal: "Answer concisely for a phone screen. Use short paragraphs or a short list when it helps.",
  detailed: "Answer thoroughly, with structure (headings or lists) where it helps the reader.",
} as const;

/** Default `max_tokens` per verbosity (reasoning tokens count too, so there is headroom). */
export const VERBOSITY_MAX_TOKENS = { brief: 512, normal: 1024, detailed: 2048 } as const;

/** Configuration-derived policy. */
export interface HarmonyPolicy {
  modelIdentity: string;
  knowledgeCutoff: string;
  instructions: string;
  defaultEffort: "low" | "medium" | "high";
  defaultVerbosity: keyof typeof VERBOSITY_TEMPLATES;
}

/** Default policy of the gateway. */
export const DEFAULT_POLICY: HarmonyPolicy = {
  modelIdentity: "You are ChatGPT, a large language model trained by OpenAI.",
  knowledgeCutoff: "2024-06",
  instructions: "You are a helpful assistant in a mobile chat app.",
  defaultEffort: "low",
  defaultVerbosity: "brief",
};

/** Builds the Harmony conversation for a request. `today` is YYYY-MM-DD. */
export function conversationFor(
  request: ChatRequest,
  policy: HarmonyPolicy,
  today: string,
): HarmonyMessage[] {
  const verbosity = request.verbosity ?? policy.defaultVerbosity;
  const appInstructions = request.messages
    .filter((m) => m.role === "system" || m.role === "developer")
    .map((m) => m.content ?? "");
  const tools = (request.tools ?? []).map((t) => ({
    name: t.function.name,
    description: t.function.description ?? "",
    parameters: t.function.parameters ?? null,
  }));
  const messages: HarmonyMessage[] = [
    {
      role: "system",
      system: {
        model_identity: policy.modelIdentity,
        knowledge_cutoff: policy.knowledgeCutoff,
        conversation_start_date: today,
        reasoning_effort: request.reasoning_effort ?? policy.defaultEffort,
        valid_channels: ["analysis", "commentary", "final"],
        channel_required: true,
      },
    },
    {
      role: "developer",
      developer: {
        instructions: [policy.instructions, VERBOSITY_TEMPLATES[verbosity], ...appInstructions].join("\n\n"),
        function_tools: tools.length > 0 ? tools : null,
        gateway_authored: appInstructions.length === 0,
      },
    },
  ];
  const toolNames = new Map<string, string>();
  for (const message of request.messages) {
    switch (message.role) {
      case "user":
        messages.push({ role: "user", content: message.content });
        break;
      case "assistant":
        if (message.content) messages.push({ role: "assistant", channel: "final", content: message.content });
        for (const call of message.tool_calls ?? []) {
          toolNames.set(call.id, call.function.name);
          messages.push({
            role: "assistant",
            channel: "commentary",
            recipient: `functions.${call.function.name}`,
            content_type: "<|constrain|>json",
            content: call.function.arguments,
          });
        }
        break;
      case "tool": {
        const name = message.name ?? toolNames.get(message.tool_call_id) ?? "unknown";
        messages.push({
          role: "tool",
          name: `functions.${name}`,
          recipient: "assistant",
          channel: "commentary",
          content: message.content,
        });
        break;
      }
    }
  }
  return messages;
}
