/**
 * The only logger. Its field type is closed (no index signature) and the runtime copies only allow-listed
 * keys with allowed value types, so a body, header, prompt, answer or IP address cannot reach a log line
 * even through a cast. Lines are JSON on stderr.
 */

/** Every message the gateway may log. A closed list: adding one is a reviewed change. */
export type LogEvent =
  | "gateway.listening"
  | "gateway.config_invalid"
  | "gateway.shutdown_started"
  | "gateway.shutdown_complete"
  | "gateway.dev_identity"
  | "gateway.demo_model"
  | "gateway.insecure_mode"
  | "keys.loaded"
  | "keys.rotated"
  | "keys.reload_failed"
  | "token_keys.rotated"
  | "token_keys.reload_failed"
  | "store.eviction_unchecked"
  | "tls.reloaded"
  | "tls.reload_failed"
  | "request.finished"
  | "supervisor.starting"
  | "supervisor.ready"
  | "supervisor.exited"
  | "supervisor.restart_scheduled"
  | "supervisor.gave_up"
  | "supervisor.stopping"
  | "supervisor.stopped"
  | "supervisor.unhealthy"
  | "backend.circuit_opened"
  | "backend.circuit_closed"
  | "inference.tokenizer_local"
  | "inference.tokenizer_fallback"
  | "node.listening"
  | "node.client_refused";

/** The fields a log line may carry; nothing else exists. */
export interface LogFields {
  route?: "chat" | "pubkey" | "ohttp_keys" | "tokens" | "health" | "ready" | "metrics" | "other";
  outcome?: string;
  code?: string;
  status?: number;
  duration_ms?: number;
  backend?: string;
  pid?: number;
  exit_code?: number;
  attempt?: number;
  delay_ms?: number;
  key_id?: number;
  keys?: number;
  fingerprint?: string;
  url?: string;
  profile?: string;
  /** The coalescing tick the configuration gives (streamTickMs). */
  tick_ms?: number;
  /** V8's heap limit, which moves with the young generation's cap the launch flags set (config/heap.ts). */
  heap_limit_mib?: number;
  problem?: string;
  reason?: string;
}

const _ALLOWED: Record<keyof LogFields, "string" | "number"> = {
  route: "string",
  outcome: "string",
  code: "string",
  status: "number",
  duration_ms: "number",
  backend: "string",
  pid: "number",
  exit_code: "number",
  attempt: "number",
  delay_ms: "number",
  key_id: "number",
  keys: "number",
  fingerprint: "string",
  url: "string",
  profile: "string",
  tick_ms: "number",
  heap_limit_mib: "number",
  problem: "string",
  reason: "string",
};

/** Strings are bounded so that nothing large (a body) could ride along even in an allowed field. */
const _MAX_STRING = 200;

/** Severity levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const _RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Structured logger with a closed vocabulary. */
export interface Logger {
  log(level: LogLevel, event: LogEvent, fields?: LogFields): void;
}

/** Builds the JSON line for an event, keeping only allow-listed fields. Exported for tests. */
export function formatLogLine(level: LogLevel, event: LogEvent, fields: LogFields, time: Date): string {
  const line: Record<string, string | number> = { time: time.toISOString(), level, event };
  for (const [key, value] of Object.entries(fields)) {
    const kind = _ALLOWED[key as keyof LogFields];
    if (kind === undefined || typeof value !== kind) continue;
    line[key] = typeof value === "string" ? value.slice(0, _MAX_STRING) : value;
  }
  return JSON.stringify(line);
}

/** A logger writing to `write` (stderr in production) at or above `minLevel`. */
export function createLogger(
  minLevel: LogLevel,
  write: (line: string) => void,
  now: () => Date = () => new Date(),
): Logger {
  return {
    log(level, event, fields = {}) {
      if (_RANK[level] < _RANK[minLevel]) return;
      write(formatLogLine(level, event, fields, now()));
    },
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = { log() {} };
