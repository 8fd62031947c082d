/**
 * gpt-oss over llama-server's /completion, with Harmony rendered and parsed by the gateway:
 *
 *   request → conversationFor (policy) → renderConversation → piecesToTokenIds (injection-proof)
 *   → /completion stream (token ids) → HarmonyParser → AnswerFilter → events
 *
 * Before the first event reaches the client a failed backend is retried on another (capped backoff with
 * jitter); after that, a failure becomes an error event: generated text is never duplicated.
 */
import {
  AnswerFilter,
  conversationFor,
  HarmonyParser,
  type HarmonyPolicy,
  InjectionDetectedError,
  type Piece,
  piecesToTokenIds,
  renderConversation,
  SPECIAL_TOKENS,
  type SpecialName,
  type SpecialTokenIds,
  TrustedTokenCache,
  VERBOSITY_MAX_TOKENS,
} from "../harmony/mod.ts";
import { type ChatEvent, type ChatRequest, GatewayError } from "../protocol/mod.ts";
import type { Generator } from "./generator.ts";
import type { CompletionChunk, Deadlines, LlamaClient } from "./llama_client.ts";
import { failover } from "./failover.ts";
import { discoverSpecialTokenIds } from "./special_tokens.ts";
import type { Router } from "./router.ts";
import { clampSampling } from "./sampling.ts";

/** Options of {@link HarmonyGenerator}. */
export interface HarmonyGeneratorOptions {
  policy: HarmonyPolicy;
  deadlines: Deadlines;
  allowReasoning: boolean;
  maxTokensCap: number;
  /** Demo model only: prefill `<|channel|>final<|message|>` so its random text is shown as the answer. */
  prefillFinal: boolean;
  /** How long a request may wait for a backend that is starting (model loading). */
  readyWaitMs: number;
  /** Attempts on distinct backends before the first event. */
  maxAttempts: number;
  today: () => string;
  /** Context of one llama-server slot (-c / -np): the prompt and the answer must fit in it. */
  contextTokens: number;
}

/**
 * More characters than this per context token cannot fit (gpt-oss averages ~4 per token), so a longer
 * rendering is refused before it is sent to /tokenize at all (issue #10, finding 7: a 4 MB /tokenize).
 */
const _MAX_CHARS_PER_TOKEN = 32;

/** The gpt-oss generator. */
export class HarmonyGenerator implements Generator {
  #router: Router;
  #options: HarmonyGeneratorOptions;
  #specials = new Map<string, Promise<SpecialTokenIds>>();
  /** Per backend: nodes may serve different vocabularies in a mixed fleet. */
  #trusted = new Map<string, TrustedTokenCache>();

  constructor(router: Router, options: HarmonyGeneratorOptions) {
    this.#router = router;
    this.#options = options;
  }

  ready(): boolean {
    return this.#router.ready();
  }

  async *generate(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const pieces = renderConversation(conversationFor(request, this.#options.policy, this.#options.today()), {
      mode: "completion",
      autoDropAnalysis: true,
    });
    if (this.#options.prefillFinal) {
      pieces.push({ special: "channel" }, { text: "final" }, { special: "message" });
    }
    let chars = 0;
    for (const piece of pieces) if ("text" in piece) chars += piece.text.length;
    if (chars > this.#options.contextTokens * _MAX_CHARS_PER_TOKEN) {
      throw new GatewayError("context_too_long");
    }
    yield* failover(
      this.#router,
      this.#options,
      signal,
      (client) => this.#run(client, request, pieces, signal),
    );
  }

  async *#run(
    client: LlamaClient,
    request: ChatRequest,
    pieces: Piece[],
    signal: AbortSignal,
  ): AsyncIterable<ChatEvent> {
    // Preparing the prompt counts against the first-token deadline: a hung backend fails over quickly.
    const timeoutMs = this.#options.deadlines.firstTokenMs;
    const specials = await this.#specialIds(client, timeoutMs);
    let prompt: number[];
    try {
      prompt = await piecesToTokenIds(
        pieces,
        specials,
        (text) => client.tokenize(text, false, signal, timeoutMs),
      );
    } catch (error) {
      if (error instanceof InjectionDetectedError) {
        throw new GatewayError("invalid_request", { detail: "messages: control token" });
      }
      throw error;
    }
    // Checked before /completion: the prompt must leave room for at least one answer token.
    const room = this.#options.contextTokens - prompt.length;
    if (room < 1) throw new GatewayError("context_too_long");
    const verbosity = request.verbosity ?? this.#options.policy.defaultVerbosity;
    const body = {
      prompt,
      n_predict: Math.min(
        request.max_tokens ?? VERBOSITY_MAX_TOKENS[verbosity],
        this.#options.maxTokensCap,
        room,
      ),
      ...clampSampling(request),
      cache_prompt: false,
      return_tokens: true,
      ...(this.#options.prefillFinal ? { logit_bias: _demoLogitBias(specials) } : {}),
    };
    const parser = new HarmonyParser(
      this.#options.prefillFinal
        ? { header: { role: "assistant", name: null, channel: "final", recipient: null, content_type: null } }
        : { role: "assistant" },
    );
    const filter = new AnswerFilter({
      includeReasoning: request.include_reasoning && this.#options.allowReasoning,
    });
    const names = new Map<number, SpecialName>([...specials.byName].map(([name, id]) => [id, name]));
    let last: CompletionChunk = {};
    for await (const chunk of client.completion(body, signal, this.#options.deadlines)) {
      last = chunk;
      for (const piece of _chunkPieces(chunk, names)) {
        for (const parsed of parser.push(piece)) yield* filter.accept(parsed);
      }
      if (chunk.stop) break;
    }
    for (const parsed of parser.end()) yield* filter.accept(parsed);
    yield {
      type: "done",
      finish_reason: filter.finishReason(last.stop_type === "limit"),
      usage: {
        prompt_tokens: last.tokens_evaluated ?? prompt.length,
        completion_tokens: last.tokens_predicted ?? 0,
      },
    };
  }

  /**
   * Discovers the model's special token ids once per backend (special_tokens.ts: every control and
   * user-defined id of the vocabulary); a model without the Harmony markers is refused.
   */
  #specialIds(client: LlamaClient, timeoutMs: number): Promise<SpecialTokenIds> {
    let found = this.#specials.get(client.name);
    if (!found) {
      found = discoverSpecialTokenIds(client, timeoutMs);
      found.catch(() => this.#specials.delete(client.name));
      this.#specials.set(client.name, found);
    }
    return found;
  }
}

/**
 * A stream chunk as pieces. Token ids decide what is structure: a special id is a special piece, and text
 * never is, even if it spells a marker. Chunks normally carry one token; a rare multi-token chunk with a
 * special id is split as text (markers removed) followed by its specials.
 */
function _chunkPieces(chunk: CompletionChunk, names: ReadonlyMap<number, SpecialName>): Piece[] {
  const tokens = chunk.tokens ?? [];
  const specials = tokens.filter((id) => names.has(id)).map((id) => ({ special: names.get(id)! }));
  if (specials.length === 0) return chunk.content ? [{ text: chunk.content }] : [];
  if (tokens.length === 1) return specials;
  let text = chunk.content ?? "";
  for (const marker of Object.values(SPECIAL_TOKENS)) text = text.replaceAll(marker, "");
  return [...(text ? [{ text }] : []), ...specials];
}

/**
 * Demo model only (its token ids 0–255 are bytes): ban non-printable bytes and every special token, so
 * its random answer is readable ASCII that runs to `max_tokens` (tests rely on that length).
 */
const _demoBias = new WeakMap<SpecialTokenIds, [number, false][]>();

function _demoLogitBias(specials: SpecialTokenIds): [number, false][] {
  // Computed once per backend's special ids (they are cached objects), not per request.
  const cached = _demoBias.get(specials);
  if (cached) return cached;
  const banned: [number, false][] = [];
  for (let byte = 0; byte < 256; byte++) {
    if ((byte < 32 && byte !== 10) || byte > 126) banned.push([byte, false]);
  }
  for (const id of specials.forbidden) banned.push([id, false]);
  _demoBias.set(specials, banned);
  return banned;
}
