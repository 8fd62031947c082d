/**
 * HTTP client for one llama-server: over its private UNIX socket, or over HTTPS with mutual TLS to a node.
 * Only the endpoints the gateway needs: /health, /tokenize, /completion, /v1/chat/completions.
 * Nothing read from llama-server is logged.
 *
 * Streams are read with no per-token allocation beyond the decoded text and its JSON object: one reader, one
 * streaming TextDecoder, an in-place SSE line parser, and one idle timer re-armed only when it fires (a
 * new timer per token and two TransformStreams cost ~35 µs against ~26 µs of CPU per token in all, bench/llama_stream_bench.ts).
 */
import { ServerSentEventParser } from "./sse_lines.ts";
import { fileStamp } from "../config/mod.ts";
import { GatewayError } from "../protocol/mod.ts";
import { createSocketFetch } from "./unix_fetch.ts";

/** The reason given when a stream's upstream request is closed because the stream is over. */
const _STREAM_ENDED = Object.freeze({ name: "StreamEnded" });

/** Where a backend is and how to reach it. */
export type Transport =
  | { kind: "unix"; socketPath: string }
  | { kind: "mtls"; url: string; caFile: string; certFile: string; keyFile: string };

/** One streamed chunk of /completion (fields the gateway reads). */
export interface CompletionChunk {
  content?: string;
  tokens?: number[];
  stop?: boolean;
  stop_type?: string;
  tokens_predicted?: number;
  tokens_evaluated?: number;
  /** Set instead of the above when llama-server fails mid-stream. */
  error?: unknown;
}

/**
 * Deadlines of one upstream request, each with its own failure. llama-server sends a stream's response
 * headers only once the prompt is processed, so a stream's wait for headers falls under `firstTokenMs`
 * (measured: 32 concurrent prompts on a slow model took over 5 s); `connectMs` bounds the short calls
 * (/tokenize, /health) whose answer is immediate.
 */
export interface Deadlines {
  connectMs: number;
  firstTokenMs: number;
  idleMs: number;
}

/** Client for one llama-server. */
export class LlamaClient {
  readonly name: string;
  #fetch: (path: string, init: { method?: string; body?: string; signal?: AbortSignal }) => Promise<Response>;
  #close: () => void;
  #refresh: () => Promise<boolean> = () => Promise.resolve(false);

  private constructor(name: string) {
    this.name = name;
    this.#fetch = () => Promise.reject(new GatewayError("upstream_unavailable"));
    this.#close = () => {};
  }

  /** A client for one llama-server; mTLS credentials are read from their files. */
  static async create(name: string, transport: Transport): Promise<LlamaClient> {
    if (transport.kind === "unix") return LlamaClient.forSocket(name, transport.socketPath);
    const client = new LlamaClient(name);
    await client.#useMtls(transport);
    return client;
  }

  /** For the local socket (the supervisor owns it): no credentials to read. */
  static forSocket(name: string, socketPath: string): LlamaClient {
    const client = new LlamaClient(name);
    const socket = createSocketFetch(socketPath);
    client.#fetch = socket.fetch;
    client.#close = socket.close;
    return client;
  }

  /** Releases pooled connections. */
  close(): void {
    this.#close();
  }

  /**
   * Re-reads mTLS credentials when their files changed (renewal): new connections use the new ones, while
   * streams on the old pool finish; the old pool is closed once no request can still be using it.
   * Returns whether anything changed. Called from the node's health probe loop.
   */
  refreshCredentials(): Promise<boolean> {
    return this.#refresh();
  }

  async #useMtls(transport: Extract<Transport, { kind: "mtls" }>): Promise<void> {
    const base = transport.url.replace(/\/+$/, "");
    const files = [transport.caFile, transport.certFile, transport.keyFile];
    const stampOf = () => fileStamp(files);
    const open = async () => {
      const [caCert, cert, key] = await Promise.all(files.map((f) => Deno.readTextFile(f)));
      return Deno.createHttpClient({ caCerts: [caCert], cert, key });
    };
    let stamp = await stampOf();
    let client = await open();
    const retired = new Set<Deno.HttpClient>();
    this.#fetch = (path, init) =>
      fetch(`${base}${path}`, {
        client,
        method: init.method,
        body: init.body,
        signal: init.signal,
        headers: init.body !== undefined ? { "content-type": "application/json" } : {},
      });
    this.#close = () => {
      client.close();
      for (const old of retired) old.close();
    };
    this.#refresh = async () => {
      const next = await stampOf().catch(() => stamp);
      if (next === stamp) return false;
      // A half-written renewal fails here and is retried on the next probe; the old pool keeps serving.
      const fresh = await open().catch(() => undefined);
      if (!fresh) return false;
      const old = client;
      client = fresh;
      stamp = next;
      retired.add(old);
      // Longer than any request may run (PG_REQUEST_TIMEOUT_SECONDS caps at an hour).
      setTimeout(() => {
        retired.delete(old);
        old.close();
      }, 3_600_000);
      return true;
    };
  }

  /** True when llama-server answers /health with 200 within `timeoutMs`. */
  async health(timeoutMs: number): Promise<boolean> {
    try {
      const response = await this.#fetch("/health", { signal: AbortSignal.timeout(timeoutMs) });
      await response.body?.cancel();
      return response.status === 200;
    } catch {
      return false;
    }
  }

  /** Tokenizes text; `parseSpecial` false still turns some gpt-oss markers into tokens (see harmony/). */
  async tokenize(
    content: string,
    parseSpecial: boolean,
    signal?: AbortSignal,
    timeoutMs = 10_000,
  ): Promise<number[]> {
    const response = await this.#post(
      "/tokenize",
      { content, parse_special: parseSpecial },
      signal,
      timeoutMs,
    );
    const body = await response.json() as { tokens?: unknown };
    if (!Array.isArray(body.tokens) || !body.tokens.every((t) => Number.isInteger(t))) {
      throw new GatewayError("upstream_error");
    }
    return body.tokens as number[];
  }

  /**
   * Tokenizes each text separately (llama-server's mixed `content` array) and returns all ids in order.
   * Used to classify a whole vocabulary in one request (special_tokens.ts).
   */
  async tokenizeEach(texts: readonly string[], parseSpecial: boolean, timeoutMs = 60_000): Promise<number[]> {
    const response = await this.#post(
      "/tokenize",
      { content: texts, parse_special: parseSpecial },
      undefined,
      timeoutMs,
    );
    const body = await response.json() as { tokens?: unknown };
    if (!Array.isArray(body.tokens) || !body.tokens.every((t) => Number.isInteger(t))) {
      throw new GatewayError("upstream_error");
    }
    return body.tokens as number[];
  }

  /**
   * The text of each token id (llama-server's `/tokenize` of ids `with_pieces`): a string, or undefined
   * for a piece that is not valid UTF-8 (a byte token). Resolves `undefined` when llama-server refuses an
   * id as out of range (it answers 500 with a range-check message); any other failure rejects.
   */
  async tokenPieces(ids: readonly number[], timeoutMs = 60_000): Promise<(string | undefined)[] | undefined> {
    let response: Response;
    try {
      response = await this.#fetch("/tokenize", {
        method: "POST",
        body: JSON.stringify({ content: ids, with_pieces: true }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      throw new GatewayError("upstream_unavailable");
    }
    if (response.status === 500) {
      // Only the vocabulary bound check counts as "out of range"; anything else is a real failure.
      const text = await response.text();
      if (/range_check|out of range/i.test(text)) return undefined;
      throw new GatewayError("upstream_error");
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new GatewayError(response.status === 503 ? "upstream_unavailable" : "upstream_error");
    }
    const body = await response.json() as { tokens?: { id?: unknown; piece?: unknown }[] };
    if (!Array.isArray(body.tokens) || body.tokens.length !== ids.length) {
      throw new GatewayError("upstream_error");
    }
    return body.tokens.map((t, i) => {
      if (t?.id !== ids[i]) throw new GatewayError("upstream_error");
      return typeof t.piece === "string" ? t.piece : undefined;
    });
  }

  /** Streams /completion chunks. Aborting `signal` closes the connection, which makes llama-server stop. */
  completion(
    body: Record<string, unknown>,
    signal: AbortSignal,
    deadlines: Deadlines,
  ): AsyncIterable<CompletionChunk> {
    // Returned, not delegated to with yield*: a delegating generator is one more layer per token.
    return this.#stream("/completion", { ...body, stream: true }, signal, deadlines);
  }

  /** Streams /v1/chat/completions chunks (OpenAI shape), for models that are not gpt-oss. */
  chatCompletion(
    body: Record<string, unknown>,
    signal: AbortSignal,
    deadlines: Deadlines,
  ): AsyncIterable<Record<string, unknown>> {
    return this.#stream("/v1/chat/completions", { ...body, stream: true }, signal, deadlines);
  }

  async #post(path: string, body: unknown, signal?: AbortSignal, connectMs = 10_000): Promise<Response> {
    let response: Response;
    // The connect deadline covers only the wait for response headers, not the streamed body.
    const connect = new AbortController();
    const timer = setTimeout(() => connect.abort(), connectMs);
    try {
      response = await this.#fetch(path, {
        method: "POST",
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, connect.signal]) : connect.signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new GatewayError(connect.signal.aborted ? "upstream_timeout" : "upstream_unavailable");
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 502 || response.status === 503 || response.status === 504) {
      // Loading (llama-server), or a node whose own llama-server is down (node_server.ts answers 502).
      await response.body?.cancel();
      throw new GatewayError("upstream_unavailable");
    }
    if (!response.ok) {
      // llama-server itself answered (4xx, or 500 for JSON it cannot parse): it is alive, and what it
      // refused was this request's content, which must fail this request only and never count against the
      // backend's circuit (issue #10, finding 8: three such requests opened it for everyone).
      // llama-server answers 400 when the prompt exceeds the context; nothing of the body is kept.
      const text = response.status === 400 ? await response.text() : (await response.body?.cancel(), "");
      throw new GatewayError(/context|exceed/i.test(text) ? "context_too_long" : "upstream_rejected");
    }
    return response;
  }

  async *#stream<T>(
    path: string,
    body: unknown,
    signal: AbortSignal,
    deadlines: Deadlines,
  ): AsyncIterable<T> {
    // One controller aborts the upstream request on client abort, first-token or idle timeout.
    const upstream = new AbortController();
    const onAbort = () => upstream.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    // Already aborted (the client left before this started): the listener above would never fire.
    if (signal.aborted) onAbort();
    // One timer for the whole stream: each chunk only records when it came; when the timer fires early
    // (a chunk came since), it is re-armed for the remainder. First-token deadline, then idle deadline.
    let lastChunkAt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (ms: number) => {
      timer = setTimeout(() => {
        if (lastChunkAt === 0) return upstream.abort(new GatewayError("upstream_timeout"));
        const left = lastChunkAt + deadlines.idleMs - performance.now();
        if (left <= 0) upstream.abort(new GatewayError("upstream_timeout"));
        else arm(left);
      }, ms);
    };
    arm(deadlines.firstTokenMs);
    try {
      const response = await this.#post(path, body, upstream.signal, deadlines.firstTokenMs);
      // The body is read and parsed here, not through a generator of event data: one layer less per token.
      const reader = response.body!.getReader();
      const events = new ServerSentEventParser();
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) return;
          for (const data of events.push(value)) {
            if (lastChunkAt === 0) {
              // The first-token deadline is met: from now on the idle deadline counts.
              clearTimeout(timer);
              lastChunkAt = performance.now();
              arm(deadlines.idleMs);
            } else lastChunkAt = performance.now();
            if (data === "[DONE]") return;
            let parsed: T;
            try {
              parsed = JSON.parse(data);
            } catch {
              throw new GatewayError("upstream_error");
            }
            yield parsed;
          }
        }
      } finally {
        // Cancelling tells llama-server the client is gone (a no-op once the stream has ended).
        await reader.cancel().catch(() => {});
      }
    } catch (error) {
      if (upstream.signal.reason instanceof GatewayError) throw upstream.signal.reason;
      if (signal.aborted) throw signal.reason;
      throw error instanceof GatewayError ? error : new GatewayError("upstream_error");
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      // Closing the response stream tells llama-server the client is gone. A fixed reason: abort() without
      // one builds a DOMException with its stack on every stream (~40 µs).
      upstream.abort(_STREAM_ENDED);
    }
  }
}
