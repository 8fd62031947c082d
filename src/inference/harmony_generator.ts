/**
 * gpt-oss over llama-server's /completion, with Harmony rendered and parsed by the gateway:
 *
 *   request → conversationFor (policy) → renderConversation → piecesToTokenIds (injection-proof)
 *   → /completion stream (token ids) → HarmonyParser → AnswerFilter → events
 *
 * Before the first event reaches the client a failed backend is retried on another (capped backoff with
 * jitter); after that, a failure becomes an error event: generated text is never duplicated.
 *
 * Tokenization happens in process when the backend serves gpt-oss's vocabulary (tokenizer/: o200k_harmony,
 * checked against the backend's own /tokenize once, at its first request); any other vocabulary falls back
 * to /tokenize round trips, with a warning. Either way renderer-written text is tokenized once and cached.
 */
import {
  AnswerFilter,
  chunkPieces,
  conversationFor,
  HarmonyParser,
  type HarmonyPolicy,
  InjectionDetectedError,
  type Piece,
  piecesToTokenIds,
  piecesToTokenIdsLocal,
  renderConversation,
  type SpecialName,
  type SpecialTokenIds,
  TrustedTokenCache,
  VERBOSITY_MAX_TOKENS,
} from "../harmony/mod.ts";
import type { Logger } from "../observability/mod.ts";
import { type ChatEvent, type ChatRequest, GatewayError } from "../protocol/mod.ts";
import {
  checkAgainstServer,
  loadO200kHarmony,
  type LocalTokenizer,
  O200K_HARMONY_SIZE,
  o200kHarmonySpecials,
} from "../tokenizer/mod.ts";
import type { Generator } from "./generator.ts";
import type { CompletionChunk, Deadlines, LlamaClient } from "./llama_client.ts";
import { failover } from "./failover.ts";
import { discoverSpecialTokenIds, knownO200kSpecialTokenIds } from "./special_tokens.ts";
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
  logger?: Logger;
  /**
   * Reject output whose header never reaches `<|message|>` (the reference's strict parsing) with an
   * `upstream_error` instead of recovering its words as a channel-less message. Off by default: a stream
   * cut by `max_tokens` inside a header would fail rather than end with `length`.
   */
  strictParsing?: boolean;
  /** The in-process tokenizer to try (default: o200k_harmony); `null` always uses /tokenize. */
  localTokenizer?: (() => Promise<LocalTokenizer>) | null;
}

/** What one backend needs to turn pieces into ids and chunks into pieces; built once per backend. */
interface _Backend {
  specials: SpecialTokenIds;
  names: ReadonlyMap<number, SpecialName>;
  /** Set when the in-process tokenizer matched the backend's. */
  local?: LocalTokenizer;
  trusted: TrustedTokenCache;
  /** Demo model only: the logit bias that keeps its answer readable. */
  demoBias?: [number, false][];
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
  /** Per backend: nodes may serve different vocabularies in a mixed fleet. */
  #backends = new Map<string, Promise<_Backend>>();

  constructor(router: Router, options: HarmonyGeneratorOptions) {
    this.#router = router;
    this.#options = options;
  }

  ready(): boolean {
    return this.#router.ready();
  }

  /**
   * Prepares a backend ahead of its first request (special ids and the tokenizer check: ~35 small
   * requests on gpt-oss's vocabulary, ~3 s of llama-server time to classify any other of that size): called
   * once the backend is up. A failure is not cached; the first request then tries again.
   */
  async warm(client: LlamaClient): Promise<void> {
    await this.#backend(client, this.#options.deadlines.firstTokenMs).catch(() => {});
  }

  /**
   * Not a generator itself: it returns failover's, so an event crosses one layer less. A request refused
   * here (too long) still fails when it is iterated, as every other failure of the answer does.
   */
  generate(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    let pieces: Piece[];
    try {
      pieces = this.#render(request);
    } catch (error) {
      return _failing(error);
    }
    return failover(
      this.#router,
      this.#options,
      signal,
      (client) => this.#run(client, request, pieces, signal),
    );
  }

  #render(request: ChatRequest): Piece[] {
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
    return pieces;
  }

  async *#run(
    client: LlamaClient,
    request: ChatRequest,
    pieces: Piece[],
    signal: AbortSignal,
  ): AsyncIterable<ChatEvent> {
    // Preparing the prompt counts against the first-token deadline: a hung backend fails over quickly.
    const timeoutMs = this.#options.deadlines.firstTokenMs;
    const backend = await this.#backend(client, timeoutMs);
    const { specials } = backend;
    let prompt: number[];
    try {
      prompt = backend.local
        ? piecesToTokenIdsLocal(pieces, specials, backend.local.encodeOrdinary, backend.trusted)
        : await piecesToTokenIds(
          pieces,
          specials,
          (text) => client.tokenize(text, false, signal, timeoutMs),
          backend.trusted,
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
      response_fields: COMPLETION_FIELDS,
      ...(backend.demoBias ? { logit_bias: backend.demoBias, samplers: DEMO_SAMPLERS } : {}),
    };
    // Only a function call's content is needed whole (AnswerFilter's tool_call arguments); everything
    // else leaves as deltas, so the answer is not also collected for the stream's lifetime.
    const keepContent = (header: { recipient: string | null }) => header.recipient !== null;
    const parser = new HarmonyParser(
      this.#options.prefillFinal
        ? {
          header: { role: "assistant", name: null, channel: "final", recipient: null, content_type: null },
          strict: this.#options.strictParsing,
          keepContent,
        }
        : { role: "assistant", strict: this.#options.strictParsing, keepContent },
    );
    const filter = new AnswerFilter({
      includeReasoning: request.include_reasoning && this.#options.allowReasoning,
    });
    const { names } = backend;
    let last: CompletionChunk = {};
    for await (const chunk of client.completion(body, signal, this.#options.deadlines)) {
      if (chunk.error !== undefined) throw new GatewayError("upstream_rejected");
      last = chunk;
      for (const piece of chunkPieces(chunk.content, chunk.tokens, names)) {
        for (const parsed of parser.push(piece)) {
          if (parsed.type === "malformed") throw new GatewayError("upstream_error");
          // A loop, not yield* over the array: yield* wraps a sync iterable in an async iterator per event.
          for (const event of filter.accept(parsed)) yield event;
        }
      }
      if (chunk.stop) break;
    }
    for (const parsed of parser.end()) {
      if (parsed.type === "malformed") throw new GatewayError("upstream_error");
      for (const event of filter.accept(parsed)) yield event;
    }
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
   * Prepares a backend once: its special ids (special_tokens.ts: every control and user-defined id of the
   * vocabulary; a model without the Harmony markers is refused), then the in-process tokenizer if the
   * backend's specials are o200k_harmony's and its /tokenize agrees on every probe text. A failure is not
   * cached, so the next request tries again.
   */
  #backend(client: LlamaClient, timeoutMs: number): Promise<_Backend> {
    let found = this.#backends.get(client.name);
    if (!found) {
      found = this.#prepare(client, timeoutMs);
      found.catch(() => this.#backends.delete(client.name));
      this.#backends.set(client.name, found);
    }
    return found;
  }

  async #prepare(client: LlamaClient, timeoutMs: number): Promise<_Backend> {
    // gpt-oss's vocabulary is recognised with a few small requests; any other is measured in full.
    const known = this.#options.localTokenizer === null
      ? undefined
      : await knownO200kSpecialTokenIds(client, o200kHarmonySpecials(), O200K_HARMONY_SIZE, timeoutMs);
    const specials = known ?? await discoverSpecialTokenIds(client, timeoutMs);
    const names = new Map<number, SpecialName>([...specials.byName].map(([name, id]) => [id, name]));
    const local = await this.#localTokenizer(client, specials, timeoutMs);
    const backend: _Backend = { specials, names, local, trusted: new TrustedTokenCache() };
    if (this.#options.prefillFinal) backend.demoBias = _demoLogitBias(specials, local !== undefined);
    return backend;
  }

  async #localTokenizer(
    client: LlamaClient,
    specials: SpecialTokenIds,
    timeoutMs: number,
  ): Promise<LocalTokenizer | undefined> {
    const load = this.#options.localTokenizer === undefined ? loadO200kHarmony : this.#options.localTokenizer;
    if (!load) return undefined;
    const logger = this.#options.logger;
    const fallback = (reason: string) => {
      // Loud: every request of this backend now pays /tokenize round trips.
      logger?.log("warn", "inference.tokenizer_fallback", { backend: client.name, reason });
      return undefined;
    };
    const expected = o200kHarmonySpecials();
    for (const [name, id] of specials.byName) {
      if (expected.get(id) !== `<|${name}|>`) {
        return fallback(`the model's special ids are not o200k_harmony's (<|${name}|> is ${id})`);
      }
    }
    const tokenizer = await load();
    const check = await checkAgainstServer(
      tokenizer,
      (text) => client.tokenize(text, false, undefined, timeoutMs),
    );
    if (!check.ok) return fallback(`probe text ${check.probe} tokenizes differently`);
    logger?.log("info", "inference.tokenizer_local", { backend: client.name, reason: tokenizer.name });
    return tokenizer;
  }
}

/**
 * The fields of /completion's final chunk the gateway reads (llama-server's `response_fields`). Without it
 * the final chunk also carries the whole prompt as text (the conversation's plaintext, again) and every
 * generation setting, the logit bias included: ~28 KB on the demo model, whose parsing alone was ~0.3 ms of
 * the gateway's thread per request (docs/benchmarks.md). Streamed chunks are not affected.
 */
export const COMPLETION_FIELDS: readonly string[] = [
  "content",
  "tokens",
  "stop",
  "stop_type",
  "tokens_predicted",
  "tokens_evaluated",
];

/**
 * Demo model only: llama.cpp's sampler chain without the stages that scan all 201,088 candidates per token
 * (repetition penalties, DRY): 730 → 1,300 tokens/s on the generated gpt-oss model (measured with
 * llama-server -t 2), closer to the byte-vocabulary model the timing-sensitive tests were written against.
 * The load tool sends the same to llama-server directly. Real models keep llama-server's default chain.
 */
export const DEMO_SAMPLERS: readonly string[] = ["top_k", "top_p", "min_p", "temperature"];

/**
 * Demo model only: ban every special token so its random answer runs to `max_tokens` (tests rely on that
 * length). The gpt-oss demo model's weights already make it write printable ASCII (gpt_oss_model.ts); the
 * byte-vocabulary test model (ids 0–255 are bytes) also needs its non-printable bytes banned.
 */
function _demoLogitBias(specials: SpecialTokenIds, realVocabulary: boolean): [number, false][] {
  const banned: [number, false][] = [];
  if (!realVocabulary) {
    for (let byte = 0; byte < 256; byte++) {
      if ((byte < 32 && byte !== 10) || byte > 126) banned.push([byte, false]);
    }
  }
  for (const id of specials.forbidden) banned.push([id, false]);
  return banned;
}

/** An answer that fails as soon as it is read. */
// deno-lint-ignore require-yield
async function* _failing(error: unknown): AsyncIterable<ChatEvent> {
  throw error;
}
