/**
 * The app-side SDK (npm package `@privacy-gateway/client`, packages/client/): pure TypeScript on an
 * injectable crypto (WebCrypto or noble, platform_crypto.ts) and fetch, no Deno-only API, so a React Native
 * (Hermes), browser, Node or Deno app uses it as is.
 *
 *   const client = new GatewayClient({ baseUrl, pin, relayUrl });
 *   for await (const event of client.chat({ messages: [{ role: "user", content: "hi" }] })) …
 *
 * It verifies keys against the pin, prefers X-Wing keys, builds a padded Binary HTTP request, encapsulates
 * it as standard (chunked) Oblivious HTTP (docs/protocol.md §3), posts it to the gateway or to an OHTTP
 * relay, and opens the stream chunk by chunk (detecting truncation, reordering, duplication and splicing).
 *
 * What it trusts: only the pinned identity and what it signs, and what arrives encapsulated to this very
 * request. Clear-text answers (errors before decapsulation, HTTP headers such as `Date`) may come from any
 * relay, so they never change state: a clear-text `unknown_key_id` or `stale_request` only makes the client
 * refetch the signed key set. The clock is corrected from the signed key set's `issued_at` (review items 3
 * and 4), and, for one retry only, from the `Date` of an encapsulated `stale_request` answer, bounded by
 * MAX_CLOCK_CORRECTION_SECONDS (RFC 9458 §6.5). Unknown-key and stale-date failures are retried at most
 * once each, and so is a decryption failure when the refetched signed key set holds a new key (a restart
 * that reused the key id).
 */
import { constantTimeEqual, toBase64Url } from "../crypto/bytes.ts";
import { deviceProofMessage } from "../protocol/device_proof.ts";
import type { ChatEvent } from "../protocol/events.ts";
import { encodeChatRequest, jsonBody } from "../protocol/inner_request.ts";
import { solveChallenge } from "../protocol/proof_of_work_solver.ts";
import { MemoryTokenStore, type TokenStore, TokenWallet } from "../tokens/wallet.ts";
import { GatewayRequestError, readAnswer } from "./answer.ts";
import { nobleBlindTokenRequest } from "./blind_rsa.ts";
import { type DeviceSigner, deviceSigner } from "./device_key.ts";
import { type UsableKey, verifyPubkeyDocument } from "./keys.ts";
import { type PreparedSeal, prepareSeal, sealRequest } from "./ohttp_client.ts";
import { type ClientCrypto, detectCrypto } from "./platform_crypto.ts";
import { deviceKeyIssuance } from "./token_issuance.ts";

/** RFC 9458 §9 and chunked-OHTTP §8 media types. */
const _OHTTP_REQUEST_TYPE = "message/ohttp-req";
const _OHTTP_RESPONSE_TYPE = "message/ohttp-res";
const _OHTTP_CHUNKED_REQUEST_TYPE = "message/ohttp-chunked-req";
const _OHTTP_CHUNKED_RESPONSE_TYPE = "message/ohttp-chunked-res";

export { GatewayRequestError };

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

/** Options of {@link GatewayClient}. */
export interface GatewayClientOptions {
  /** The gateway: keys are fetched from `${baseUrl}/api/pubkey`, requests go to `${baseUrl}/api/chat`. */
  baseUrl: string;
  /**
   * An Oblivious HTTP relay to post requests to instead (it forwards them to the gateway's
   * `/api/chat`): the gateway then never sees the app's IP address (docs/protocol.md §6).
   */
  relayUrl?: string;
  /**
   * Where to fetch the signed key set instead of `${baseUrl}/api/pubkey` (a CDN or the relay operator's
   * key proxy, so the gateway does not see the app's address there either). It is verified against the pin
   * wherever it comes from.
   */
  keysUrl?: string;
  /** KEMs to use, most preferred first (default: X-Wing, then X25519). */
  kems?: readonly number[];
  /** Pinned identity fingerprint. Required unless `allowUnpinned` (development on loopback only). */
  pin?: string;
  allowUnpinned?: boolean;
  /**
   * A fetch whose `Response.body` supports `getReader()` (React Native: `expo/fetch`; the built-in fetch
   * of React Native buffers the whole answer).
   */
  fetch?: typeof fetch;
  /** The crypto primitives (default: WebCrypto where it has Ed25519 and X25519, else noble). */
  crypto?: ClientCrypto;
  /** Wall clock in seconds (tests inject it). */
  now?: () => number;
  /** Attempts per request for retryable failures, including the first. */
  maxAttempts?: number;
  /** Upper bound of one backoff delay. */
  maxBackoffMs?: number;
  /**
   * The device's Ed25519 key: a 32-byte seed (from {@link generateDeviceKey}, kept in secure storage such as
   * expo-secure-store) or a WebCrypto key pair. Without one, the client makes an ephemeral key, which looks
   * like a new device to the gateway's limits.
   */
  deviceKey?: CryptoKeyPair | Uint8Array;
  /**
   * How requests authorise themselves. `auto` (default): as the gateway's signed key set says (its
   * `auth`, docs/protocol.md §2.2), and once it has said `token`, never back to `device` within this
   * client's life. `token`: Privacy Pass tokens only (docs/privacy-pass.md): each request carries one
   * token and no device key, the device key only proves the device at issuance; refuses a gateway in
   * device mode. `device`: a device key in each request; refuses a gateway in token mode rather than send
   * it. Either way the device key never goes to a gateway whose signed key set says `token`.
   */
  auth?: "device" | "token" | "auto";
  /** Token mode: where unspent tokens persist (app storage; default in memory). */
  tokenStore?: TokenStore;
  /** Token mode: tokens fetched per refill, and the stock below which a background refill is scheduled. */
  tokenBatchSize?: number;
  tokenLowWater?: number;
  /**
   * Encapsulate the next request ahead of time (default true): once the keys are fetched and after each
   * request, the client prepares one HPKE encapsulation to the preferred key (its KEM and key schedule,
   * ~1 ms with X-Wing, more on a phone) so that the next request only seals its content. The prepared
   * context is used once, kept in memory only, and dropped when the key set changes.
   */
  prepareAhead?: boolean;
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

/** A gateway on this machine: the only one `allowUnpinned` may talk to (development). */
const _LOOPBACK_URL = /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/.*)?$/;

/** Failures retried at most once per call (RFC 9458 §6.5: a stale date; a rotated key). */
const _ONCE: ReadonlySet<string> = new Set([
  "stale_request",
  "unknown_key_id",
  // Retried only when the refetched signed key set holds another key than the one used (below).
  "decryption_failed",
  // A refused token is dropped (it was removed from the wallet when taken) and another spent, once.
  "token_invalid",
  "token_spent",
  "token_key_retired",
]);

const _RETRYABLE: ReadonlySet<string> = new Set([
  "challenge_required",
  "overloaded",
  "upstream_unavailable",
  "shutting_down",
  "network_error",
  "stale_request",
  "unknown_key_id",
  "decryption_failed",
  "upstream_error",
  "token_invalid",
  "token_spent",
  "token_key_retired",
]);

/** Client for one gateway. Keeps the verified keys; holds no conversation state. */
export class GatewayClient {
  #options:
    & Required<
      Omit<
        GatewayClientOptions,
        | "pin"
        | "deviceKey"
        | "relayUrl"
        | "keysUrl"
        | "kems"
        | "tokenStore"
        | "tokenBatchSize"
        | "tokenLowWater"
        | "crypto"
      >
    >
    & {
      pin?: string;
      relayUrl?: string;
      keysUrl?: string;
      kems?: readonly number[];
    };
  #device: Promise<DeviceSigner>;
  #crypto: Promise<ClientCrypto>;
  #keys?: Promise<UsableKey[]>;
  /** The next streaming request's encapsulation, made ahead ({@link GatewayClientOptions.prepareAhead}). */
  #prepared?: { key: UsableKey; seal: Promise<PreparedSeal | undefined> };
  /** Token mode: the token keys and issuer name from the last verified signed key set. */
  #tokenKeys?: { issuerName: string; keys: { tokenKeyId: string; spki: string; notAfter: number }[] };
  #sawTokenMode = false;
  #wallet?: TokenWallet;
  #tokenStore: TokenStore;
  #tokenBatch: { batchSize?: number; lowWater?: number };
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
    if (!options.pin && !_LOOPBACK_URL.test(options.baseUrl)) {
      throw new Error("Pass `pin`: only a gateway on this machine may be used without a pinned identity");
    }
    this.#options = {
      // Looked up per call, not bound here: an engine without a global fetch (Hermes) passes its own.
      fetch: (input, init) => globalThis.fetch(input, init),
      now: () => Date.now() / 1000,
      maxAttempts: 4,
      maxBackoffMs: 4000,
      allowUnpinned: false,
      auth: "auto",
      prepareAhead: true,
      ...options,
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
    };
    this.#tokenStore = options.tokenStore ?? new MemoryTokenStore();
    this.#tokenBatch = { batchSize: options.tokenBatchSize, lowWater: options.tokenLowWater };
    this.#crypto = options.crypto ? Promise.resolve(options.crypto) : detectCrypto();
    this.#device = this.#crypto.then((c) => deviceSigner(c, options.deviceKey ?? c.randomBytes(32)));
    // Reported where it is used; this only keeps an unused failing promise from being "unhandled".
    this.#device.catch(() => {});
  }

  /** Fetches and verifies the key set (cached until a key is refused). */
  keys(refresh = false): Promise<UsableKey[]> {
    if (refresh || !this.#keys) {
      const keys = this.#fetchKeys();
      this.#keys = keys;
      keys.then(([key]) => this.#prepareNext(key), () => (this.#keys = undefined));
    }
    return this.#keys;
  }

  /** Starts the next streaming request's encapsulation to `key` (replacing any other). */
  #prepareNext(key: UsableKey | undefined): void {
    if (!this.#options.prepareAhead || !key) return;
    const seal = this.#crypto
      .then((c) => prepareSeal(c, key, { chunked: true, aeadId: key.aeadId }))
      .catch(() => undefined);
    this.#prepared = { key, seal };
  }

  /** The prepared encapsulation if it is for `key` and streaming; it is taken either way (one use). */
  #takePrepared(key: UsableKey, chunked: boolean): Promise<PreparedSeal | undefined> {
    const prepared = this.#prepared;
    this.#prepared = undefined;
    return prepared && prepared.key === key && chunked ? prepared.seal : Promise.resolve(undefined);
  }

  /** Whether this client spends tokens (known once the key set was fetched when `auth` is `auto`). */
  get tokenMode(): boolean {
    return this.#tokenMode();
  }

  /** Token mode: how many unspent tokens the wallet holds (the CLI shows it). */
  async tokensLeft(): Promise<number> {
    return await (await this.#tokenWallet()).count();
  }

  /**
   * Token mode: fetches a batch now if the wallet is below its low-water mark. Call it at quiet times
   * (start, resume): a request then never waits for, nor follows right after, an issuance.
   */
  async prefetchTokens(): Promise<number> {
    const wallet = await this.#tokenWallet();
    return await wallet.count() < (this.#tokenBatch.lowWater ?? 5) ? await wallet.refill() : 0;
  }

  /**
   * Whether requests carry tokens: as the last verified key set's signed `auth` says, sticky at `token`
   * (an older signed key set from before a switch to token mode, served back by a cache, must not switch
   * the client back to sending its device key). An explicit `auth` that disagrees is refused in
   * {@link #fetchKeys} before anything is sent.
   */
  #tokenMode(): boolean {
    return this.#options.auth === "token" || this.#sawTokenMode;
  }

  /** The wallet, made once the signed key set has named the issuer. */
  async #tokenWallet(): Promise<TokenWallet> {
    if (this.#wallet) return this.#wallet;
    await this.keys();
    if (!this.#tokenMode() || !this.#tokenKeys) {
      throw new Error("Use token methods with a gateway in token mode");
    }
    // Privacy Pass blinding: @cloudflare/privacypass-ts when the SDK runs on WebCrypto, else the SDK's
    // pure-JS RSABSSA (blind_rsa.ts, same RFC 9578 vectors) on the crypto the app chose (Hermes, or an app
    // that injected noble because its platform's WebCrypto is partial).
    const c = await this.#crypto;
    const blind = c.name === "webcrypto" && typeof globalThis.crypto?.subtle?.digest === "function"
      ? {}
      : { blind: nobleBlindTokenRequest(c) };
    this.#wallet ??= new TokenWallet({
      ...blind,
      randomBytes: (length) => c.randomBytes(length),
      store: this.#tokenStore,
      issuerName: this.#tokenKeys.issuerName,
      // Always the last verified signed key set: tokens of a key it no longer lists are dropped.
      keys: () => this.#tokenKeys?.keys ?? [],
      issue: deviceKeyIssuance({
        url: `${this.#options.baseUrl}/api/tokens`,
        fetch: this.#options.fetch,
        device: () => this.#device,
        sha256: async (data) => (await this.#crypto).sha256(data),
      }),
      ...(this.#tokenBatch.batchSize ? { batchSize: this.#tokenBatch.batchSize } : {}),
      ...(this.#tokenBatch.lowWater !== undefined ? { lowWater: this.#tokenBatch.lowWater } : {}),
    });
    return this.#wallet;
  }

  /** Streams the answer's events. Throws GatewayRequestError or ResponseIntegrityError. */
  async *chat(input: ChatInput, signal?: AbortSignal): AsyncIterable<ChatEvent> {
    let next: _Retry = {};
    const spent = new Set<string>();
    const held: _HeldToken = {};
    const sealedTo: _SealedTo = {};
    try {
      for (let attempt = 1;; attempt++) {
        let yielded = false;
        try {
          for await (const event of this.#attempt({ ...input, stream: true }, signal, next, held, sealedTo)) {
            yielded = true;
            yield event;
          }
          return;
        } catch (error) {
          if (yielded) throw error;
          const retry = await this.#shouldRetry(error, attempt, spent, sealedTo, signal);
          if (!retry) throw error;
          next = retry;
        }
      }
    } finally {
      _forget(held);
    }
  }

  /** Sends a non-streaming request and returns all events at once. */
  async complete(input: ChatInput, signal?: AbortSignal): Promise<ChatEvent[]> {
    let next: _Retry = {};
    const spent = new Set<string>();
    const held: _HeldToken = {};
    const sealedTo: _SealedTo = {};
    try {
      for (let attempt = 1;; attempt++) {
        try {
          const events: ChatEvent[] = [];
          for await (
            const event of this.#attempt({ ...input, stream: false }, signal, next, held, sealedTo)
          ) {
            events.push(event);
          }
          return events;
        } catch (error) {
          const retry = await this.#shouldRetry(error, attempt, spent, sealedTo, signal);
          if (!retry) throw error;
          next = retry;
        }
      }
    } finally {
      _forget(held);
    }
  }

  async *#attempt(
    input: ChatInput & { stream: boolean },
    signal: AbortSignal | undefined,
    retry: _Retry,
    held: _HeldToken,
    sealedTo: _SealedTo,
  ): AsyncIterable<ChatEvent> {
    const [key] = await this.keys();
    sealedTo.key = key;
    // Token mode: one token per call, taken (and removed from the store) before sealing; a retry of the
    // same call reuses it when the gateway cannot have spent it (see _tokenUnspent).
    const token = this.#tokenMode() ? held.token ?? await (await this.#tokenWallet()).take() : undefined;
    held.token = undefined;
    const device = token ? undefined : await this.#device;
    // Streaming uses chunked OHTTP; a whole answer uses plain RFC 9458 (the gateway answers in kind).
    const chunked = input.stream;
    // A one-retry correction replaces (never adds to) the key set's: the total stays within the cap.
    const nowSeconds = retry.clockOffset === undefined
      ? this.#now()
      : this.#options.now() + retry.clockOffset;
    const c = await this.#crypto;
    const prepared = await this.#takePrepared(key, chunked);
    const sealed = await sealRequest(c, key, async ({ hdr, enc }) => {
      let authorization: Record<string, unknown>;
      if (device) {
        const signature = await device.sign(deviceProofMessage(hdr, enc));
        authorization = { device: { public_key: device.publicKey, signature: toBase64Url(signature) } };
      } else {
        authorization = { token: toBase64Url(token!) };
      }
      const body = jsonBody({
        ...input,
        ...authorization,
        ...(retry.pow ? { pow: retry.pow } : {}),
      });
      const requestId = toBase64Url(c.randomBytes(16));
      const message = encodeChatRequest(body, { nowSeconds, requestId });
      body.fill(0);
      return message;
    }, { chunked, aeadId: key.aeadId, prepared });
    let delivered = false;
    try {
      let response: Response;
      try {
        response = await this.#options.fetch(this.#options.relayUrl ?? `${this.#options.baseUrl}/api/chat`, {
          method: "POST",
          headers: {
            "content-type": chunked ? _OHTTP_CHUNKED_REQUEST_TYPE : _OHTTP_REQUEST_TYPE,
            accept: chunked ? _OHTTP_CHUNKED_RESPONSE_TYPE : _OHTTP_RESPONSE_TYPE,
          },
          body: sealed.body,
          signal,
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        throw new GatewayRequestError("network_error", 0);
      }
      for await (const event of readAnswer(response, sealed, c)) {
        // Nothing after an abort, even events already decrypted from the last read.
        if (signal?.aborted) throw _abortError(signal);
        delivered = true;
        yield event;
      }
    } catch (error) {
      // Kept for this call's next attempt only, never put back into the wallet: a token the gateway has
      // seen must not turn up in another, unrelated request (review of issue 14, finding 1).
      if (token && !delivered && _tokenUnspent(error)) held.token = token;
      throw error;
    } finally {
      if (token && held.token !== token) token.fill(0);
      // The next request's encapsulation, made once this one is over (not while it waits for its first
      // token, which it would delay on this thread).
      this.#prepareNext(key);
    }
  }

  /** Decides whether to retry; returns what the next attempt needs, or false. */
  async #shouldRetry(
    error: unknown,
    attempt: number,
    spent: Set<string>,
    sealedTo: _SealedTo,
    signal?: AbortSignal,
  ): Promise<false | _Retry> {
    if (!(error instanceof GatewayRequestError) || !_RETRYABLE.has(error.code)) return false;
    if (
      attempt >= this.#options.maxAttempts || signal?.aborted ||
      (_ONCE.has(error.code) && spent.has(error.code))
    ) {
      // A key the gateway no longer holds is not kept for the next call when this one cannot retry (the
      // next call fetches the signed key set first; a forged answer costs one fetch).
      if (error.code === "decryption_failed" || error.code === "unknown_key_id") this.#keys = undefined;
      return false;
    }
    if (_ONCE.has(error.code)) spent.add(error.code);
    if (error.code === "unknown_key_id" || error.code === "token_key_retired") {
      await this.keys(true);
      return {};
    }
    if (error.code === "decryption_failed") {
      // A gateway that restarted draws new key ids at random (one byte), so it can hold a new key under
      // the id of the old key this request was sealed to: it answers decryption_failed, not unknown_key_id
      // (seen in the upgrade rehearsal). The signed key set is fetched again and the call retried once,
      // only if it now holds another key: a failure against the same key is not the client's to fix.
      // A refetch that fails leaves the call with its own error, not the refetch's.
      const [now] = await this.keys(true).catch(() => [] as UsableKey[]);
      return sealedTo.key && now && !constantTimeEqual(sealedTo.key.publicKey, now.publicKey) ? {} : false;
    }
    if (error.code === "token_invalid" || error.code === "token_spent") return {};
    if (error.code === "stale_request") {
      if (error.encapsulated && error.serverDate !== undefined) {
        // Authenticated (it came encapsulated to this request): corrects this one retry, bounded.
        const offset = error.serverDate - this.#options.now();
        return {
          clockOffset: Math.max(
            -MAX_CLOCK_CORRECTION_SECONDS,
            Math.min(MAX_CLOCK_CORRECTION_SECONDS, offset),
          ),
        };
      }
      // Unauthenticated claim: check it against the signed key set before changing anything.
      await this.#correctClock();
      return {};
    }
    if (error.code === "challenge_required") {
      if (!error.challenge) return false;
      // Proof of work, solved transparently; the next attempt carries the solution.
      return {
        pow: {
          challenge: error.challenge.token,
          solution: await solveChallenge(error.challenge, signal, (await this.#crypto).sha256),
        },
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
    const response = await this.#options.fetch(
      this.#options.keysUrl ?? `${this.#options.baseUrl}/api/pubkey`,
      {
        headers: { accept: "application/json" },
      },
    ).catch(() => {
      throw new GatewayRequestError("network_error", 0);
    });
    if (!response.ok) throw new GatewayRequestError("upstream_unavailable", response.status);
    const verified = await verifyPubkeyDocument(
      await response.json(),
      this.#options.pin,
      this.#options.now(),
      {
        newestIssuedAt: this.#newestIssuedAt,
        windowClock: (issuedAt) => this.#learnClock(issuedAt),
        kems: this.#options.kems,
        // The pin and the signatures are checked by the crypto the app chose, not whatever global exists.
        crypto: await this.#crypto,
      },
    );
    const mode = verified.keySet.auth;
    // `auto` stays in token mode across restarts too: tokens in the app's store mean it saw token mode
    // (an old signed `device` key set, served by a cache to a freshly started app, must not win).
    if (this.#options.auth === "auto" && !this.#sawTokenMode && (await this.#tokenStore.load()).length > 0) {
      this.#sawTokenMode = true;
    }
    const wanted = this.#options.auth === "auto" ? (this.#sawTokenMode ? "token" : mode) : this.#options.auth;
    // Refused before anything is sent: above all, no device key to a gateway that asks for tokens.
    if (mode !== wanted) throw new GatewayRequestError("auth_mode_mismatch", 0);
    this.#newestIssuedAt = verified.keySet.issuedAt;
    if (verified.tokenKeys) {
      this.#tokenKeys = { issuerName: verified.tokenKeys.issuerName, keys: verified.tokenKeys.keys };
      this.#sawTokenMode = true;
    }
    this.fingerprint = verified.fingerprint;
    return verified.usable;
  }
}

/** The key a call's last attempt was sealed to (what a decryption failure is checked against). */
interface _SealedTo {
  key?: UsableKey;
}

/**
 * Whether a failed attempt may have left its token unspent, so the next attempt of the same call sends
 * it again: refused in the clear (before decryption), no answer, or refused inside the encryption before
 * the gateway marks a token spent (a full queue, a stale date: src/http/chat_handler.ts spends only once
 * the request holds a slot). If it was spent after all (a relay that timed out after forwarding, a spend
 * whose store reply was lost), the retry is refused as `token_spent` and the next takes a fresh token.
 * Either way the token only ever links attempts of one call, which carry the same request.
 */
function _tokenUnspent(error: unknown): boolean {
  return error instanceof GatewayRequestError &&
    (!error.encapsulated || error.code === "overloaded" || error.code === "stale_request");
}

/** The signal's reason, or an `AbortError` where the engine gives none (Hermes has no DOMException). */
function _abortError(signal: AbortSignal): unknown {
  if (signal.reason !== undefined) return signal.reason;
  const error = new Error("The chat was aborted");
  error.name = "AbortError";
  return error;
}

/** The token one call keeps between its attempts. */
interface _HeldToken {
  token?: Uint8Array<ArrayBuffer>;
}

/** Drops a call's kept token when the call ends: it goes nowhere else. */
function _forget(held: _HeldToken): void {
  held.token?.fill(0);
  held.token = undefined;
}

/** What the next attempt needs: a proof-of-work solution, or a one-off clock offset. */
interface _Retry {
  pow?: _Pow;
  clockOffset?: number;
}
