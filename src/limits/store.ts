/**
 * Shared state behind one interface: rate counters (GCRA), concurrency slots, distinct-member sets (new
 * devices per network), and the seen-set for replays and spent challenges. In memory by default; in
 * Redis when several gateways share one limit (redis_store.ts). Keys are already keyed hashes: no IP
 * address or device key is stored in clear.
 */
import type { SeenSet } from "../protocol/mod.ts";
import { gcraStep, gcraTtlMs, type Rate } from "./gcra.ts";

/** The state operations limits need; every method is atomic per key. */
export interface LimitStore extends SeenSet {
  /** One GCRA step for `key`. */
  rate(key: string, rate: Rate, nowMs: number): Promise<{ allowed: boolean; retryAfterMs: number }>;
  /** Takes one of `limit` slots for `key`; slots expire after `ttlSeconds` if never released. */
  acquire(key: string, limit: number, ttlSeconds: number): Promise<boolean>;
  /** Returns a slot taken by {@link acquire}. */
  release(key: string): Promise<void>;
  /** Adds `member` to the set `key` (expiring after `ttlSeconds`) and returns the set's size. */
  addMember(key: string, member: string, ttlSeconds: number): Promise<number>;
  /** Whether `member` is in the set `key`. */
  hasMember(key: string, member: string): Promise<boolean>;
  close(): Promise<void>;
}

/** In-process store: the embedded default. Expired entries are swept lazily. */
export class MemoryStore implements LimitStore {
  readonly shared = false;
  #values = new Map<string, { value: number; expires: number }>();
  #sets = new Map<string, { members: Map<string, number> }>();
  #now: () => number;
  #lastSweep = 0;

  constructor(nowMs: () => number = Date.now) {
    this.#now = nowMs;
  }

  addIfAbsent(key: string, ttlSeconds: number): Promise<boolean> {
    const now = this.#sweep();
    const entry = this.#values.get(key);
    if (entry && entry.expires > now) return Promise.resolve(false);
    this.#values.set(key, { value: 1, expires: now + ttlSeconds * 1000 });
    return Promise.resolve(true);
  }

  has(key: string): Promise<boolean> {
    const now = this.#sweep();
    const entry = this.#values.get(key);
    return Promise.resolve(entry !== undefined && entry.expires > now);
  }

  rate(key: string, rate: Rate, nowMs: number): Promise<{ allowed: boolean; retryAfterMs: number }> {
    this.#sweep();
    const entry = this.#values.get(key);
    const step = gcraStep(entry && entry.expires > nowMs ? entry.value : 0, nowMs, rate);
    if (step.allowed) this.#values.set(key, { value: step.tat, expires: step.tat + gcraTtlMs(rate) });
    return Promise.resolve({ allowed: step.allowed, retryAfterMs: step.retryAfterMs });
  }

  acquire(key: string, limit: number, ttlSeconds: number): Promise<boolean> {
    const now = this.#sweep();
    const entry = this.#values.get(key);
    const count = entry && entry.expires > now ? entry.value : 0;
    if (count >= limit) return Promise.resolve(false);
    this.#values.set(key, { value: count + 1, expires: now + ttlSeconds * 1000 });
    return Promise.resolve(true);
  }

  release(key: string): Promise<void> {
    const entry = this.#values.get(key);
    if (entry) entry.value = Math.max(0, entry.value - 1);
    return Promise.resolve();
  }

  addMember(key: string, member: string, ttlSeconds: number): Promise<number> {
    const now = this.#sweep();
    const set = this.#sets.get(key) ?? { members: new Map<string, number>() };
    set.members.set(member, now + ttlSeconds * 1000);
    this.#sets.set(key, set);
    return Promise.resolve(set.members.size);
  }

  hasMember(key: string, member: string): Promise<boolean> {
    const now = this.#sweep();
    const expires = this.#sets.get(key)?.members.get(member);
    return Promise.resolve(expires !== undefined && expires > now);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #sweep(): number {
    const now = this.#now();
    if (now - this.#lastSweep < 1000) return now;
    this.#lastSweep = now;
    for (const [key, entry] of this.#values) if (entry.expires <= now) this.#values.delete(key);
    for (const [key, set] of this.#sets) {
      for (const [member, expires] of set.members) if (expires <= now) set.members.delete(member);
      if (set.members.size === 0) this.#sets.delete(key);
    }
    return now;
  }
}
