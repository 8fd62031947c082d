/**
 * Redemption (RFC 9577 §2.2, RFC 9578 §6.4): a chat request carries one Token inside its encryption; the
 * gateway checks, in this order, and refuses with one error per outcome:
 *
 *   1. length 354 and token_type 0x0002                          → token_invalid
 *   2. token_key_id names a key redeemable now (current/overlap)  → token_key_retired
 *   3. challenge_digest = SHA-256(the gateway's TokenChallenge)  → token_invalid
 *   4. authenticator verifies over token_input (RSASSA-PSS)       → token_invalid
 *   5. not yet spent: the store has no "tok:" ‖ b64url(SHA-256(token_key_id ‖ nonce)), and no other
 *      request holds it in flight (an atomic one-slot claim "tokq:" ‖ …, released on refusal) → token_spent
 *   6. first spend, later (`spend()` of what `verify()` returns): the store's atomic addIfAbsent of that
 *      key, kept until the key's notAfter → token_spent
 *      (a store failure at 5 or 6 refuses: fail closed, `overloaded`)
 *
 * Two phases so that a token is spent only once the request has a place (the gateway calls `verify()`,
 * then waits for an inference slot, then `spend()`): a valid token waiting in an overloaded queue is not
 * burnt, while a token that is garbage, already spent or already waiting never reaches the queue. The
 * claim and the atomic step 6 each let exactly one of many parallel copies through.
 *
 * The signature is checked before the seen-set is touched, so garbage cannot fill it. Nothing derived from a
 * token leaves this function except that seen-set entry, which is random per token (the nonce) and so
 * never equal across two tokens of one user; the observer gets only the outcome.
 */
import type { RedemptionKeys } from "./issuer_keys.ts";
import { TokenError } from "./token_error.ts";
import { constantTimeEqual, sha256 } from "../crypto/mod.ts";
import { toBase64Url } from "./base64url.ts";
import { gatewayChallenge, parseToken } from "./wire.ts";

/** The seen-set a redeemer needs: `LimitStore`'s `addIfAbsent` (atomic, memory or Redis). */
export interface SpentSet {
  addIfAbsent(key: string, ttlSeconds: number): Promise<boolean>;
  has(key: string): Promise<boolean>;
  /** One in-flight claim per token while its request waits for a slot (LimitStore's slots). */
  acquire(key: string, limit: number, ttlSeconds: number): Promise<boolean>;
  release(key: string): Promise<void>;
}

/** A verified, claimed token: `commit()` marks it spent; `release()` drops the claim (idempotent). */
export interface Spend {
  /** Resolves once the token is marked spent; throws {@link TokenError} otherwise. */
  commit(): Promise<void>;
  /** Ends the in-flight claim: after a refusal the token may be sent again; after a commit, a no-op. */
  release(): void;
}

/** Outcomes of a redemption (metrics label; a closed vocabulary, never an identifier). */
export type RedemptionOutcome = "ok" | "invalid" | "key_retired" | "spent" | "store_unavailable";

/** Options of a {@link Redeemer}. */
export interface RedeemerOptions {
  keys: RedemptionKeys;
  spent: SpentSet;
  /** The gateway's issuer name, as in its TokenChallenge. */
  issuerName: string;
  /** How long a token's in-flight claim lasts at most: the longest a request waits for a slot, and more. */
  claimSeconds?: number;
  observe?: (outcome: RedemptionOutcome) => void;
  nowMs?: () => number;
}

/** Seconds a spent nonce outlives its key, for clock skew between gateways sharing the store. */
const _SPENT_SLACK_SECONDS = 300;

/** Verifies tokens and refuses double spends. */
export class Redeemer {
  #keys: RedemptionKeys;
  #spent: SpentSet;
  #observe: (outcome: RedemptionOutcome) => void;
  #nowMs: () => number;
  #claimSeconds: number;
  #digest: Uint8Array;

  constructor(options: RedeemerOptions) {
    if (!options.issuerName) throw new Error("Cannot create a redeemer: issuerName is empty");
    this.#keys = options.keys;
    this.#spent = options.spent;
    this.#observe = options.observe ?? (() => {});
    this.#nowMs = options.nowMs ?? Date.now;
    this.#claimSeconds = options.claimSeconds ?? 60;
    this.#digest = sha256(gatewayChallenge(options.issuerName));
  }

  /** Accepts a valid token once; throws {@link TokenError} otherwise. Returns nothing about the token. */
  async redeem(tokenBytes: Uint8Array): Promise<void> {
    const spend = await this.verify(tokenBytes);
    try {
      await spend.commit();
    } finally {
      spend.release();
    }
  }

  /**
   * Checks a token (steps 1–5) without spending it; returns the function that spends it (step 6). Throws
   * {@link TokenError}. Neither returns anything about the token.
   */
  async verify(tokenBytes: Uint8Array): Promise<Spend> {
    const token = parseToken(tokenBytes);
    if (!token) return this.#refuse("invalid", "token_invalid");
    const now = this.#nowMs();
    const key = this.#keys.forRedemption(token.tokenKeyId, now);
    if (!key) return this.#refuse("key_retired", "token_key_retired");
    if (!constantTimeEqual(token.challengeDigest, this.#digest)) {
      return this.#refuse("invalid", "token_invalid");
    }
    let valid = false;
    try {
      valid = key.verify(token.tokenInput, token.authenticator);
    } catch {
      valid = false;
    }
    if (!valid) return this.#refuse("invalid", "token_invalid");
    // Synchronous hashing and verification: each WebCrypto call is a hop to the runtime's thread pool, which
    // took milliseconds per request while llama-server kept both cores busy (docs/benchmarks.md).
    const id = sha256(token.tokenKeyId, token.nonce);
    const spentKey = `tok:${toBase64Url(id)}`;
    const ttlSeconds = Math.max(1, Math.ceil((key.notAfter - now) / 1000)) + _SPENT_SLACK_SECONDS;
    let spent: boolean;
    try {
      spent = await this.#spent.has(spentKey);
    } catch {
      return this.#refuse("store_unavailable", "overloaded", 1);
    }
    if (spent) return this.#refuse("spent", "token_spent");
    // One request per token in flight (atomic, shared by instances through the store): copies of one
    // valid token cannot wait in the queue side by side, holding places for free (review of issue 14,
    // finding 2). The claim expires on its own if this process dies while holding it.
    const claimKey = `tokq:${toBase64Url(id)}`;
    let claimed: boolean;
    try {
      claimed = await this.#spent.acquire(claimKey, 1, this.#claimSeconds);
    } catch {
      return this.#refuse("store_unavailable", "overloaded", 1);
    }
    if (!claimed) return this.#refuse("spent", "token_spent");
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#spent.release(claimKey).catch(() => {/* expires after claimSeconds */});
    };
    return {
      commit: async () => {
        let first: boolean;
        try {
          first = await this.#spent.addIfAbsent(spentKey, ttlSeconds);
        } catch {
          return this.#refuse("store_unavailable", "overloaded", 1);
        }
        if (!first) return this.#refuse("spent", "token_spent");
        this.#observe("ok");
      },
      release,
    };
  }

  #refuse(outcome: RedemptionOutcome, code: TokenError["code"], retryAfterSeconds?: number): never {
    this.#observe(outcome);
    throw new TokenError(code, retryAfterSeconds ? { retryAfterSeconds } : {});
  }
}
