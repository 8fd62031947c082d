/**
 * The program's entry point and the only place that assembles it: parse the command line and the
 * configuration, build the parts (identity, keys, replay guard, inference, app), pass them in explicitly,
 * serve, and wire signals to an AbortController. The builders live in gateway/; `run()` is the seam tests
 * use to start a whole gateway in-process.
 */
import { getHeapStatistics } from "node:v8";
import { dispatch } from "./cli/mod.ts";
import { edgeLimitsFor, ENV_SCHEMA, type EnvConfig, limitsFor } from "./config/mod.ts";
import type { Identity, KeyRing } from "./crypto/mod.ts";
import {
  buildInference,
  buildTokens,
  deriveLimitSecrets,
  type Inference,
  loadGatewayIdentity,
  loadKeyRing,
  type RunningNode,
  startKeyRotation,
  startMetricsListener,
  startNode,
} from "./gateway/mod.ts";
import { createApp, KeyPublisher, listen } from "./http/mod.ts";
import { type Generator, type Router, type Supervisor, type SupervisorTiming } from "./inference/mod.ts";
import {
  AbuseGuard,
  AdmissionQueue,
  connectRedisStore,
  DecapsulationBudget,
  type LimitStore,
  LOOPBACK_PROXIES,
  MemoryStore,
  TrustedProxies,
} from "./limits/mod.ts";
import {
  createLogger,
  currentKeyAgeSeconds,
  installTracing,
  type Logger,
  Metrics,
  RequestIdHasher,
} from "./observability/mod.ts";
import { chatRequestSchema, ReplayGuard, streamTickMs } from "./protocol/mod.ts";

/** Version printed by `--version`. */
export { VERSION } from "./cli/mod.ts";
export type { RunningNode } from "./gateway/mod.ts";

/** Parts that tests may replace. */
export interface RunDeps {
  logger?: Logger;
  generator?: Generator;
  identity?: Identity;
  /** How often TLS files are checked for renewal (tests shorten it). */
  tlsReloadIntervalMs?: number;
  /** Supervisor timing (tests shorten it). */
  timing?: Partial<SupervisorTiming>;
  nowSeconds?: () => number;
  /** Keys to serve instead of the configured ones (tests: the RFC 9458 Appendix A example key). */
  keyRing?: KeyRing;
}

/** A running gateway. */
export interface RunningGateway {
  url: string;
  fingerprint: string;
  keyRing: KeyRing;
  /** The local llama-server supervisor, when there is one (tests, metrics). */
  supervisor?: Supervisor;
  /** The backend router, when inference is real (tests, metrics). */
  router?: Router;
  /** Resolves when the server has shut down (after `signal` aborted and streams drained). */
  finished: Promise<void>;
}

/** Most tools a request may declare: far more than an app offers, few enough to bound the prompt. */
const MAX_TOOLS = 32;
/**
 * Time between ending the streams still open at the drain deadline and closing their connections: enough
 * to seal and send the final `shutting_down` event (a few ms), with room for a slow client's window.
 */
const LAST_EVENT_MS = 1_000;
/** How often the HTTPS certificate files are checked for renewal (certbot replaces them in place). */
const TLS_RELOAD_MS = 10_000;

/**
 * Starts the gateway with a validated configuration; stops when `signal` aborts. Every resource is
 * registered on one stack as soon as it exists, so a failure part-way (a port in use after llama-server
 * started) unwinds everything already running, and shutdown is the same unwinding in reverse order
 * (review item 10).
 */
export async function run(config: EnvConfig, deps: RunDeps, signal: AbortSignal): Promise<RunningGateway> {
  await using resources = new AsyncDisposableStack();
  const logger = deps.logger ?? _defaultLogger(config);
  const nowSeconds = deps.nowSeconds ?? (() => Date.now() / 1000);

  const identity = deps.identity ?? await loadGatewayIdentity(config, logger);
  const ring = deps.keyRing ?? await loadKeyRing(config, nowSeconds());
  logger.log("info", "keys.loaded", { keys: ring.keys.length, fingerprint: identity.fingerprint });

  const inference: Inference = deps.generator
    ? { generator: deps.generator, stop: () => Promise.resolve() }
    : await buildInference(config, logger, deps.timing ?? {});
  resources.defer(() => inference.stop());
  const generator = inference.generator;
  const queue = new AdmissionQueue(
    config.PG_MAX_CONCURRENT_STREAMS,
    config.PG_QUEUE_SIZE,
    config.PG_NETWORK_STREAM_SHARE_PERCENT / 100,
  );
  const shutdown = new AbortController();
  // Limits, the replay set and spent challenges share one store: Redis when configured.
  const store: LimitStore = config.PG_REDIS_URL
    ? await connectRedisStore(config.PG_REDIS_URL)
    : new MemoryStore();
  resources.defer(() => store.close());
  if ("eviction" in store && store.eviction === "unknown") {
    logger.log("warn", "store.eviction_unchecked", {
      reason: "Redis refused CONFIG GET maxmemory-policy; make sure it is noeviction or replays may pass",
    });
  }
  // Keys from a file outlive this process, so a per-process seen-set must refuse what it may have seen.
  const replay = new ReplayGuard(
    store,
    config.PG_REPLAY_WINDOW_SECONDS,
    Math.floor(nowSeconds()),
    Boolean(config.PG_HPKE_KEYS_FILE),
  );
  const { hasher, pow } = await deriveLimitSecrets(identity, { shared: store.shared });
  const limits = limitsFor(config);
  const metrics = new Metrics({
    activeStreams: () => queue.active,
    queueDepth: () => queue.queued,
    circuits: () => inference.router?.circuits() ?? {},
    supervisorRestarts: () => inference.supervisor?.restarts ?? 0,
    keyAgeSeconds: () => currentKeyAgeSeconds(ring.keys, nowSeconds()),
    certificates: {
      tls: config.PG_TLS_CERT_FILE,
      mtls: config.PG_NODES ? config.PG_MTLS_CERT_FILE : undefined,
    },
    supervisorState: inference.supervisor ? () => inference.supervisor?.state : undefined,
  });
  const guard = new AbuseGuard(store, pow, limits, () => queue.load, {
    rejected: (limit) => metrics.limitRejected(limit),
    challengeIssued: () => metrics.challengeIssued(),
    challengeSolved: () => metrics.challengeSolved(),
  });
  // Token mode (docs/privacy-pass.md): issuance carries identity and limits; redemption is anonymous.
  const tokens = config.PG_AUTH === "token"
    ? await buildTokens(config, {
      identity,
      store,
      hasher,
      pow,
      load: () => queue.load,
      limits,
      logger,
      observeIssuance: (outcome, count) => metrics.tokensIssued(outcome, count),
      observeRedemption: (outcome) => metrics.tokenRedeemed(outcome),
      nowMs: () => nowSeconds() * 1000,
    })
    : undefined;
  const publisher = new KeyPublisher(
    ring,
    identity,
    nowSeconds,
    tokens && { issuerName: tokens.issuerName, publicKeys: (nowMs) => tokens.keys.publicKeys(nowMs) },
  );
  resources.defer(await installTracing(config.PG_OTLP_ENDPOINT));
  const schema = chatRequestSchema({
    maxMessages: config.PG_MAX_MESSAGES,
    maxMessageChars: config.PG_MAX_MESSAGE_CHARS,
    maxTotalChars: config.PG_MAX_TOTAL_CHARS,
    maxTools: MAX_TOOLS,
    maxTokensCap: config.PG_MAX_TOKENS_CAP,
  });

  const trustedProxies = config.PG_BEHIND_TLS_PROXY
    ? TrustedProxies.parse(config.PG_TRUSTED_PROXIES ?? LOOPBACK_PROXIES)
    : undefined;
  const tickMs = streamTickMs({
    baseMs: config.PG_STREAM_TICK_MS,
    maxMs: config.PG_STREAM_TICK_MAX_MS,
    chunksPerSecond: config.PG_STREAM_CHUNKS_PER_SECOND,
  }, config.PG_MAX_CONCURRENT_STREAMS);
  const app = createApp({
    chat: {
      ring,
      replay,
      schema,
      generator,
      queue,
      guard,
      decapsulations: new DecapsulationBudget(
        config.PG_DECAPSULATIONS_PER_SECOND,
        config.PG_DECAPSULATION_RESERVED_PERCENT / 100,
      ),
      hasher,
      requestIds: new RequestIdHasher(),
      metrics,
      nowSeconds,
      queueWaitMs: config.PG_QUEUE_WAIT_SECONDS * 1000,
      trustedProxies,
      requireDevice: limits.requireDevice,
      redeemer: tokens?.redeemer,
      maxBodyBytes: config.PG_MAX_BODY_BYTES,
      tickMs,
      chunkSize: config.PG_CHUNK_SIZE,
      requestTimeoutMs: config.PG_REQUEST_TIMEOUT_SECONDS * 1000,
      stallMs: config.PG_STALL_TIMEOUT_SECONDS * 1000,
      shutdown: shutdown.signal,
    },
    publisher,
    issuer: tokens?.issuer,
    logger,
    ready: () => ring.keys.length > 0 && generator.ready(),
    metrics: config.PG_METRICS_LISTEN ? undefined : metrics,
  });
  const edge = {
    limits: edgeLimitsFor(config),
    onOutcome: (o: string) => metrics.edgeClosed(o),
  };
  const metricsListener = config.PG_METRICS_LISTEN
    ? await startMetricsListener(config.PG_METRICS_LISTEN, metrics, edge, logger)
    : undefined;
  if (metricsListener) resources.defer(() => metricsListener.shutdown());
  resources.use(
    await startKeyRotation({
      ring,
      keysFile: config.PG_HPKE_KEYS_FILE,
      rotationSeconds: config.PG_KEY_ROTATION_SECONDS,
      nowSeconds,
      logger,
      // Token keys rotate on the same timer; the publisher re-signs when their public part changes.
      onCheck: tokens && (() => tokens.check().then(() => {})),
    }),
  );

  const listener = await listen(
    {
      hostname: config.PG_HOST,
      port: config.PG_PORT,
      tls: config.PG_TLS_CERT_FILE && config.PG_TLS_KEY_FILE
        ? {
          certFile: config.PG_TLS_CERT_FILE,
          keyFile: config.PG_TLS_KEY_FILE,
          reloadIntervalMs: deps.tlsReloadIntervalMs ?? TLS_RELOAD_MS,
        }
        : undefined,
      edge: edge.limits,
      // Behind the gateway's own TLS proxy its connections carry many networks: the proxy caps per client.
      exemptFromNetworkCap: trustedProxies ? (peer) => trustedProxies.has(peer) : undefined,
      onOutcome: edge.onOutcome,
    },
    (request, connection) => app.fetch(request, connection),
    logger,
  );
  resources.defer(async () => {
    // Stop accepting, let in-flight streams finish until the drain deadline, then cut them. Streams still
    // open are ended first, each with an encrypted `shutting_down` and its final chunk, LAST_EVENT_MS
    // before the edge closes the connections: an app sees why its answer stopped, never a bare cut.
    const drainMs = config.PG_DRAIN_SECONDS * 1000;
    const drained = listener.shutdown(drainMs);
    const deadline = setTimeout(
      () => shutdown.abort(),
      Math.max(0, drainMs - Math.min(LAST_EVENT_MS, drainMs / 2)),
    );
    await drained;
    clearTimeout(deadline);
    shutdown.abort();
  });
  const url = listener.url;
  logger.log("info", "gateway.listening", {
    url,
    profile: config.PG_PROFILE,
    fingerprint: identity.fingerprint,
    tick_ms: tickMs,
    // The young generation's cap from the launch flags (config/heap.ts) shows here: V8 gives no other view.
    heap_limit_mib: Math.round(getHeapStatistics().heap_size_limit / 1_048_576),
  });

  // Everything started: the running gateway owns the resources from here on.
  const owned = resources.move();
  const finished = (async () => {
    if (!signal.aborted) {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    }
    logger.log("info", "gateway.shutdown_started", {});
    await owned.disposeAsync();
    logger.log("info", "gateway.shutdown_complete", {});
  })();

  return {
    url,
    fingerprint: identity.fingerprint,
    keyRing: ring,
    supervisor: inference.supervisor,
    router: inference.router,
    finished,
  };
}

/** Starts the inference-node role: a supervised llama-server behind an mTLS listener. */
export function runNode(config: EnvConfig, deps: RunDeps, signal: AbortSignal): Promise<RunningNode> {
  return startNode(config, {
    logger: deps.logger ?? _defaultLogger(config),
    tlsReloadIntervalMs: deps.tlsReloadIntervalMs,
    timing: deps.timing,
  }, signal);
}

function _defaultLogger(config: EnvConfig): Logger {
  return createLogger(config.PG_LOG_LEVEL, (line) => console.error(line));
}

/**
 * The PG_* environment. Under the product's narrow `--allow-env=PG_*` Deno cannot list variables (and
 * /proc/self/environ needs --allow-all), so only the names the schema knows are read; typos are still
 * caught in PG_ENV_FILE, which is the recommended place for production settings (deploy/).
 */
function _gatewayEnvironment(): Record<string, string> {
  try {
    return Deno.env.toObject();
  } catch {
    const env: Record<string, string> = {};
    for (const name of Object.keys(ENV_SCHEMA.shape)) {
      try {
        const value = Deno.env.get(name);
        if (value !== undefined) env[name] = value;
      } catch { /* not permitted for this command */ }
    }
    return env;
  }
}

async function _readStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

/** CLI entry: returns the exit code. The commands live in cli/; the host gives them Deno's world. */
export function main(argv: string[]): Promise<number> {
  return dispatch(argv, {
    io: {
      write: (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text)),
      error: (text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
    },
    environment: _gatewayEnvironment,
    variable: (name) => {
      try {
        return Deno.env.get(name);
      } catch {
        return undefined;
      }
    },
    readStdin: _readStdin,
    readFile: (path) => Deno.readTextFileSync(path),
    onShutdownSignal: (handler) => {
      for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, handler);
    },
    now: () => Date.now() / 1000,
    run: (config, signal) => run(config, {}, signal),
    runNode: (config, signal) => runNode(config, {}, signal),
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
