/**
 * Token mode's parts (docs/privacy-pass.md): the issuer keys (from a 0600 file shared by instances, or
 * in memory in development), the issuer behind its limits, and the redeemer; `check()` runs on the key
 * rotation timer.
 *
 *   keys file = {"type": "privacy-gateway-token-keys", "version": 1,
 *                "keys": [{"pkcs8": b64url, "not_before": ms, "not_after": ms}, …]}
 */
import { type EnvConfig, fileStamp, readSecretFile } from "../config/mod.ts";
import { type Identity, utf8 } from "../crypto/mod.ts";
import type { KeyHasher, LimitStore, ProofOfWork } from "../limits/mod.ts";
import type { Logger } from "../observability/mod.ts";
import {
  DeviceKeyAttester,
  fromBase64Url,
  type IssuanceOutcome,
  Issuer,
  type IssuerKeyRecord,
  IssuerKeys,
  Redeemer,
  type RedemptionOutcome,
  toBase64Url,
} from "../tokens/mod.ts";

/** Domain-separation label of the identity signature the attester's challenge key comes from. */
const _ATTESTER_LABEL = "privacy-gateway token attester v1";
const _FILE_TYPE = "privacy-gateway-token-keys";
const _DAY_SECONDS = 86_400;
/** Issuance proof of work: the limits' base difficulty, valid long enough for a phone to solve it. */
const _POW_TTL_SECONDS = 120;

/** What token mode adds to a gateway. */
export interface Tokens {
  keys: IssuerKeys;
  issuer: Issuer;
  redeemer: Redeemer;
  /** The issuer name in every TokenChallenge (RFC 9577 §2.1): derived from the identity, so instances agree. */
  issuerName: string;
  /** One rotation step: re-read a changed keys file, rotate, persist; returns whether the keys changed. */
  check(): Promise<boolean>;
}

/** What {@link buildTokens} needs from the rest of the gateway. */
export interface TokenDeps {
  identity: Identity;
  store: LimitStore;
  hasher: KeyHasher;
  pow: ProofOfWork;
  /** Load, 0..1 (the admission queue's). */
  load: () => number;
  limits: { newDevicesPerNetworkPerHour: number; powLoadThreshold: number; powBaseBits: number };
  logger: Logger;
  observeIssuance?: (outcome: IssuanceOutcome, tokens: number) => void;
  observeRedemption?: (outcome: RedemptionOutcome) => void;
  nowMs?: () => number;
}

/** Builds the issuer keys, issuer and redeemer of token mode. */
export async function buildTokens(config: EnvConfig, deps: TokenDeps): Promise<Tokens> {
  const nowMs = deps.nowMs ?? Date.now;
  const schedule = {
    lifetimeMs: config.PG_TOKEN_KEY_LIFETIME_SECONDS * 1000,
    overlapMs: config.PG_TOKEN_KEY_OVERLAP_SECONDS * 1000,
  };
  const file = config.PG_TOKEN_KEYS_FILE;
  let stamp = "";
  let keys: IssuerKeys;
  if (file) {
    const existing = await _readKeysFile(file);
    keys = await IssuerKeys.load(existing ?? [], schedule);
    if (await keys.rotate(nowMs()) || !existing) {
      try {
        await _writeKeysFile(file, keys.records(), !existing);
      } catch (error) {
        // Another instance created the file first: use its keys.
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        keys = await IssuerKeys.load(await _readKeysFile(file) ?? [], schedule);
      }
    }
    stamp = await fileStamp([file]);
  } else {
    keys = await IssuerKeys.generate(schedule, nowMs());
  }
  // The issuer and redeemer read keys through this view, so a reloaded key set reaches both.
  const view = new Proxy({} as IssuerKeys, {
    get: (_target, name) => {
      const value = Reflect.get(keys, name);
      return typeof value === "function" ? value.bind(keys) : value;
    },
  });
  const derived = await deps.identity.sign(utf8(_ATTESTER_LABEL));
  const attester = await DeviceKeyAttester.create(derived.slice(0, 32), deps.hasher, deps.store);
  derived.fill(0);
  const issuerName = `privacy-gateway.${deps.identity.fingerprint.replace(/[^A-Za-z0-9]/g, "").slice(0, 32)}`;
  const issuer = new Issuer({
    keys: view,
    store: deps.store,
    attester,
    limits: {
      maxBatch: config.PG_TOKEN_BATCH_SIZE,
      tokensPerWindow: config.PG_TOKENS_PER_DEVICE_PER_DAY,
      windowSeconds: _DAY_SECONDS,
      newDevicesPerNetworkPerHour: deps.limits.newDevicesPerNetworkPerHour,
      powLoadThreshold: deps.limits.powLoadThreshold,
      powBits: deps.limits.powBaseBits,
      powTtlSeconds: _POW_TTL_SECONDS,
    },
    pow: deps.pow,
    load: deps.load,
    observe: deps.observeIssuance,
    nowMs,
  });
  const redeemer = new Redeemer({
    keys: view,
    spent: deps.store,
    issuerName,
    // A claim outlives the longest wait for a slot, so it never lapses while its request is queued.
    claimSeconds: config.PG_QUEUE_WAIT_SECONDS + 30,
    observe: deps.observeRedemption,
    nowMs,
  });
  const check = async (): Promise<boolean> => {
    let changed = false;
    if (file) {
      try {
        const current = await fileStamp([file]);
        if (current !== stamp) {
          const records = await _readKeysFile(file);
          if (records) {
            keys = await IssuerKeys.load(records, schedule);
            changed = true;
          }
          stamp = current;
        }
      } catch {
        deps.logger.log("error", "token_keys.reload_failed", {
          problem: "token keys file unreadable or invalid; keeping current keys",
        });
      }
    }
    if (await keys.rotate(nowMs())) {
      changed = true;
      if (file) {
        await _writeKeysFile(file, keys.records(), false);
        stamp = await fileStamp([file]);
      }
    }
    if (changed) deps.logger.log("info", "token_keys.rotated", { keys: keys.records().length });
    return changed;
  };
  return {
    get keys() {
      return keys;
    },
    issuer,
    redeemer,
    issuerName,
    check,
  };
}

async function _readKeysFile(path: string): Promise<IssuerKeyRecord[] | undefined> {
  try {
    await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const parsed = JSON.parse(await readSecretFile(path));
  if (parsed?.type !== _FILE_TYPE || parsed.version !== 1 || !Array.isArray(parsed.keys)) {
    throw new Error(`Cannot use token keys file '${path}': it is not a token keys file`);
  }
  return parsed.keys.map((k: { pkcs8: string; not_before: number; not_after: number }) => {
    const pkcs8 = fromBase64Url(k.pkcs8);
    if (!pkcs8 || !Number.isSafeInteger(k.not_before) || !Number.isSafeInteger(k.not_after)) {
      throw new Error(`Cannot use token keys file '${path}': a key is malformed`);
    }
    return { pkcs8, notBefore: k.not_before, notAfter: k.not_after };
  });
}

/** Writes through a temporary file and a rename; `createNew` lets only one of two starting instances create it. */
async function _writeKeysFile(path: string, records: IssuerKeyRecord[], createNew: boolean): Promise<void> {
  const text = JSON.stringify({
    type: _FILE_TYPE,
    version: 1,
    keys: records.map((r) => ({
      pkcs8: toBase64Url(r.pkcs8),
      not_before: r.notBefore,
      not_after: r.notAfter,
    })),
  });
  if (createNew) {
    await Deno.writeTextFile(path, text, { mode: 0o600, createNew: true });
    return;
  }
  const temporary = `${path}.tmp`;
  await Deno.writeTextFile(temporary, text, { mode: 0o600 });
  await Deno.rename(temporary, path);
}
