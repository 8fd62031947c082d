/** The inference-node role: a supervised llama-server behind an mTLS listener, for a remote router. */
import { edgeLimitsFor, type EnvConfig } from "../config/mod.ts";
import {
  type NodeServer,
  startNodeServer,
  type Supervisor,
  type SupervisorTiming,
} from "../inference/mod.ts";
import { type Logger, NodeMetrics } from "../observability/mod.ts";
import { startMetricsListener } from "./metrics_listener.ts";
import { parseHostPort } from "./host_port.ts";
import { startLocalLlama } from "./inference.ts";

/**
 * Largest request body the node accepts from its router. The router already capped the encrypted request
 * (PG_MAX_BODY_BYTES, 16 MiB at most) and the rendered prompt is smaller than the messages it came from;
 * 4 MiB leaves room for token-id arrays, which are longer in JSON than the text they encode.
 */
export const NODE_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** How often the node's mTLS files are checked for renewal. */
export const NODE_TLS_RELOAD_MS = 5_000;

/** A running inference node. */
export interface RunningNode {
  url: string;
  supervisor: Supervisor;
  server: NodeServer;
  finished: Promise<void>;
}

/** What tests may change in the node role. */
export interface NodeDeps {
  logger: Logger;
  tlsReloadIntervalMs?: number;
  timing?: Partial<SupervisorTiming>;
}

/** Starts the node role; stops when `signal` aborts. */
export async function startNode(
  config: EnvConfig,
  deps: NodeDeps,
  signal: AbortSignal,
): Promise<RunningNode> {
  const { logger } = deps;
  if (!config.PG_MTLS_CA_FILE || !config.PG_MTLS_CERT_FILE || !config.PG_MTLS_KEY_FILE) {
    throw new Error(
      "Cannot start the node role: set PG_MTLS_CA_FILE, PG_MTLS_CERT_FILE and PG_MTLS_KEY_FILE",
    );
  }
  const { supervisor, socketPath } = await startLocalLlama(config, logger, deps.timing ?? {});
  // Day two: the node's own requests, streams and backend state (issue 12).
  const metrics = new NodeMetrics({
    supervisorRestarts: () => supervisor.restarts,
    supervisorState: () => supervisor.state,
    certificates: { mtls: config.PG_MTLS_CERT_FILE },
  });
  const metricsListener = config.PG_METRICS_LISTEN
    ? await startMetricsListener(config.PG_METRICS_LISTEN, metrics, {
      limits: edgeLimitsFor(config),
      onOutcome: () => {},
    }, logger)
    : undefined;
  const { hostname, port } = parseHostPort(config.PG_NODE_LISTEN);
  const server = await startNodeServer({
    host: hostname,
    port,
    caFile: config.PG_MTLS_CA_FILE,
    certFile: config.PG_MTLS_CERT_FILE,
    keyFile: config.PG_MTLS_KEY_FILE,
    allowedSubjects: config.PG_NODE_ALLOWED_SUBJECTS?.split(",").map((s) => s.trim()).filter(Boolean),
    socketPath,
    maxBodyBytes: NODE_MAX_BODY_BYTES,
    reloadIntervalMs: deps.tlsReloadIntervalMs ?? NODE_TLS_RELOAD_MS,
    observer: metrics,
  }, logger);
  const finished = (async () => {
    if (!signal.aborted) {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    }
    await server.close(config.PG_DRAIN_SECONDS * 1000);
    await supervisor.stop();
    await metricsListener?.shutdown();
  })();
  return { url: server.url, supervisor, server, finished };
}
