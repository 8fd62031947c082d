/**
 * GCRA (generic cell rate algorithm): a rate with a burst allowance, kept as one number per key — the
 * theoretical arrival time (TAT). The Redis store runs the same arithmetic in Lua.
 *
 *   T = 1000 / rate_per_second (ms between requests),  τ = burst · T
 *   allowed iff TAT − τ ≤ now;  then TAT' = max(TAT, now) + T;  otherwise retry after TAT − τ − now
 */

/** A rate with a burst allowance. */
export interface Rate {
  perMinute: number;
  burst: number;
}

/** Result of one GCRA step. */
export interface GcraResult {
  allowed: boolean;
  retryAfterMs: number;
  /** The new TAT to store (unchanged when refused). */
  tat: number;
}

/** One GCRA step for a key whose stored TAT is `tat` (0 when unseen). */
export function gcraStep(tat: number, nowMs: number, rate: Rate): GcraResult {
  const interval = 60_000 / rate.perMinute;
  const tolerance = rate.burst * interval;
  const base = Math.max(tat, nowMs);
  if (base - tolerance > nowMs) {
    return { allowed: false, retryAfterMs: Math.ceil(base - tolerance - nowMs), tat };
  }
  return { allowed: true, retryAfterMs: 0, tat: base + interval };
}

/** How long a key's TAT matters: after this the key is as if unseen. */
export function gcraTtlMs(rate: Rate): number {
  return Math.ceil((rate.burst + 1) * (60_000 / rate.perMinute));
}
