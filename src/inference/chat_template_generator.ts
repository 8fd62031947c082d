/**
 * Models that are not gpt-oss: the conversation goes to llama-server's OpenAI-compatible
 * /v1/chat/completions, which applies the model's own chat template; its stream is mapped onto the same
 * events, so the app sees no difference.
 *
 * Limitation (SECURITY.md): here llama-server tokenizes the templated prompt itself, so the structure
 * guarantee of the Harmony path (user text never becomes a control token) does not hold for templates
 * whose control tokens a user can type.
 */
import { type ChatEvent, type ChatRequest, type FinishReason, GatewayError } from "../protocol/mod.ts";
import { failover } from "./failover.ts";
import type { Generator } from "./generator.ts";
import type { Deadlines, LlamaClient } from "./llama_client.ts";
import type { Router } from "./router.ts";
import { clampSampling } from "./sampling.ts";

/** Options of {@link ChatTemplateGenerator}. */
export interface ChatTemplateGeneratorOptions {
  deadlines: Deadlines;
  allowReasoning: boolean;
  maxTokensCap: number;
  defaultMaxTokens: number;
  readyWaitMs: number;
  maxAttempts: number;
}

interface _Delta {
  content?: string | null;
  reasoning_content?: string | null;
  tool_calls?: { index?: number; id?: string; function?: { name?: string; arguments?: string } }[];
}

/** Generator over /v1/chat/completions. */
export class ChatTemplateGenerator implements Generator {
  #router: Router;
  #options: ChatTemplateGeneratorOptions;

  constructor(router: Router, options: ChatTemplateGeneratorOptions) {
    this.#router = router;
    this.#options = options;
  }

  ready(): boolean {
    return this.#router.ready();
  }

  generate(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    return failover(this.#router, this.#options, signal, (client) => this.#run(client, request, signal));
  }

  async *#run(client: LlamaClient, request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const body: Record<string, unknown> = {
      messages: request.messages.map((m) => (m.role === "developer" ? { ...m, role: "system" } : m)),
      max_tokens: Math.min(request.max_tokens ?? this.#options.defaultMaxTokens, this.#options.maxTokensCap),
      ...clampSampling(request),
      cache_prompt: false,
      stream_options: { include_usage: true },
      ...(request.tools ? { tools: request.tools } : {}),
    };
    const reasoning = request.include_reasoning && this.#options.allowReasoning;
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    let finish: FinishReason = "stop";
    let usage = { prompt_tokens: 0, completion_tokens: 0 };
    for await (const chunk of client.chatCompletion(body, signal, this.#options.deadlines)) {
      // llama-server reports a failure mid-stream as an `error` event (e.g. its gpt-oss parser refusing
      // output that is not Harmony); it must end the answer as an error, never as an empty clean "done".
      // It depends on this request's content, so it must not count against the backend's circuit.
      if (chunk.error !== undefined) throw new GatewayError("upstream_rejected");
      const choice = (chunk.choices as { delta?: _Delta; finish_reason?: string | null }[] | undefined)?.[0];
      const delta = choice?.delta;
      if (delta?.content) yield { type: "text", delta: delta.content };
      if (delta?.reasoning_content && reasoning) yield { type: "reasoning", delta: delta.reasoning_content };
      for (const call of delta?.tool_calls ?? []) {
        const index = call.index ?? 0;
        const entry = calls.get(index) ??
          { id: call.id ?? `call_${crypto.randomUUID().slice(0, 8)}`, name: "", arguments: "" };
        entry.name += call.function?.name ?? "";
        entry.arguments += call.function?.arguments ?? "";
        calls.set(index, entry);
      }
      if (choice?.finish_reason === "length") finish = "length";
      if (choice?.finish_reason === "tool_calls") finish = "tool_calls";
      const reported = chunk.usage as { prompt_tokens?: number; completion_tokens?: number } | undefined;
      if (reported) {
        usage = {
          prompt_tokens: reported.prompt_tokens ?? 0,
          completion_tokens: reported.completion_tokens ?? 0,
        };
      }
    }
    for (const call of calls.values()) {
      if (!call.name) throw new GatewayError("upstream_error");
      yield { type: "tool_call", id: call.id, name: call.name, arguments: call.arguments };
    }
    yield { type: "done", finish_reason: calls.size > 0 ? "tool_calls" : finish, usage };
  }
}
