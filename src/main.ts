/**
 * The program's entry point and the only place that assembles it: parse the command line and the
 * configuration, build the parts (identity, keys, replay guard, inference, app), pass them in explicitly,
 * serve, and wire signals to an AbortController. `run()` is the seam tests use to start a whole gateway
 * in-process.
 */
import { dispatch } from "./cli/mod.ts";
import {
  ENV_SCHEMA,
  type EnvConfig,
  fileStamp,
  limitsFor,
  llamaGuard,
  loadHpkeKeysFile,
  loadIdentityFile,
  SETPRIV,
} from "./config/mod.ts";
import { createSuite, generateIdentity, type Identity, KeyRing, utf8 } from "./crypto/mod.ts";
import { createApp, KeyPublisher, listen } from "./http/mod.ts";
import {
  type Backend,
  ChatTemplateGenerator,
  DEFAULT_TIMING,
  EchoGenerator,
  generateTinyModel,
  type Generator,
  HarmonyGenerator,
  LlamaClient,
  type NodeServer,
  preparePrivateDir,
  probedBackend,
  Router,
  startNodeServer,
  Supervisor,
  type SupervisorTiming,
} from "./inference/mod.ts";
import { DEFAULT_POLICY } from "./harmony/mod.ts";
import {
  AbuseGuard,
  AdmissionQueue,
  KeyHasher,
  type LimitStore,
  MemoryStore,
  ProofOfWork,
  RedisStore,
} from "./limits/mod.ts";
import {
  createLogger,
  currentKeyAgeSeconds,
  installTracing,
  type Logger,
  Metrics,
  NodeMetrics,
  RequestIdHasher,
} from "./observability/mod.ts";
import { chatRequestSchema, ReplayGuard } from "./protocol/mod.ts";

/** Version printed by `--version`. */
export { VERSION } from "./cli/mod.ts";

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

/** Starts the gateway with a validated configuration; stops when `signal` aborts. */
export async function run(config: EnvConfig, deps: RunDeps, signal: AbortSignal): Promise<RunningGateway> {
  const logger = deps.logger ?? createLogger(config.PG_LOG_LEVEL, (line) => console.error(line));
  const nowSeconds = deps.nowSeconds ?? (() => Date.now() / 1000);
  const suite = createSuite();

  const identity = deps.identity ?? await _identity(config, logger);
  const rotation = config.PG_KEY_ROTATION_SECONDS;
  const keysFile = config.PG_HPKE_KEYS_FILE;
  const ring = keysFile
    ? KeyRing.fixed(await loadHpkeKeysFile(keysFile, suite))
    : await KeyRing.generate(suite, Math.floor(nowSeconds()), rotation);
  logger.log("info", "keys.loaded", { keys: ring.keys.length, fingerprint: identity.fingerprint });
  const publisher = new KeyPublisher(ring, identity, nowSeconds);

  const inference = deps.generator
    ? { generator: deps.generator, stop: () => Promise.resolve() }
    : await _inference(config, logger, deps.timing ?? {});
  const generator = inference.generator;
  const queue = new AdmissionQueue(config.PG_MAX_CONCURRENT_STREAMS, config.PG_QUEUE_SIZE);
  const shutdown = new AbortController();
  // Limits, the replay set and spent challenges share one store: Redis when configured.
  const store: LimitStore = config.PG_REDIS_URL
    ? await RedisStore.connect(config.PG_REDIS_URL)
    : new MemoryStore();
  const replay = new ReplayGuard(store, config.PG_REPLAY_WINDOW_SECONDS, Math.floor(nowSeconds()));
  // Keyed-hash and challenge secrets come from a deterministic identity signature, so every gateway
  // that shares the identity (and the Redis store) derives the same keys.
  const derived = await identity.sign(utf8("privacy-gateway limits secret v1"));
  const hasher = await KeyHasher.fromSecret(derived.slice(0, 32));
  const pow = await ProofOfWork.fromSecret(derived.slice(32, 64));
  derived.fill(0);
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
  const stopTracing = await installTracing(config.PG_OTLP_ENDPOINT);
  const schema = chatRequestSchema({
    maxMessages: config.PG_MAX_MESSAGES,
    maxMessageChars: config.PG_MAX_MESSAGE_CHARS,
    maxTotalChars: config.PG_MAX_TOTAL_CHARS,
    maxTools: 32,
    maxTokensCap: config.PG_MAX_TOKENS_CAP,
  });

  const app = createApp({
    chat: {
      suite,
      ring,
      replay,
      schema,
      generator,
      queue,
      guard,
      hasher,
      requestIds: new RequestIdHasher(),
      metrics,
      nowSeconds,
      queueWaitMs: config.PG_QUEUE_WAIT_SECONDS * 1000,
      behindProxy: config.PG_BEHIND_TLS_PROXY,
      requireDevice: limits.requireDevice,
      maxBodyBytes: config.PG_MAX_BODY_BYTES,
      tickMs: config.PG_STREAM_TICK_MS,
      chunkSize: config.PG_CHUNK_SIZE,
      requestTimeoutMs: config.PG_REQUEST_TIMEOUT_SECONDS * 1000,
      shutdown: shutdown.signal,
    },
    publisher,
    logger,
    ready: () => ring.keys.length > 0 && generator.ready(),
    metrics: config.PG_METRICS_LISTEN ? undefined : metrics,
  });
  const metricsListener = config.PG_METRICS_LISTEN
    ? await listen(
      _hostPort(config.PG_METRICS_LISTEN),
      async (request) =>
        new URL(request.url).pathname === "/metrics"
          ? new Response(await metrics.text(), { headers: { "content-type": metrics.contentType } })
          : new Response("Not found", { status: 404 }),
      logger,
    )
    : undefined;

  let keysStamp = keysFile ? await fileStamp([keysFile]) : "";
  const rotationTimer = setInterval(async () => {
    if (keysFile) {
      // A shared keys file is re-read when it changes; a broken file leaves the current keys in place.
      try {
        const stamp = await fileStamp([keysFile]);
        if (stamp !== keysStamp) {
          ring.replaceFixed(await loadHpkeKeysFile(keysFile, suite));
          keysStamp = stamp;
          logger.log("info", "keys.rotated", { keys: ring.keys.length });
        }
      } catch {
        logger.log("error", "keys.rotated", {
          problem: "keys file unreadable or invalid; keeping current keys",
        });
      }
    }
    if (await ring.rotateIfDue(suite, Math.floor(nowSeconds()), rotation)) {
      logger.log("info", "keys.rotated", { keys: ring.keys.length });
    }
  }, keysFile ? 10_000 : Math.min(rotation * 1000, 60_000) / 4);

  const listener = await listen(
    {
      hostname: config.PG_HOST,
      port: config.PG_PORT,
      tls: config.PG_TLS_CERT_FILE && config.PG_TLS_KEY_FILE
        ? {
          certFile: config.PG_TLS_CERT_FILE,
          keyFile: config.PG_TLS_KEY_FILE,
          reloadIntervalMs: deps.tlsReloadIntervalMs ?? 10_000,
        }
        : undefined,
    },
    (request, info) => app.fetch(request, { peer: info.remoteAddr.hostname }),
    logger,
  );
  const url = listener.url;
  logger.log("info", "gateway.listening", {
    url,
    profile: config.PG_PROFILE,
    fingerprint: identity.fingerprint,
  });

  const finished = (async () => {
    if (!signal.aborted) {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    }
    logger.log("info", "gateway.shutdown_started", {});
    clearInterval(rotationTimer);
    // Stop accepting, let in-flight streams finish until the drain deadline, then cut them.
    const drained = listener.shutdown();
    const deadline = setTimeout(() => shutdown.abort(), config.PG_DRAIN_SECONDS * 1000);
    await drained;
    clearTimeout(deadline);
    shutdown.abort();
    await inference.stop();
    await metricsListener?.shutdown();
    await stopTracing();
    await store.close();
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

async function _identity(config: EnvConfig, logger: Logger): Promise<Identity> {
  if (config.PG_IDENTITY_KEY_FILE) return await loadIdentityFile(config.PG_IDENTITY_KEY_FILE);
  if (config.PG_PROFILE === "production" || !config.PG_INSECURE_DEV_IDENTITY) {
    throw new Error("Cannot start: set PG_IDENTITY_KEY_FILE (create one with `privacy-gateway keys init`)");
  }
  const { identity } = await generateIdentity();
  logger.log("warn", "gateway.dev_identity", {
    fingerprint: identity.fingerprint,
    reason: "DEVELOPMENT: ephemeral identity key, apps cannot pin it across restarts",
  });
  return identity;
}

function _hostPort(value: string): { hostname: string; port: number } {
  const separator = value.lastIndexOf(":");
  return {
    hostname: value.slice(0, separator).replace(/^\[|\]$/g, ""),
    port: Number(value.slice(separator + 1)),
  };
}

/** Starts supervising the local llama-server (generating the demo model when none is configured). */
async function _localSupervisor(
  config: EnvConfig,
  logger: Logger,
  timing: Partial<SupervisorTiming>,
): Promise<{ supervisor: Supervisor; demo: boolean; socketPath: string }> {
  if (!config.PG_RUNTIME_DIR || !config.PG_LLAMA_SERVER_BIN) {
    throw new Error(
      "Cannot start llama-server: set PG_RUNTIME_DIR and PG_LLAMA_SERVER_BIN (deno task start sets both)",
    );
  }
  await preparePrivateDir(config.PG_RUNTIME_DIR);
  let model = config.PG_MODEL_PATH;
  let demo = false;
  if (!model) {
    model = `${config.PG_RUNTIME_DIR}/demo-model.gguf`;
    await Deno.writeFile(model, generateTinyModel(), { mode: 0o600 });
    demo = true;
    logger.log("warn", "gateway.demo_model", {
      reason: "DEMO MODEL: no PG_MODEL_PATH set, serving a generated tiny model that answers random text",
    });
  }
  const socketPath = `${config.PG_RUNTIME_DIR}/llama.sock`;
  const supervisor = new Supervisor(
    {
      binary: config.PG_LLAMA_SERVER_BIN,
      model,
      socketPath,
      contextSize: config.PG_LLAMA_CTX,
      threads: config.PG_LLAMA_THREADS,
      parallel: config.PG_LLAMA_PARALLEL,
      pdeathsigWrapper: llamaGuard(config) === "setpriv" ? SETPRIV : undefined,
    },
    { ...DEFAULT_TIMING, ...timing },
    logger,
  );
  supervisor.start();
  return { supervisor, demo, socketPath };
}

/** A running inference node (the `node` role). */
export interface RunningNode {
  url: string;
  supervisor: Supervisor;
  server: NodeServer;
  finished: Promise<void>;
}

/** Starts the inference-node role: a supervised llama-server behind an mTLS listener. */
export async function runNode(config: EnvConfig, deps: RunDeps, signal: AbortSignal): Promise<RunningNode> {
  const logger = deps.logger ?? createLogger(config.PG_LOG_LEVEL, (line) => console.error(line));
  if (!config.PG_MTLS_CA_FILE || !config.PG_MTLS_CERT_FILE || !config.PG_MTLS_KEY_FILE) {
    throw new Error(
      "Cannot start the node role: set PG_MTLS_CA_FILE, PG_MTLS_CERT_FILE and PG_MTLS_KEY_FILE",
    );
  }
  const { supervisor, socketPath } = await _localSupervisor(config, logger, deps.timing ?? {});
  const metrics = new NodeMetrics({
    supervisorRestarts: () => supervisor.restarts,
    supervisorState: () => supervisor.state,
    certificates: { mtls: config.PG_MTLS_CERT_FILE },
  });
  const metricsListener = config.PG_METRICS_LISTEN
    ? await listen(
      _hostPort(config.PG_METRICS_LISTEN),
      async (request) =>
        new URL(request.url).pathname === "/metrics"
          ? new Response(await metrics.text(), { headers: { "content-type": metrics.contentType } })
          : new Response("Not found", { status: 404 }),
      logger,
    )
    : undefined;
  const separator = config.PG_NODE_LISTEN.lastIndexOf(":");
  const server = await startNodeServer({
    host: config.PG_NODE_LISTEN.slice(0, separator).replace(/^\[|\]$/g, ""),
    port: Number(config.PG_NODE_LISTEN.slice(separator + 1)),
    caFile: config.PG_MTLS_CA_FILE,
    certFile: config.PG_MTLS_CERT_FILE,
    keyFile: config.PG_MTLS_KEY_FILE,
    allowedSubjects: config.PG_NODE_ALLOWED_SUBJECTS?.split(",").map((s) => s.trim()).filter(Boolean),
    socketPath,
    maxBodyBytes: 4 * 1024 * 1024,
    reloadIntervalMs: deps.tlsReloadIntervalMs ?? 5_000,
    observer: metrics,
  }, logger);
  const finished = (async () => {
    if (!signal.aborted) {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    }
    await server.close();
    await supervisor.stop();
    await metricsListener?.shutdown();
  })();
  return { url: server.url, supervisor, server, finished };
}

interface _Inference {
  generator: Generator;
  supervisor?: Supervisor;
  router?: Router;
  stop(): Promise<void>;
}

async function _inference(
  config: EnvConfig,
  logger: Logger,
  timing: Partial<SupervisorTiming>,
): Promise<_Inference> {
  if (config.PG_BACKEND === "echo") {
    logger.log("warn", "gateway.insecure_mode", { reason: "DEVELOPMENT: echo backend, no model" });
    return { generator: new EchoGenerator(), stop: () => Promise.resolve() };
  }
  const stopProbes = new AbortController();
  const backends: Backend[] = [];
  let supervisor: Supervisor | undefined;
  let demo = false;
  if (config.PG_LOCAL_LLAMA) {
    const local = await _localSupervisor(config, logger, timing);
    supervisor = local.supervisor;
    demo = local.demo;
    const running = local.supervisor;
    backends.push({ name: "local", client: running.client, healthy: () => running.state === "ready" });
  }
  if (config.PG_NODES) {
    for (const [i, url] of config.PG_NODES.split(",").map((u) => u.trim()).entries()) {
      const client = await LlamaClient.create(`node${i + 1}`, {
        kind: "mtls",
        url,
        caFile: config.PG_MTLS_CA_FILE!,
        certFile: config.PG_MTLS_CERT_FILE!,
        keyFile: config.PG_MTLS_KEY_FILE!,
      });
      // Probe every 2 s; 3 s without an answer marks a node unhealthy (a busy node answers within that).
      backends.push(probedBackend(client, 2000, 3000, stopProbes.signal));
    }
  }
  const router = new Router(backends, {
    failureThreshold: config.PG_CIRCUIT_FAILURES,
    openMs: config.PG_CIRCUIT_OPEN_SECONDS * 1000,
  }, logger);
  const deadlines = {
    connectMs: 5_000,
    firstTokenMs: config.PG_FIRST_TOKEN_TIMEOUT_SECONDS * 1000,
    idleMs: config.PG_IDLE_TIMEOUT_SECONDS * 1000,
  };
  const failoverOptions = {
    maxAttempts: Math.max(1, backends.length) + 1,
    readyWaitMs: Math.min(10_000, config.PG_FIRST_TOKEN_TIMEOUT_SECONDS * 1000),
  };
  const generator = config.PG_MODEL_FORMAT === "chat"
    ? new ChatTemplateGenerator(router, {
      ...failoverOptions,
      deadlines,
      allowReasoning: config.PG_ALLOW_REASONING,
      maxTokensCap: config.PG_MAX_TOKENS_CAP,
      defaultMaxTokens: 512,
    })
    : new HarmonyGenerator(router, {
      ...failoverOptions,
      policy: { ...DEFAULT_POLICY, defaultEffort: config.PG_REASONING_EFFORT },
      deadlines,
      allowReasoning: config.PG_ALLOW_REASONING,
      maxTokensCap: config.PG_MAX_TOKENS_CAP,
      prefillFinal: demo || config.PG_DEMO_MODEL,
      today: () => new Date().toISOString().slice(0, 10),
    });
  return {
    generator,
    supervisor,
    router,
    stop: async () => {
      stopProbes.abort();
      await supervisor?.stop();
      for (const b of backends) if (b.name !== "local") b.client.close();
    },
  };
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
