/**
 * The app's token wallet (no dependency on the SDK in src/client; issue 16 plugs it in). Unlinkability at
 * redemption depends on the client as much as on the gateway (RFC 9576 §6.3), so the wallet:
 *
 * - fetches tokens in batches (`batchSize`), from `refill()`, which the app calls at quiet times (start,
 *   resume, a timer), and which `take()` schedules after a random delay when the stock falls below
 *   `lowWater`, never right before a request;
 * - only fetches inside `take()` when it has no token at all (then that one request is linkable in time
 *   to that issuance: documented, unavoidable);
 * - spends in uniformly random order, not issuance order;
 * - removes a token from the store before handing it out (a crash never spends one twice);
 * - spends only tokens of keys the last verified key set lists; drops tokens once their key has expired
 *   (a token of a key missing from the key set is kept until then: the key set may be an older one);
 * - on a rejected token, `spend()` retries once with another token.
 *
 *   StoredToken = {token: b64url(Token), tokenKeyId: b64url, notAfter: ms}
 */
import { fromBase64Url, toBase64Url } from "./base64url.ts";
import { blindTokenRequest, type PendingToken } from "./blinding.ts";
import { gatewayChallenge, type PublicTokenKey } from "./wire.ts";

/** One unspent token as persisted. */
export interface StoredToken {
  token: string;
  tokenKeyId: string;
  notAfter: number;
}

/** Persistence of unspent tokens (app storage; injectable). */
export interface TokenStore {
  load(): Promise<StoredToken[]>;
  save(tokens: StoredToken[]): Promise<void>;
}

/** An in-memory store (tests, the CLI). */
export class MemoryTokenStore implements TokenStore {
  #tokens: StoredToken[] = [];
  load(): Promise<StoredToken[]> {
    return Promise.resolve([...this.#tokens]);
  }
  save(tokens: StoredToken[]): Promise<void> {
    this.#tokens = [...tokens];
    return Promise.resolve();
  }
}

/** Sends a batch of serialized TokenRequests to the issuance endpoint (with attestation) and returns the responses. */
export type IssueBatch = (requests: Uint8Array[]) => Promise<Uint8Array[]>;

/** Options of a {@link TokenWallet}. */
export interface WalletOptions {
  store: TokenStore;
  /** The gateway's issuer name (as in its TokenChallenge). */
  issuerName: string;
  /** The token keys from the gateway's verified signed key set, issuing key first. */
  keys: () => PublicTokenKey[] | Promise<PublicTokenKey[]>;
  issue: IssueBatch;
  batchSize?: number;
  lowWater?: number;
  /** Background refill delay range, ms (random within, so refills do not follow requests in time). */
  refillDelayMs?: [number, number];
  /** Schedules a background refill (default: an unref'd timer). */
  schedule?: (run: () => void, delayMs: number) => void;
  nowMs?: () => number;
  /** Blinds one token (default: blinding.ts on WebCrypto; the app SDK passes a pure-JS one on Hermes). */
  blind?: (challenge: Uint8Array, pssSpki: Uint8Array) => Promise<PendingToken>;
  /** CSPRNG bytes for the spending order and refill delays (default: `crypto.getRandomValues`). */
  randomBytes?: (length: number) => Uint8Array;
}

/** Holds unspent tokens and hands them out. */
export class TokenWallet {
  #o: Required<WalletOptions>;
  #refilling?: Promise<number>;
  #scheduled = false;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: WalletOptions) {
    this.#o = {
      ...options,
      batchSize: options.batchSize ?? 20,
      lowWater: options.lowWater ?? 5,
      refillDelayMs: options.refillDelayMs ?? [5_000, 120_000],
      schedule: options.schedule ?? _unrefTimeout,
      nowMs: options.nowMs ?? Date.now,
      blind: options.blind ?? blindTokenRequest,
      randomBytes: options.randomBytes ?? ((length) => crypto.getRandomValues(new Uint8Array(length))),
    };
    if (!(this.#o.batchSize >= 1 && this.#o.lowWater >= 0 && this.#o.lowWater < this.#o.batchSize)) {
      throw new Error("Cannot create the wallet: batchSize must be ≥ 1 and lowWater below it");
    }
  }

  /** How many usable tokens are left (the CLI shows it). */
  async count(): Promise<number> {
    return (await this.#usable()).length;
  }

  /** Fetches one batch now; returns how many tokens were added. Concurrent calls share one fetch. */
  refill(): Promise<number> {
    this.#refilling ??= this.#fetchBatch().finally(() => this.#refilling = undefined);
    return this.#refilling;
  }

  /**
   * One token, chosen at random, removed from the store before it is returned. Fetches only when the wallet
   * is empty; below the low-water mark, schedules a background refill after a random delay.
   */
  async take(): Promise<Uint8Array<ArrayBuffer>> {
    let picked = await this.#exclusive(() => this.#pick());
    if (!picked) {
      await this.refill();
      picked = await this.#exclusive(() => this.#pick());
      if (!picked) throw new Error("Cannot take a token: the issuer returned none");
    }
    if (picked.left < this.#o.lowWater) this.#scheduleRefill();
    return picked.token;
  }

  /**
   * Runs `send` with a token; when `rejected(error)` says the gateway refused the token (invalid, spent,
   * retired key), drops it and retries once with another.
   */
  async spend<T>(send: (token: Uint8Array) => Promise<T>, rejected: (error: unknown) => boolean): Promise<T> {
    try {
      return await send(await this.take());
    } catch (error) {
      if (!rejected(error)) throw error;
      return await send(await this.take());
    }
  }

  async #pick(): Promise<{ token: Uint8Array<ArrayBuffer>; left: number } | undefined> {
    const kept = await this.#kept();
    const usable = await this.#usableOf(kept);
    if (usable.length === 0) return undefined;
    const chosen = usable[_randomIndex(usable.length, this.#o.randomBytes)];
    await this.#o.store.save(kept.filter((t) => t !== chosen));
    return { token: fromBase64Url(chosen.token)!, left: usable.length - 1 };
  }

  async #usable(): Promise<StoredToken[]> {
    return await this.#usableOf(await this.#kept());
  }

  /** Of the kept tokens, those whose key the last verified key set lists: only these are spent. */
  async #usableOf(kept: StoredToken[]): Promise<StoredToken[]> {
    const published = new Set((await this.#o.keys()).map((k) => k.tokenKeyId));
    return kept.filter((t) => published.has(t.tokenKeyId));
  }

  /**
   * Stored tokens worth keeping: well-formed and not past their key's `not_after`. A token whose key the
   * current key set does not list is kept, not dropped, until then: a key set from an instance (or cache)
   * that has not yet seen a new key must not destroy the tokens a newer key set issued.
   */
  async #kept(): Promise<StoredToken[]> {
    const now = this.#o.nowMs();
    return (await this.#o.store.load()).filter((t) =>
      t.notAfter > now && fromBase64Url(t.token) !== undefined
    );
  }

  #scheduleRefill(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const [min, max] = this.#o.refillDelayMs;
    this.#o.schedule(() => {
      this.#scheduled = false;
      this.refill().catch(() => {/* the next take() or the app's own refill tries again */});
    }, min + _randomIndex(Math.max(1, max - min), this.#o.randomBytes));
  }

  async #fetchBatch(): Promise<number> {
    const [key] = await this.#o.keys();
    if (!key) throw new Error("Cannot refill the wallet: the key set has no token key");
    const spki = fromBase64Url(key.spki);
    if (!spki) throw new Error("Cannot refill the wallet: the token key is not base64url");
    const challenge = gatewayChallenge(this.#o.issuerName);
    const pending = await Promise.all(
      Array.from({ length: this.#o.batchSize }, () => this.#o.blind(challenge, spki)),
    );
    const responses = await this.#o.issue(pending.map((p) => p.request));
    if (responses.length > pending.length) {
      throw new Error("Cannot refill the wallet: more responses than requests");
    }
    const tokens = await Promise.all(responses.map((r, i) => pending[i].finalize(r)));
    return await this.#exclusive(async () => {
      const stored = await this.#kept();
      stored.push(
        ...tokens.map((t) => ({ token: toBase64Url(t), tokenKeyId: key.tokenKeyId, notAfter: key.notAfter })),
      );
      await this.#o.store.save(stored);
      return tokens.length;
    });
  }

  /** Serializes load-modify-save on the store within this process. */
  #exclusive<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#lock.then(run, run);
    this.#lock = next.catch(() => {});
    return next;
  }
}

/** Uniform integer in [0, n) from the CSPRNG (rejection sampling, no modulo bias). */
function _randomIndex(n: number, randomBytes: (length: number) => Uint8Array): number {
  const limit = Math.floor(0x1_0000_0000 / n) * n;
  let word: number;
  do {
    const b = randomBytes(4);
    word = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  } while (word >= limit);
  return word % n;
}

/** setTimeout that does not keep Deno or Node alive (the app SDK runs on both and in browsers and Hermes). */
function _unrefTimeout(run: () => void, delay: number): void {
  const timer = setTimeout(run, delay) as unknown as { unref?: () => void } | number;
  const deno = (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno;
  if (typeof timer === "number") deno?.unrefTimer(timer);
  else timer.unref?.();
}
