/**
 * The one place that decides the Deno permissions of the product. `deno task start` (scripts/launch.ts),
 * the tests (tests/helpers/gateway_process.ts) and `deno compile` (scripts/compile.sh, via
 * `deno run scripts/permissions.ts`) all take their flags from here, so the test suite proves the product
 * runs under exactly these grants: never every permission, no FFI, no unscoped grant.
 */

/** Everything a role may touch. Paths are absolute. */
export interface PermissionScope {
  role: "gateway" | "node";
  /** host:port pairs the process listens on (gateway, metrics, node mTLS). */
  listen: string[];
  /** host:port of remote inference nodes the gateway connects to. */
  nodes: string[];
  /** Private runtime directory: llama-server socket and the demo model; the only writable place. */
  runtimeDir: string;
  /** llama-server binary (runs it) and its directory (reads its shared libraries' paths). */
  llamaServerBin?: string;
  /** Files read at start-up: model, identity, TLS/mTLS certificates and keys, env file. */
  readFiles: string[];
  /** Redis host:port when limits and replay state are shared. */
  redis?: string;
  /** OTLP collector host:port when traces are exported. */
  otlp?: string;
  /** Whether llama-server runs under setpriv --pdeathsig. */
  setpriv: boolean;
}

/** Deno flags for a scope. */
export function permissionFlags(scope: PermissionScope): string[] {
  const socket = `${scope.runtimeDir}/llama.sock`;
  const net = [
    ...scope.listen,
    ...scope.nodes,
    ...(scope.redis ? [scope.redis] : []),
    ...(scope.otlp ? [scope.otlp] : []),
    `unix:${socket}`,
    // The edge relays client connections to the application's server on these sockets (src/http/listener.ts).
    ...(scope.role === "gateway" ? [`unix:${scope.runtimeDir}/gateway.sock`] : []),
    ...(scope.role === "gateway" && scope.listen.length > 1 ? [`unix:${scope.runtimeDir}/metrics.sock`] : []),
  ];
  const read = [scope.runtimeDir, ...scope.readFiles];
  const run = [
    ...(scope.llamaServerBin ? [scope.llamaServerBin] : []),
    ...(scope.setpriv ? ["/usr/bin/setpriv"] : []),
  ];
  return [
    "--no-prompt",
    // Certificate renewal hands the port to a new listener with SO_REUSEPORT (src/http/listener.ts).
    "--unstable-net",
    `--allow-net=${net.join(",")}`,
    `--allow-read=${read.join(",")}`,
    `--allow-write=${scope.runtimeDir}`,
    ...(run.length > 0 ? [`--allow-run=${run.join(",")}`] : []),
    // The OpenTelemetry exporter reads its standard OTEL_* variables.
    scope.otlp ? "--allow-env=PG_*,OTEL_*" : "--allow-env=PG_*",
    // Deno.uid(): the runtime directory must belong to this user.
    "--allow-sys=uid",
  ];
}

/** Builds the scope from PG_* settings (the same variables the gateway reads). */
export function scopeFromEnv(
  role: "gateway" | "node",
  env: Record<string, string | undefined>,
): PermissionScope {
  const hostPort = (host: string | undefined, port: string | undefined, fallback: string) =>
    host || port ? `${_bracket(host ?? "127.0.0.1")}:${port ?? "8000"}` : fallback;
  const listen = role === "gateway"
    ? [hostPort(env.PG_HOST, env.PG_PORT, "127.0.0.1:8000")]
    : [env.PG_NODE_LISTEN ?? "127.0.0.1:9443"];
  if (env.PG_METRICS_LISTEN) listen.push(env.PG_METRICS_LISTEN);
  const nodes = (env.PG_NODES ?? "").split(",").map((u) => u.trim()).filter(Boolean).map((u) => {
    const url = new URL(u);
    return `${url.hostname}:${url.port || "443"}`;
  });
  const files = [
    env.PG_MODEL_PATH,
    env.PG_IDENTITY_KEY_FILE,
    env.PG_HPKE_KEYS_FILE,
    env.PG_TLS_CERT_FILE,
    env.PG_TLS_KEY_FILE,
    env.PG_MTLS_CA_FILE,
    env.PG_MTLS_CERT_FILE,
    env.PG_MTLS_KEY_FILE,
    env.PG_ENV_FILE,
  ].filter((f): f is string => Boolean(f));
  const redis = env.PG_REDIS_URL
    ? (() => {
      const url = new URL(env.PG_REDIS_URL);
      return `${url.hostname}:${url.port || "6379"}`;
    })()
    : undefined;
  const otlp = env.PG_OTLP_ENDPOINT
    ? (() => {
      const url = new URL(env.PG_OTLP_ENDPOINT);
      return `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
    })()
    : undefined;
  return {
    role,
    listen,
    otlp,
    nodes,
    runtimeDir: env.PG_RUNTIME_DIR ?? "/run/privacy-gateway",
    llamaServerBin: env.PG_LOCAL_LLAMA === "false" ? undefined : env.PG_LLAMA_SERVER_BIN,
    readFiles: files,
    redis,
    setpriv: env.PG_LLAMA_GUARD !== "none" && env.PG_LOCAL_LLAMA !== "false",
  };
}

function _bracket(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

// `deno run scripts/permissions.ts gateway|node` prints the flags for the current environment (compile.sh).
if (import.meta.main) {
  const role = Deno.args[0] === "node" ? "node" : "gateway";
  console.log(permissionFlags(scopeFromEnv(role, Deno.env.toObject())).join("\n"));
}
