/**
 * The HPKE key ring and the timer that keeps it current: a shared keys file is re-read when it changes;
 * in-memory keys rotate on their interval.
 */
import { type EnvConfig, fileStamp, loadHpkeKeysFile } from "../config/mod.ts";
import { KeyRing } from "../crypto/mod.ts";
import type { Logger } from "../observability/mod.ts";

/**
 * How often a shared keys file is checked for changes. The file is rotated well ahead of use (a key is
 * published an interval before it becomes current), so ten seconds of lag costs nothing.
 */
export const KEYS_FILE_POLL_MS = 10_000;

/**
 * Longest pause between two in-memory rotation checks. A check is cheap; checking at least every quarter
 * of the interval (and at least once a minute) keeps a key's promotion within 15 s of its `not_before`.
 */
export const MAX_ROTATION_CHECK_MS = 60_000;
const _CHECKS_PER_INTERVAL = 4;

/** Loads the configured keys file, or generates in-memory keys. */
export async function loadKeyRing(config: EnvConfig, nowSeconds: number): Promise<KeyRing> {
  return config.PG_HPKE_KEYS_FILE
    ? KeyRing.fixed(await loadHpkeKeysFile(config.PG_HPKE_KEYS_FILE))
    : await KeyRing.generate(Math.floor(nowSeconds), config.PG_KEY_ROTATION_SECONDS);
}

/** What the rotation timer needs. */
export interface KeyRotationOptions {
  ring: KeyRing;
  keysFile?: string;
  rotationSeconds: number;
  nowSeconds: () => number;
  logger: Logger;
  /** Also run on every check (token mode's issuer keys); a failure is logged, never thrown. */
  onCheck?: () => Promise<void>;
}

/** A running rotation timer. */
export interface KeyRotation extends Disposable {
  /** One check, as the timer runs it (tests call it instead of waiting for the timer). */
  check(): Promise<void>;
}

/** Starts the rotation timer; dispose the result to stop it. */
export async function startKeyRotation(options: KeyRotationOptions): Promise<KeyRotation> {
  const { ring, keysFile, rotationSeconds, nowSeconds, logger } = options;
  let keysStamp = keysFile ? await fileStamp([keysFile]) : "";
  const check = async () => {
    if (keysFile) {
      // A shared keys file is re-read when it changes; a broken file leaves the current keys in place.
      try {
        const stamp = await fileStamp([keysFile]);
        if (stamp !== keysStamp) {
          ring.replaceFixed(await loadHpkeKeysFile(keysFile));
          keysStamp = stamp;
          logger.log("info", "keys.rotated", { keys: ring.keys.length });
        }
      } catch {
        logger.log("error", "keys.reload_failed", {
          problem: "keys file unreadable or invalid; keeping current keys",
        });
      }
    }
    if (await ring.rotateIfDue(Math.floor(nowSeconds()), rotationSeconds)) {
      logger.log("info", "keys.rotated", { keys: ring.keys.length });
    }
    await options.onCheck?.().catch(() => {
      logger.log("error", "token_keys.reload_failed", { problem: "token key rotation failed; retrying" });
    });
  };
  const timer = setInterval(
    check,
    keysFile
      ? KEYS_FILE_POLL_MS
      : Math.min(rotationSeconds * 1000, MAX_ROTATION_CHECK_MS) / _CHECKS_PER_INTERVAL,
  );
  return { check, [Symbol.dispose]: () => clearInterval(timer) };
}
