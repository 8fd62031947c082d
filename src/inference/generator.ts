/**
 * The inference interface the HTTP layer talks to. Everything behind it (echo backend, Harmony over
 * llama-server, chat templates, routing across nodes) produces the same events, so the protocol never
 * changes when the backend does.
 */
import type { ChatEvent, ChatRequest } from "../protocol/mod.ts";

/** Produces the events of one answer. Aborting `signal` must stop generation upstream. */
export interface Generator {
  /** Streams events; the last one is `done`. Throws a GatewayError (e.g. upstream_error) on failure. */
  generate(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent>;
  /** Whether at least one backend can take a request now (for `/ready`). */
  ready(): boolean;
}

/**
 * Development-only backend that echoes the last user message back, word by word. Named for what it is;
 * the configuration refuses it in production.
 */
export class EchoGenerator implements Generator {
  ready(): boolean {
    return true;
  }

  async *generate(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const last = [...request.messages].reverse().find((m) => m.role === "user");
    const words = `echo: ${last?.content ?? ""}`.split(/(?<= )/);
    const limit = request.max_tokens ?? words.length;
    let count = 0;
    for (const word of words.slice(0, limit)) {
      if (signal.aborted) return;
      count++;
      yield { type: "text", delta: word };
      await Promise.resolve();
    }
    yield {
      type: "done",
      finish_reason: count < words.length ? "length" : "stop",
      usage: { prompt_tokens: request.messages.length, completion_tokens: count },
    };
  }
}
