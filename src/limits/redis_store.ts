/**
 * The shared store on Redis, for several gateways behind one load balancer. Each operation is one atomic
 * command or Lua script. Keys are prefixed and already keyed hashes (no IPs or device keys in clear).
 * Every call has a deadline: a Redis outage must surface as an error quickly, so callers can apply the
 * documented outage behaviour (fail closed for replays; configurable for limits).
 */
import { createClient } from "redis";

/** How long start-up waits for Redis before giving up with the cause. */
const _CONNECT_TIMEOUT_MS = 5_000;

/** The client type `createClient` returns with our options. */
type _Client = ReturnType<typeof _create>;
function _create(url: string, timeoutMs: number) {
  return createClient({
    url,
    socket: {
      connectTimeout: timeoutMs,
      // Reconnect in the background with a capped delay; commands fail fast meanwhile.
      reconnectStrategy: (retries: number) => Math.min(2000, 50 * 2 ** retries),
    },
    disableOfflineQueue: true,
  });
}
import type { Rate } from "./gcra.ts";
import type { LimitStore } from "./store.ts";

const _GCRA = `
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local base = math.max(tat, now)
if base - tolerance > now then
  return {0, math.ceil(base - tolerance - now)}
end
local new_tat = base + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now + tolerance + interval))
return {1, 0}
`;

const _ACQUIRE = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

const _RELEASE = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return 0
`;

const _ADD_MEMBER = `
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]) * 1000, ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 1000)
return redis.call('ZCARD', KEYS[1])
`;

/**
 * The one eviction policy that never drops a key before its TTL. Every other policy (the volatile-* ones
 * included, since replay keys carry a TTL) can evict a replay key under memory pressure, which reopens the
 * window for that request (review item 2).
 */
export const SAFE_EVICTION_POLICY = "noeviction";

/** What the connect-time check learnt about eviction: safe, or unknown (CONFIG disabled, managed Redis). */
export type EvictionCheck = "safe" | "unknown";

/** Redis-backed store. */
export class RedisStore implements LimitStore {
  readonly shared = true;
  /** Whether Redis confirmed it never evicts keys; "unknown" deserves a warning at start. */
  eviction: EvictionCheck = "unknown";
  #client: _Client;
  #prefix: string;
  #timeoutMs: number;

  private constructor(client: _Client, prefix: string, timeoutMs: number) {
    this.#client = client;
    this.#prefix = prefix;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Connects; rejects if Redis cannot be reached within `timeoutMs`, or if its `maxmemory-policy` can
   * evict keys (replay keys must live their whole TTL). The first error the client reports while
   * connecting rejects at once, with its message (issue 12, finding 12: a denied environment read inside
   * the client was swallowed and surfaced only as a timeout), and a failed client is destroyed so its
   * reconnect loop does not keep the process alive.
   */
  static async connect(
    url: string,
    options: { prefix?: string; timeoutMs?: number; connectTimeoutMs?: number } = {},
  ): Promise<RedisStore> {
    // Commands must be quick (a request waits on them); connecting happens once, at start, and a busy
    // machine took more than 500 ms for it in CI (the rehearsal's router).
    const timeoutMs = options.timeoutMs ?? 500;
    const connectTimeoutMs = options.connectTimeoutMs ?? _CONNECT_TIMEOUT_MS;
    const client = _create(url, connectTimeoutMs);
    const failed = Promise.withResolvers<never>();
    const onConnectError = (error: Error) => failed.reject(error);
    client.on("error", onConnectError);
    try {
      await _withTimeout(Promise.race([client.connect(), failed.promise]), connectTimeoutMs);
    } catch (error) {
      client.destroy();
      const cause = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new Error(`Cannot connect to Redis at '${_redact(url)}': ${cause}`);
    } finally {
      client.off("error", onConnectError);
    }
    // Later errors surface on each command; the event only needs a listener so it never crashes the process.
    client.on("error", () => {});
    const store = new RedisStore(client, options.prefix ?? "pg:", timeoutMs);
    try {
      store.eviction = await store.#checkEviction();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  async addIfAbsent(key: string, ttlSeconds: number): Promise<boolean> {
    const result = await this.#run(() =>
      this.#client.set(this.#prefix + key, "1", { NX: true, EX: ttlSeconds })
    );
    return result === "OK";
  }

  async has(key: string): Promise<boolean> {
    return await this.#run(() => this.#client.exists(this.#prefix + key)) === 1;
  }

  async rate(key: string, rate: Rate, nowMs: number): Promise<{ allowed: boolean; retryAfterMs: number }> {
    const interval = 60_000 / rate.perMinute;
    const result = await this.#run(() =>
      this.#client.eval(_GCRA, {
        keys: [this.#prefix + key],
        arguments: [String(nowMs), String(interval), String(rate.burst * interval)],
      })
    ) as [number, number];
    return { allowed: result[0] === 1, retryAfterMs: Number(result[1]) };
  }

  async acquire(key: string, limit: number, ttlSeconds: number): Promise<boolean> {
    const result = await this.#run(() =>
      this.#client.eval(_ACQUIRE, {
        keys: [this.#prefix + key],
        arguments: [String(limit), String(ttlSeconds)],
      })
    );
    return result === 1;
  }

  async release(key: string): Promise<void> {
    await this.#run(() => this.#client.eval(_RELEASE, { keys: [this.#prefix + key], arguments: [] }));
  }

  async addMember(key: string, member: string, ttlSeconds: number): Promise<number> {
    const result = await this.#run(() =>
      this.#client.eval(_ADD_MEMBER, {
        keys: [this.#prefix + key],
        arguments: [member, String(Date.now()), String(ttlSeconds)],
      })
    );
    return Number(result);
  }

  async hasMember(key: string, member: string): Promise<boolean> {
    const score = await this.#run(() => this.#client.zScore(this.#prefix + key, member));
    return score !== null && Number(score) > Date.now();
  }

  async close(): Promise<void> {
    try {
      await this.#client.close();
    } catch { /* already closed */ }
  }

  async #checkEviction(): Promise<EvictionCheck> {
    let policy: string | undefined;
    try {
      const reply = await this.#run(() => this.#client.configGet("maxmemory-policy"));
      policy = (reply as Record<string, string>)["maxmemory-policy"];
    } catch {
      return "unknown";
    }
    if (policy === undefined) return "unknown";
    if (policy !== SAFE_EVICTION_POLICY) {
      throw new Error(
        `Cannot use Redis for replay protection: maxmemory-policy '${policy}' can evict replay keys; ` +
          `set maxmemory-policy ${SAFE_EVICTION_POLICY}`,
      );
    }
    return "safe";
  }

  #run<T>(command: () => Promise<T>): Promise<T> {
    if (!this.#client.isReady) return Promise.reject(new Error("Redis is not connected"));
    return _withTimeout(command(), this.#timeoutMs);
  }
}

function _withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error("Redis timed out")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The URL without its password, for messages. */
function _redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "(invalid URL)";
  }
}
