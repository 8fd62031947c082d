/**
 * The app-side SDK: pure TypeScript on WebCrypto, hpke-js and fetch (no Deno-only API), so a React Native
 * (with a WebCrypto/Ed25519 polyfill), browser or Deno app can use it as is.
 *
 *   const client = new GatewayClient({ baseUrl, pin });
 *   for await (const event of client.chat({ messages: [{ role: "user", content: "hi" }] })) …
 *
 * It verifies keys against the pin, pads and seals each request, opens the stream chunk by chunk
 * (detecting truncation, reordering, duplication and splicing), refetches keys on `unknown_key_id`, and
 * retries only what is safe: failures that happened before any event reached the caller.
 *
 * What it trusts: only the pinned identity and what it signs. Clear-text answers (errors before
 * decryption, HTTP headers such as `Date`) may come from any relay, so they never change state that
 * outlives the request: a `stale_request` makes the client refetch the signed key set and take its clock
 * correction from the signed `issued_at` (capped, and forgotten after a while), and a key set older than
 * the newest one accepted is refused (review items 3 and 4).
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import { createSuite, toBase64Url, utf8 } from "../crypto/mod.ts";
import {
  type ChatEvent,
  deviceProofMessage,
  type ErrorCode,
  openResponseCipher,
  padRequest,
  readWholeResponse,
  REQUEST_MEDIA_TYPE,
  RESPONSE_MEDIA_TYPE,
  ResponseIntegrityError,
  ResponseReader,
  sealRequest,
  solveChallenge,
} from "../protocol/mod.ts";
import { type UsableKey, verifyPubkeyDocument } from "./keys.ts";

/** The request an app sends (the gateway validates it strictly). */
export interface ChatInput {
  messages: (
    | { role: "system" | "developer" | "user"; content: string }
    | {
      role: "assistant";
      content?: string | null;
      tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
    }
    | { role: "tool"; content: string; tool_call_id: string; name?: string }
  )[];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  reasoning_effort?: "low" | "medium" | "high";
  verbosity?: "brief" | "normal" | "detailed";
  include_reasoning?: boolean;
  tools?: {
    type: "function";
    function: { name: string; description?: string; parameters?: Record<string, unknown> };
  }[];
}

type _Pow = { challenge: string; solution: string };

/** A failure reported by the gateway, with its stable code. */
export class GatewayRequestError extends Error {
  constructor(
    readonly code: ErrorCode | "network_error",
    readonly status: number,
    readonly retryAfterSeconds?: number,
    readonly challenge?: { token: string; difficulty: number },
  ) {
    super(`Gateway refused the request: ${code} (HTTP ${status})`);
    this.name = "GatewayRequestError";
  }
}

/** Options of {@link GatewayClient}. */
export interface GatewayClientOptions {
  baseUrl: string;
  /** Pinned identity fingerprint. Required unless `allowUnpinned` (development on loopback only). */
  pin?: string;
  allowUnpinned?: boolean;
  fetch?: typeof fetch;
  /** Wall clock in seconds (tests inject it). */
  now?: () => number;
  /** Attempts per request for retryable failures, including the first. */
  maxAttempts?: number;
  /** Upper bound of one backoff delay. */
  maxBackoffMs?: number;
  /**
   * The device's Ed25519 key pair (keep it in secure storage, e.g. Keychain/Keystore-backed). Without
   * one, the client makes an ephemeral key, which looks like a new device to the gateway's limits.
   */
  deviceKey?: CryptoKeyPair;
}

/**
 * A clock error smaller than this is left alone: a fresh key set's `issued_at` lags the gateway's clock
 * by up to KEYSET_REISSUE_SECONDS (10 s) plus the fetch, and the gateway accepts ±60 s by default.
 */
export const CLOCK_TOLERANCE_SECONDS = 15;
/**
 * The largest clock correction ever applied. A relay that delays a genuine key set can shift the client's
 * timestamps by the delay; capping bounds that tag, and a phone more than five minutes off needs fixing
 * at the OS level anyway.
 */
export const MAX_CLOCK_CORRECTION_SECONDS = 300;
/** How long a correction is kept: long enough for a session, short enough not to follow a device around. */
export const CLOCK_CORRECTION_TTL_SECONDS = 600;

const _RETRYABLE: ReadonlySet<string> = new Set([
  "challenge_required",
  "overloaded",
  "upstream_unavailable",
  "shutting_down",
  "network_error",
  "stale_request",
  "unknown_key_id",
  "upstream_error",
]);

/** Client for one gateway. Keeps the verified keys; holds no conversation state. */
export class GatewayClient {
  #options: Required<Omit<GatewayClientOptions, "pin" | "deviceKey">> & { pin?: string };
  #device: Promise<{ pair: CryptoKeyPair; publicKey: string }>;
  #suite = createSuite();
  #keys?: Promise<UsableKey[]>;
  /** A correction learnt from a signed key set, applied until `until` (client clock, seconds). */
  #clock?: { offset: number; until: number };
  /** The newest `issued_at` accepted: older key sets are refused as rollbacks. In memory only. */
  #newestIssuedAt = -Infinity;
  /** Fingerprint of the last verified key set (shown by the CLI when unpinned). */
  fingerprint?: string;

  constructor(options: GatewayClientOptions) {
    if (!options.pin && !options.allowUnpinned) {
      throw new Error("Pass the gateway's identity fingerprint as `pin`");
    }
    this.#options = {
      fetch: globalThis.fetch.bind(globalThis),
      now: () => Date.now() / 1000,
      maxAttempts: 4,
      maxBackoffMs: 4000,
      allowUnpinned: false,
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
    };
    this.#device = (async () => {
      const pair = options.deviceKey ??
        await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]) as CryptoKeyPair;
      const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
      return { pair, publicKey: toBase64Url(raw) };
    })();
  }

  /** Fetches and verifies the key set (cached until a key is refused). */
  keys(refresh = false): Promise<UsableKey[]> {
    if (refresh || !this.#keys) {
      this.#keys = this.#fetchKeys();
      this.#keys.catch(() => (this.#keys = undefined));
    }
    return this.#keys;
  }

  /** Streams the answer's events. Throws GatewayRequestError or ResponseIntegrityError. */
  async *chat(input: ChatInput, signal?: AbortSignal): AsyncIterable<ChatEvent> {
    let pow: _Pow | undefined;
    for (let attempt = 1;; attempt++) {
      let yielded = false;
      try {
        for await (const event of this.#attempt({ ...input, stream: true }, signal, pow)) {
          yielded = true;
          yield event;
        }
        return;
      } catch (error) {
        if (yielded) throw error;
        const retry = await this.#shouldRetry(error, attempt, signal);
        if (!retry) throw error;
        pow = retry.pow;
      }
    }
  }

  /** Sends a non-streaming request and returns all events at once. */
  async complete(input: ChatInput, signal?: AbortSignal): Promise<ChatEvent[]> {
    let pow: _Pow | undefined;
    for (let attempt = 1;; attempt++) {
      try {
        const events: ChatEvent[] = [];
        for await (const event of this.#attempt({ ...input, stream: false }, signal, pow)) events.push(event);
        return events;
      } catch (error) {
        const retry = await this.#shouldRetry(error, attempt, signal);
        if (!retry) throw error;
        pow = retry.pow;
      }
    }
  }

  async *#attempt(
    input: ChatInput & { stream: boolean },
    signal?: AbortSignal,
    pow?: _Pow,
  ): AsyncIterable<ChatEvent> {
    const [key] = await this.keys();
    const device = await this.#device;
    const sealed = await sealRequest(this.#suite, key, async ({ headerBytes, enc }) => {
      const signature = new Uint8Array(
        await crypto.subtle.sign("Ed25519", device.pair.privateKey, deviceProofMessage(headerBytes, enc)),
      );
      const body = {
        ...input,
        device: { public_key: device.publicKey, signature: toBase64Url(signature) },
        ...(pow ? { pow } : {}),
      };
      const plaintext = utf8(JSON.stringify(body));
      const padded = padRequest(plaintext);
      plaintext.fill(0);
      return padded;
    }, {
      timestamp: Math.floor(this.#now()),
      requestId: crypto.getRandomValues(new Uint8Array(16)),
    });
    let response: Response;
    try {
      response = await this.#options.fetch(`${this.#options.baseUrl}/api/chat`, {
        method: "POST",
        headers: { "content-type": REQUEST_MEDIA_TYPE, accept: "text/event-stream" },
        body: sealed.body,
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new GatewayRequestError("network_error", 0);
    }
    const cipherFor = (nonce: Uint8Array) => openResponseCipher(sealed.context, sealed.enc, nonce);
    const type = response.headers.get("content-type") ?? "";
    const retryAfter = Number(response.headers.get("retry-after") ?? "") || undefined;
    if (type.startsWith("application/json")) {
      // Clear text: anyone on the path could have written it, including the Date header.
      const body = await response.json().catch(() => ({}));
      throw new GatewayRequestError(body?.error?.code ?? "internal_error", response.status, retryAfter);
    }
    if (type.startsWith(RESPONSE_MEDIA_TYPE)) {
      const events = await readWholeResponse(new Uint8Array(await response.arrayBuffer()), cipherFor);
      const failure = events.find((e) => e.type === "error");
      if (failure?.type === "error") {
        throw new GatewayRequestError(failure.code, response.status, retryAfter, failure.challenge);
      }
      yield* events;
      return;
    }
    if (!type.startsWith("text/event-stream") || !response.body) {
      throw new ResponseIntegrityError("malformed");
    }
    const reader = new ResponseReader(cipherFor);
    const sse = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
    for await (const message of sse) {
      for (const event of await reader.push(message.event ?? "message", message.data)) {
        if (event.type === "error" && response.status !== 200) {
          throw new GatewayRequestError(event.code, response.status, retryAfter, event.challenge);
        }
        yield event;
      }
    }
    reader.end();
  }

  /** Decides whether to retry; returns what the next attempt needs, or false. */
  async #shouldRetry(error: unknown, attempt: number, signal?: AbortSignal): Promise<false | { pow?: _Pow }> {
    if (!(error instanceof GatewayRequestError) || !_RETRYABLE.has(error.code)) return false;
    if (attempt >= this.#options.maxAttempts || signal?.aborted) return false;
    if (error.code === "unknown_key_id") {
      await this.keys(true);
      return {};
    }
    if (error.code === "stale_request") {
      // Unauthenticated claim: check it against the signed key set before changing anything.
      await this.#correctClock();
      return {};
    }
    if (error.code === "challenge_required") {
      if (!error.challenge) return false;
      // Proof of work, solved transparently; the next attempt carries the solution.
      return {
        pow: { challenge: error.challenge.token, solution: await solveChallenge(error.challenge, signal) },
      };
    }
    // Capped exponential backoff with full jitter, at least what the gateway asked for.
    const exp = Math.min(this.#options.maxBackoffMs, 250 * 2 ** (attempt - 1));
    const delay = Math.max((error.retryAfterSeconds ?? 0) * 1000, Math.random() * exp);
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, this.#options.maxBackoffMs)));
    return {};
  }

  /** The client's clock with a still-valid correction applied. */
  #now(): number {
    const now = this.#options.now();
    if (this.#clock && now > this.#clock.until) this.#clock = undefined;
    return now + (this.#clock?.offset ?? 0);
  }

  /**
   * Refetches the signed key set (which corrects the clock, see {@link #fetchKeys}). A forged
   * `stale_request` thus costs one key fetch and changes nothing.
   */
  async #correctClock(): Promise<void> {
    await this.keys(true);
  }

  /**
   * The time to judge a verified key set by. When its signed `issued_at` shows the local clock off by more
   * than the tolerance, the clock is corrected by that much, capped, for a limited time; otherwise any
   * earlier correction is dropped.
   */
  #learnClock(issuedAt: number): number {
    const now = this.#options.now();
    const error = issuedAt - now;
    this.#clock = Math.abs(error) <= CLOCK_TOLERANCE_SECONDS ? undefined : {
      offset: Math.max(-MAX_CLOCK_CORRECTION_SECONDS, Math.min(MAX_CLOCK_CORRECTION_SECONDS, error)),
      until: now + CLOCK_CORRECTION_TTL_SECONDS,
    };
    return this.#now();
  }

  /** Fetches and verifies the key set; its signed `issued_at` is the only clock source the client has. */
  async #fetchKeys(): Promise<UsableKey[]> {
    const response = await this.#options.fetch(`${this.#options.baseUrl}/api/pubkey`, {
      headers: { accept: "application/json" },
    }).catch(() => {
      throw new GatewayRequestError("network_error", 0);
    });
    if (!response.ok) throw new GatewayRequestError("upstream_unavailable", response.status);
    const verified = await verifyPubkeyDocument(
      await response.json(),
      this.#options.pin,
      this.#options.now(),
      { newestIssuedAt: this.#newestIssuedAt, windowClock: (issuedAt) => this.#learnClock(issuedAt) },
    );
    this.#newestIssuedAt = verified.keySet.issuedAt;
    this.fingerprint = verified.fingerprint;
    return verified.usable;
  }
}
