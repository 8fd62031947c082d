/**
 * The configuration's single source of truth: one strict zod schema over `PG_*` environment variables.
 * A `PG_*` variable the schema does not know is an error (a typo must not silently fall back to a
 * default). Production refuses unsafe combinations in {@link configSchema}'s refinements.
 */
import { z } from "zod";
import { TrustedProxies } from "../limits/mod.ts";

const _bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const _int = (min: number, max: number) =>
  z.string().regex(/^\d+$/, `expected an integer from ${min} to ${max}`).transform(Number).pipe(
    z.number().min(min, `expected an integer from ${min} to ${max}`).max(
      max,
      `expected an integer from ${min} to ${max}`,
    ),
  );
const _path = z.string().min(1, "expected a file path").regex(/^\//, "expected an absolute path");
const _host = z.string().regex(/^[A-Za-z0-9.:\-\[\]]+$/, "expected a host name or IP address");
const _hostPort = z.string().regex(/^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/, "expected host:port");

/** Environment variables and their rules; descriptions feed the README's configuration table. */
export const ENV_SCHEMA = z.strictObject({
  PG_PROFILE: z.enum(["development", "production"]).default("development").describe(
    "Profile: development or production",
  ),
  PG_ENV_FILE: _path.optional().describe("Optional env file (KEY=VALUE lines) read before the environment"),
  PG_HOST: _host.default("127.0.0.1").describe("Listen address"),
  PG_PORT: _int(0, 65535).default(8000).describe("Listen port (0 picks a free port)"),
  PG_BEHIND_TLS_PROXY: _bool.default(false).describe("Plain HTTP is served to a TLS-terminating proxy"),
  PG_TRUSTED_PROXIES: z.string().regex(/^[0-9A-Fa-f:.\/, \[\]]+$/, "expected IP addresses or CIDRs")
    .optional()
    .describe("Proxies whose X-Forwarded-For is believed (comma-separated IPs/CIDRs; default loopback)"),
  PG_TLS_CERT_FILE: _path.optional().describe(
    "PEM certificate chain; the gateway serves HTTPS and reloads it on change",
  ),
  PG_TLS_KEY_FILE: _path.optional().describe("PEM private key for PG_TLS_CERT_FILE"),
  PG_IDENTITY_KEY_FILE: _path.optional().describe(
    "Ed25519 identity key file from `keys init` (required in production)",
  ),
  PG_HPKE_KEYS_FILE: _path.optional().describe(
    "Shared HPKE keys file (several instances; needs PG_REDIS_URL); otherwise keys live in memory",
  ),
  PG_KEY_ROTATION_SECONDS: _int(60, 31_536_000).default(86_400).describe(
    "In-memory HPKE key rotation interval",
  ),
  PG_REPLAY_WINDOW_SECONDS: _int(5, 600).default(60).describe("Accepted request clock skew (± seconds)"),
  PG_MAX_BODY_BYTES: _int(1024, 16_777_216).default(262_144).describe("Largest encapsulated request"),
  PG_STREAM_TICK_MS: _int(0, 1000).default(50).describe(
    "Shortest coalescing tick for streamed deltas (the `tick_ms` logged at start is the one used)",
  ),
  PG_STREAM_CHUNKS_PER_SECOND: _int(0, 1_000_000).default(320).describe(
    "Chunks/s all streams may cost at PG_MAX_CONCURRENT_STREAMS: a longer tick if needed (0: never)",
  ),
  PG_STREAM_TICK_MAX_MS: _int(0, 1000).default(250).describe("Longest the tick is lengthened to"),
  PG_CHUNK_SIZE: _int(128, 16_384).default(512).describe("Padded plaintext size of every response chunk"),
  PG_BACKEND: z.enum(["llama", "echo"]).default("llama").describe("`llama`, or `echo` (development only)"),
  PG_MODEL_FORMAT: z.enum(["harmony", "chat"]).default("harmony").describe(
    "`harmony` (gpt-oss) or `chat` (llama-server's template)",
  ),
  PG_LLAMA_SERVER_BIN: _path.optional().describe("llama-server binary (development: the cached build)"),
  PG_MODEL_PATH: _path.optional().describe("GGUF model (development: a generated demo model)"),
  PG_RUNTIME_DIR: _path.optional().describe("Private directory for the llama-server socket (mode 0700)"),
  PG_LLAMA_CTX: _int(256, 1_048_576).default(4096).describe("llama-server context size (-c)"),
  PG_LLAMA_THREADS: _int(1, 512).default(2).describe("llama-server threads (-t)"),
  PG_LLAMA_PARALLEL: _int(1, 256).default(2).describe("llama-server parallel slots (-np)"),
  PG_LLAMA_GUARD: z.enum(["setpriv", "none"]).optional().describe(
    "`setpriv`: llama-server dies with the gateway (`setpriv --pdeathsig KILL`; development default); " +
      "`none`: systemd's control group stops it (production default: setpriv can run any program)",
  ),
  PG_LOCAL_LLAMA: _bool.default(true).describe("Supervise a local llama-server on a UNIX socket"),
  PG_NODES: z.string().optional().describe("Comma-separated https:// URLs of inference nodes (mTLS)"),
  PG_MTLS_CA_FILE: _path.optional().describe("CA that issued node and router certificates"),
  PG_MTLS_CERT_FILE: _path.optional().describe("This process's mTLS certificate"),
  PG_MTLS_KEY_FILE: _path.optional().describe("This process's mTLS private key"),
  PG_NODE_LISTEN: _hostPort.default("127.0.0.1:9443").describe("Node role: mTLS listen address"),
  PG_NODE_ALLOWED_SUBJECTS: z.string().optional().describe(
    "Node role: comma-separated allowed client certificate CNs",
  ),
  PG_CIRCUIT_FAILURES: _int(1, 100).default(3).describe("Consecutive failures that open a backend's circuit"),
  PG_CIRCUIT_OPEN_SECONDS: _int(1, 3600).default(10).describe(
    "How long a failing backend's circuit stays open",
  ),
  PG_DEMO_MODEL: _bool.default(false).describe(
    "Backends serve the generated demo model (set on a router whose nodes do)",
  ),
  PG_REASONING_EFFORT: z.enum(["low", "medium", "high"]).default("low").describe("Default reasoning effort"),
  PG_ALLOW_REASONING: _bool.default(false).describe("Let requests ask for the analysis channel"),
  PG_MAX_MESSAGES: _int(1, 1000).default(64).describe("Most messages per request"),
  PG_MAX_MESSAGE_CHARS: _int(1, 1_000_000).default(32_000).describe("Longest message"),
  PG_MAX_TOTAL_CHARS: _int(1, 4_000_000).default(100_000).describe("Longest conversation"),
  PG_MAX_TOKENS_CAP: _int(1, 131_072).default(4096).describe("Largest max_tokens a request may ask"),
  PG_MAX_CONCURRENT_STREAMS: _int(1, 10_000).default(32).describe("Concurrent chat streams (global)"),
  PG_REQUEST_TIMEOUT_SECONDS: _int(1, 3600).default(300).describe("Total deadline of one chat request"),
  PG_FIRST_TOKEN_TIMEOUT_SECONDS: _int(1, 3600).default(60).describe("Deadline for the first token"),
  PG_IDLE_TIMEOUT_SECONDS: _int(1, 3600).default(30).describe("Deadline between two tokens"),
  PG_DRAIN_SECONDS: _int(0, 3600).default(30).describe("Grace period for in-flight streams on shutdown"),
  PG_HEAD_TIMEOUT_SECONDS: _int(1, 600).default(10).describe(
    "Edge: deadline for a connection's request head, TLS handshake included",
  ),
  PG_BODY_TIMEOUT_SECONDS: _int(1, 3600).default(30).describe("Edge: deadline for a whole request body"),
  PG_BODY_MIN_BYTES_PER_SECOND: _int(1, 1_000_000_000).default(2048).describe(
    "Edge: slowest average body rate accepted (after a 2 s grace)",
  ),
  PG_STALL_TIMEOUT_SECONDS: _int(1, 3600).default(15).describe(
    "A client that reads nothing of its answer this long loses its stream and connection",
  ),
  PG_MAX_CONNECTIONS: _int(1, 1_000_000).default(512).describe("Edge: open client connections (global)"),
  PG_MAX_CONNECTIONS_PER_NETWORK: _int(1, 1_000_000).default(32).describe(
    "Edge: open connections per network (IPv4 address, IPv6 /64)",
  ),
  PG_NETWORK_STREAM_SHARE_PERCENT: _int(1, 100).default(25).describe(
    "Most of the stream slots and of the queue one network may hold (%)",
  ),
  // 200 × X-Wing's 1.2 ms decapsulation (docs/benchmarks.md) is a quarter of one core at most.
  PG_DECAPSULATIONS_PER_SECOND: _int(1, 1_000_000).default(200).describe(
    "Global budget of HPKE decapsulations per second (each costs an X25519)",
  ),
  PG_DECAPSULATION_RESERVED_PERCENT: _int(0, 90).default(25).describe(
    "Share of that budget kept for networks whose requests decrypted recently (%)",
  ),
  PG_QUEUE_SIZE: _int(0, 100_000).default(64).describe("Requests that may wait for a stream slot"),
  PG_QUEUE_WAIT_SECONDS: _int(0, 600).default(10).describe("How long a request may wait for a slot"),
  PG_REDIS_URL: z.string().regex(/^rediss?:\/\/[^\s]+$/, "expected redis://host:port").optional().describe(
    "Share limits, replay set and spent challenges in Redis",
  ),
  PG_REDIS_LIMITS_ON_FAILURE: z.enum(["fallback", "closed"]).default("fallback").describe(
    "Redis outage: limits fall back to memory, or refuse (replays always refuse)",
  ),
  PG_REQUIRE_DEVICE: _bool.optional().describe(
    "Require a device proof (default: production yes, development no)",
  ),
  PG_AUTH: z.enum(["token", "device"]).default("token").describe(
    "`token` (unlinkable Privacy Pass tokens) or `device` (a device key in every request: linkable)",
  ),
  PG_TOKEN_KEYS_FILE: _path.optional().describe(
    "Token issuer keys file (0600, made if missing; sharing needs PG_REDIS_URL); else in memory",
  ),
  PG_TOKEN_KEY_LIFETIME_SECONDS: _int(3600, 31_536_000).default(604_800).describe(
    "How long one token issuer key is redeemable (default 7 days)",
  ),
  PG_TOKEN_KEY_OVERLAP_SECONDS: _int(600, 15_768_000).default(86_400).describe(
    "End of a token key's life in which it only redeems while the next one issues (default 1 day)",
  ),
  PG_TOKENS_PER_DEVICE_PER_DAY: _int(1, 1_000_000).default(200).describe(
    "Tokens one device may obtain per day (default 200)",
  ),
  PG_TOKEN_BATCH_SIZE: _int(1, 100).default(20).describe(
    "Most tokens one issuance request may ask for (default 20)",
  ),
  PG_IP_RATE_PER_MINUTE: _int(1, 1_000_000).optional().describe(
    "Requests per network per minute (dev 600, prod 120)",
  ),
  PG_IP_BURST: _int(1, 100_000).optional().describe("Burst per network (dev 100, prod 30)"),
  PG_DEVICE_RATE_PER_MINUTE: _int(1, 1_000_000).optional().describe(
    "Requests per device per minute (dev 120, prod 20)",
  ),
  PG_DEVICE_BURST: _int(1, 100_000).optional().describe("Burst per device (dev 30, prod 5)"),
  PG_DEVICE_CONCURRENCY: _int(1, 1000).optional().describe("Concurrent streams per device (dev 4, prod 2)"),
  PG_NEW_DEVICES_PER_NETWORK_PER_HOUR: _int(1, 1_000_000).optional().describe(
    "New device keys per network per hour (dev 100, prod 10)",
  ),
  PG_ERROR_BUDGET_PER_MINUTE: _int(1, 100_000).optional().describe(
    "Failed envelopes per network per minute (dev 60, prod 20)",
  ),
  PG_ERROR_BURST: _int(1, 10_000).optional().describe(
    "Burst of failed envelopes per network (dev 30, prod 10)",
  ),
  PG_POW_FOR_NEW_DEVICES: _bool.optional().describe("Challenge devices never seen before (dev no, prod yes)"),
  PG_POW_LOAD_PERCENT: _int(1, 1000).optional().describe(
    "Load (streams+queue / capacity, %) above which every request is challenged (dev 90, prod 80)",
  ),
  PG_POW_BASE_BITS: _int(1, 30).optional().describe(
    "Proof-of-work difficulty in leading zero bits (dev 8, prod 12)",
  ),
  PG_POW_MAX_BITS: _int(1, 30).optional().describe("Highest difficulty under load (dev 16, prod 20)"),
  PG_METRICS_LISTEN: _hostPort.optional().describe("Serve /metrics on this address instead of the main one"),
  PG_OTLP_ENDPOINT: z.string().regex(/^https?:\/\/[^\s]+$/, "expected an http(s) URL").optional().describe(
    "Export OpenTelemetry spans (OTLP/HTTP) to this URL",
  ),
  PG_LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info").describe("Log level"),
  PG_INSECURE_DEV_IDENTITY: _bool.default(true).describe(
    "Development: generate an ephemeral identity if none is set",
  ),
});

/** Raw environment, validated. */
export type EnvConfig = z.output<typeof ENV_SCHEMA>;

const _LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/** Whether a listen host is reachable only from this machine. */
export function isLoopbackHost(host: string): boolean {
  return _LOOPBACK.test(host);
}

/** Cross-field rules, including the production safety checks, for both roles. */
function _rules(c: EnvConfig, ctx: z.RefinementCtx): void {
  const problem = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  if (Boolean(c.PG_TLS_CERT_FILE) !== Boolean(c.PG_TLS_KEY_FILE)) {
    problem(
      c.PG_TLS_CERT_FILE ? "PG_TLS_KEY_FILE" : "PG_TLS_CERT_FILE",
      "set both PG_TLS_CERT_FILE and PG_TLS_KEY_FILE",
    );
  }
  const mtls = [c.PG_MTLS_CA_FILE, c.PG_MTLS_CERT_FILE, c.PG_MTLS_KEY_FILE].filter(Boolean).length;
  if (c.PG_NODES && mtls !== 3) {
    problem("PG_NODES", "remote nodes need PG_MTLS_CA_FILE, PG_MTLS_CERT_FILE and PG_MTLS_KEY_FILE");
  }
  if (c.PG_NODES) {
    for (const url of c.PG_NODES.split(",")) {
      if (!/^https:\/\/[A-Za-z0-9.\-]+(:\d+)?\/?$/.test(url.trim())) {
        problem("PG_NODES", "expected https://host:port URLs");
      }
    }
  }
  if (c.PG_TRUSTED_PROXIES) {
    try {
      TrustedProxies.parse(c.PG_TRUSTED_PROXIES);
    } catch (error) {
      problem("PG_TRUSTED_PROXIES", (error as Error).message);
    }
  }
  if (c.PG_HPKE_KEYS_FILE && !c.PG_REDIS_URL) {
    // Review item 1: instances sharing keys without a shared seen-set each accept the same request.
    problem(
      "PG_HPKE_KEYS_FILE",
      "a shared keys file needs a shared replay store: set PG_REDIS_URL (one instance needs no keys file)",
    );
  }
  if (c.PG_TOKEN_KEYS_FILE && !c.PG_REDIS_URL) {
    // Instances sharing issuer keys without a shared spent set would each accept the same token.
    problem("PG_TOKEN_KEYS_FILE", "a shared token keys file needs a shared spent set: set PG_REDIS_URL");
  }
  if (c.PG_TOKEN_KEY_LIFETIME_SECONDS <= 2 * c.PG_TOKEN_KEY_OVERLAP_SECONDS) {
    problem("PG_TOKEN_KEY_OVERLAP_SECONDS", "the token key lifetime must exceed twice the overlap");
  }
  if (c.PG_NODES && c.PG_MODEL_FORMAT === "chat") {
    // Issue 12, finding 13: nodes forward only /completion, /tokenize and /health (node_server.ts); the
    // chat-template path needs /v1/chat/completions.
    problem(
      "PG_MODEL_FORMAT",
      "inference nodes (PG_NODES) serve the harmony format only: remove PG_MODEL_FORMAT=chat",
    );
  }
  if (!c.PG_LOCAL_LLAMA && !c.PG_NODES && c.PG_BACKEND === "llama") {
    problem("PG_LOCAL_LLAMA", "enable the local llama-server or set PG_NODES");
  }
  if (c.PG_PROFILE !== "production") return;
  if (!isLoopbackHost(c.PG_HOST) && !c.PG_TLS_CERT_FILE && !c.PG_BEHIND_TLS_PROXY) {
    problem(
      "PG_HOST",
      "production refuses plain HTTP on a public address: set PG_TLS_CERT_FILE or PG_BEHIND_TLS_PROXY=true",
    );
  }
  if (c.PG_BEHIND_TLS_PROXY && !isLoopbackHost(c.PG_HOST) && !c.PG_TRUSTED_PROXIES) {
    // Review item 5: on a public address, anyone could otherwise claim to be the proxy.
    problem(
      "PG_TRUSTED_PROXIES",
      "production behind a proxy on a public address needs the proxy's addresses in PG_TRUSTED_PROXIES",
    );
  }
  if (c.PG_BACKEND === "echo") problem("PG_BACKEND", "the echo backend is for development only");
  if (c.PG_STREAM_TICK_MS === 0) {
    problem("PG_STREAM_TICK_MS", "production coalesces: a tick of 0 sends every token as its own chunk");
  }
  if (!c.PG_RUNTIME_DIR) {
    problem("PG_RUNTIME_DIR", "production needs a runtime directory (systemd RuntimeDirectory)");
  }
  if (c.PG_DEMO_MODEL) problem("PG_DEMO_MODEL", "the demo model is for development only");
  if (c.PG_LOCAL_LLAMA && c.PG_BACKEND === "llama") {
    if (!c.PG_MODEL_PATH) problem("PG_MODEL_PATH", "production needs a real model (GGUF path)");
    if (!c.PG_LLAMA_SERVER_BIN) {
      problem("PG_LLAMA_SERVER_BIN", "production needs the llama-server binary path");
    }
  }
}

/**
 * The gateway's schema: the shared rules, and production needs the identity the app pins and, in token
 * mode (the default), issuer keys that outlive the process (nodes authorise nothing: not theirs).
 */
export const configSchema = ENV_SCHEMA.superRefine(_rules).superRefine((c, ctx) => {
  if (c.PG_PROFILE !== "production") return;
  if (!c.PG_IDENTITY_KEY_FILE) {
    ctx.addIssue({
      code: "custom",
      path: ["PG_IDENTITY_KEY_FILE"],
      message: "production needs an identity key file (privacy-gateway keys init)",
    });
  }
  if (c.PG_AUTH === "token" && !c.PG_TOKEN_KEYS_FILE) {
    // In-memory issuer keys die with the process: every token in every wallet would stop working.
    ctx.addIssue({
      code: "custom",
      path: ["PG_TOKEN_KEYS_FILE"],
      message:
        "production token mode needs an issuer keys file (and PG_REDIS_URL for the spent set), or PG_AUTH=device",
    });
  }
});

/** The inference node's schema: it signs nothing, so it needs no identity key (issue 12, finding 1). */
export const nodeConfigSchema = ENV_SCHEMA.superRefine(_rules);
