/**
 * The issuer's key set, rotated with overlap. Each key issues during [notBefore, notAfter − overlap) and is
 * redeemable during [notBefore, notAfter): a token issued in the last minute of a key still has `overlap`
 * to be spent, and the next key is already issuing. At any time at most two keys are redeemable.
 *
 * The public keys are published inside the gateway's signed key set (signed by its Ed25519 identity
 * elsewhere): every client sees the same keys, so the issuer cannot hand one user a key of their own and
 * recognise their tokens at redemption (RFC 9576 §6.2, key consistency).
 */
import { toBase64Url } from "./base64url.ts";
import { IssuerKey, type IssuerKeyRecord } from "./issuer_key.ts";

import type { PublicTokenKey } from "./wire.ts";

export type { PublicTokenKey };

/** Key lifetime and overlap, in ms. */
export interface KeyScheduleOptions {
  lifetimeMs: number;
  overlapMs: number;
}

/** The keys that can verify a token, by token_key_id (what a {@link Redeemer} needs). */
export interface RedemptionKeys {
  /** The key with this token_key_id if it is redeemable at `nowMs`. */
  forRedemption(tokenKeyId: Uint8Array, nowMs: number): IssuerKey | undefined;
}

/** Generates, loads and rotates issuer keys. */
export class IssuerKeys implements RedemptionKeys {
  #keys: IssuerKey[];
  #options: KeyScheduleOptions;

  private constructor(keys: IssuerKey[], options: KeyScheduleOptions) {
    if (!(options.overlapMs > 0 && options.lifetimeMs > 2 * options.overlapMs)) {
      throw new Error(
        `Cannot schedule issuer keys: lifetime '${options.lifetimeMs}' ms must exceed twice the overlap '${options.overlapMs}' ms`,
      );
    }
    this.#keys = keys;
    this.#options = options;
  }

  /** A key set with one fresh key issuing from `nowMs`. */
  static async generate(options: KeyScheduleOptions, nowMs: number): Promise<IssuerKeys> {
    const keys = new IssuerKeys([], options);
    await keys.rotate(nowMs);
    return keys;
  }

  /** Loads persisted keys (e.g. from the secret file shared by gateways); call {@link rotate} next. */
  static async load(records: IssuerKeyRecord[], options: KeyScheduleOptions): Promise<IssuerKeys> {
    return new IssuerKeys(await Promise.all(records.map((r) => IssuerKey.fromRecord(r))), options);
  }

  /**
   * Drops keys past their notAfter and adds a key when none is issuing at `nowMs`. Returns whether the set
   * changed (then persist {@link records} and republish the signed key set).
   */
  async rotate(nowMs: number): Promise<boolean> {
    const before = this.#keys.length;
    this.#keys = this.#keys.filter((k) => k.notAfter > nowMs);
    let changed = this.#keys.length !== before;
    if (!this.#issuing(nowMs)) {
      this.#keys.push(await IssuerKey.generate(nowMs, nowMs + this.#options.lifetimeMs));
      changed = true;
    }
    return changed;
  }

  /** The key that signs token requests at `nowMs`, if any (call {@link rotate} on a timer). */
  current(nowMs: number): IssuerKey | undefined {
    return this.#issuing(nowMs);
  }

  forRedemption(tokenKeyId: Uint8Array, nowMs: number): IssuerKey | undefined {
    return this.#keys.find((k) =>
      k.notBefore <= nowMs && nowMs < k.notAfter && _equal(k.tokenKeyId, tokenKeyId)
    );
  }

  /** The redeemable public keys, the issuing one first (clients blind against the first). */
  publicKeys(nowMs: number): PublicTokenKey[] {
    return this.#keys
      .filter((k) => k.notBefore <= nowMs && nowMs < k.notAfter)
      .sort((a, b) => b.notAfter - a.notAfter)
      .map((k) => ({
        tokenKeyId: toBase64Url(k.tokenKeyId),
        spki: toBase64Url(k.pssSpki),
        notAfter: k.notAfter,
      }));
  }

  /** The secret records to persist. */
  records(): IssuerKeyRecord[] {
    return this.#keys.map((k) => k.toRecord());
  }

  #issuing(nowMs: number): IssuerKey | undefined {
    return this.#keys
      .filter((k) => k.notBefore <= nowMs && nowMs < k.notAfter - this.#options.overlapMs)
      .sort((a, b) => b.notAfter - a.notAfter)[0];
  }
}

function _equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}
