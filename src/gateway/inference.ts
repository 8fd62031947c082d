/**
 * Builds the inference side: the echo generator (development), or a router over a supervised local
 * llama-server and remote mTLS nodes, wrapped in the Harmony or chat-template generator.
 */
import { type EnvConfig, llamaGuard, SETPRIV } from "../config/mod.ts";
import { DEFAULT_POLICY } from "../harmony/mod.ts";
import {
  type Backend,
  ChatTemplateGenerator,
  DEFAULT_TIMING,
  demoModelFile,
  EchoGenerator,
  type Generator,
  HarmonyGenerator,
  LlamaClient,
  preparePrivateDir,
  probedBackend,
  Router,
  Supervisor,
  type SupervisorTiming,
} from "../inference/mod.ts";
import type { Logger } from "../observability/mod.ts";

/** How often a remote node is probed: often enough that a dead node leaves rotation within seconds. */
export const NODE_PROBE_INTERVAL_MS = 2_000;
/** A probe unanswered this long marks a node unhealthy; a busy node still answers /health within it. */
export const NODE_PROBE_TIMEOUT_MS = 3_000;
/** Connecting to a backend (socket or mTLS handshake) takes milliseconds; five seconds means it is gone. */
export const BACKEND_CONNECT_TIMEOUT_MS = 5_000;
/** Longest wait for some backend to become ready, capped by the first-token deadline. */
export const BACKEND_READY_WAIT_MS = 10_000;
/** max_tokens for chat-template requests that do not ask: a full answer, well under the default cap. */
export const DEFAULT_MAX_TOKENS = 512;

/** A supervised local llama-server. */
export interface LocalLlama {
  supervisor: Supervisor;
  /** Whether it serves the generated demo model. */
  demo: boolean;
  socketPath: string;
}

/** Starts supervising the local llama-server (generating the demo model when none is configured). */
export async function startLocalLlama(
  config: EnvConfig,
  logger: Logger,
  timing: Partial<SupervisorTiming>,
): Promise<LocalLlama> {
  if (!config.PG_RUNTIME_DIR || !config.PG_LLAMA_SERVER_BIN) {
    throw new Error(
      "Cannot start llama-server: set PG_RUNTIME_DIR and PG_LLAMA_SERVER_BIN (deno task start sets both)",
    );
  }
  await preparePrivateDir(config.PG_RUNTIME_DIR);
  let model = config.PG_MODEL_PATH;
  let demo = false;
  if (!model) {
    const started = performance.now();
    const file = await demoModelFile(config.PG_RUNTIME_DIR);
    model = file.path;
    demo = true;
    logger.log("warn", "gateway.demo_model", {
      reason: "DEMO MODEL: no PG_MODEL_PATH set, serving a generated tiny gpt-oss model (real vocabulary, " +
        `random weights) that answers random text${file.generated ? " (generated now)" : ""}`,
      duration_ms: Math.round(performance.now() - started),
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

/** The inference side of a gateway. */
export interface Inference {
  generator: Generator;
  supervisor?: Supervisor;
  router?: Router;
  stop(): Promise<void>;
}

/** Builds the generator the configuration asks for. */
export async function buildInference(
  config: EnvConfig,
  logger: Logger,
  timing: Partial<SupervisorTiming>,
): Promise<Inference> {
  if (config.PG_BACKEND === "echo") {
    logger.log("warn", "gateway.insecure_mode", { reason: "DEVELOPMENT: echo backend, no model" });
    return { generator: new EchoGenerator(), stop: () => Promise.resolve() };
  }
  // A failure part-way (an unreadable mTLS file for the second node) stops what already started.
  await using started = new AsyncDisposableStack();
  const stopProbes = new AbortController();
  started.defer(() => stopProbes.abort());
  const backends: Backend[] = [];
  let supervisor: Supervisor | undefined;
  let demo = false;
  if (config.PG_LOCAL_LLAMA) {
    const local = await startLocalLlama(config, logger, timing);
    started.defer(() => local.supervisor.stop());
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
      started.defer(() => client.close());
      backends.push(probedBackend(client, NODE_PROBE_INTERVAL_MS, NODE_PROBE_TIMEOUT_MS, stopProbes.signal));
    }
  }
  // Unwinding runs in reverse: probes stop first, then node clients close, then llama-server stops.
  started.defer(() => stopProbes.abort());
  const router = new Router(backends, {
    failureThreshold: config.PG_CIRCUIT_FAILURES,
    openMs: config.PG_CIRCUIT_OPEN_SECONDS * 1000,
  }, logger);
  const deadlines = {
    connectMs: BACKEND_CONNECT_TIMEOUT_MS,
    firstTokenMs: config.PG_FIRST_TOKEN_TIMEOUT_SECONDS * 1000,
    idleMs: config.PG_IDLE_TIMEOUT_SECONDS * 1000,
  };
  const failoverOptions = {
    // Every backend once, plus one retry of the first after its circuit settles.
    maxAttempts: Math.max(1, backends.length) + 1,
    readyWaitMs: Math.min(BACKEND_READY_WAIT_MS, config.PG_FIRST_TOKEN_TIMEOUT_SECONDS * 1000),
  };
  const generator = config.PG_MODEL_FORMAT === "chat"
    ? new ChatTemplateGenerator(router, {
      ...failoverOptions,
      deadlines,
      allowReasoning: config.PG_ALLOW_REASONING,
      maxTokensCap: config.PG_MAX_TOKENS_CAP,
      defaultMaxTokens: DEFAULT_MAX_TOKENS,
    })
    : new HarmonyGenerator(router, {
      ...failoverOptions,
      policy: { ...DEFAULT_POLICY, defaultEffort: config.PG_REASONING_EFFORT },
      deadlines,
      allowReasoning: config.PG_ALLOW_REASONING,
      maxTokensCap: config.PG_MAX_TOKENS_CAP,
      prefillFinal: demo || config.PG_DEMO_MODEL,
      contextTokens: Math.floor(config.PG_LLAMA_CTX / config.PG_LLAMA_PARALLEL),
      logger,
      today: () => new Date().toISOString().slice(0, 10),
    });
  if (generator instanceof HarmonyGenerator) {
    // Special ids and the tokenizer check run while no request waits, for each backend once it is up.
    for (const backend of backends) {
      _whenHealthy(backend, stopProbes.signal).then(() => generator.warm(backend.client));
    }
  }
  const owned = started.move();
  return { generator, supervisor, router, stop: () => owned.disposeAsync() };
}

/** Resolves when `backend` is first healthy (checked every 250 ms); never, if `signal` aborts first. */
function _whenHealthy(backend: Backend, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (signal.aborted) return;
      if (backend.healthy()) return resolve();
      setTimeout(check, 250);
    };
    check();
  });
}
