/**
 * The Deno permissions a configuration needs, derived from the validated configuration itself, so the
 * flags a binary is built with (scripts/permissions.ts, scripts/compile.sh) and the check the program
 * runs at start-up ({@link missingGrants}) can never disagree about what "fits" means (issue 12, finding
 * 1: a binary built from the build machine's environment fitted none of the shipped env files).
 *
 * One grant per thing the program touches, each saying which setting asks for it. Nothing is granted for
 * a feature the configuration does not use: a router without a local llama-server can run no program.
 */
import type { EnvConfig } from "./schema.ts";

/** Which process role a configuration is for. */
export type Role = "gateway" | "node";

/** One permission: the Deno flag family, the scoped value, and the setting that needs it. */
export interface Grant {
  kind: "net" | "read" | "write" | "run" | "env" | "sys";
  value: string;
  because: string;
}

/**
 * Environment variables the npm `redis` client reads at connect time (`@redis/client` 6.x,
 * `enterprise-maintenance-manager.js`). Denied, the read throws inside the socket code and the connect
 * hangs until it times out (finding 12). They are granted read-only and by name; neither carries data.
 */
export const REDIS_CLIENT_ENV = ["REDIS_DEBUG_MAINTENANCE", "REDIS_EMIT_DIAGNOSTICS"] as const;

/** The only program besides llama-server a development build may run: it sets the parent-death signal. */
export const SETPRIV = "/usr/bin/setpriv";

/**
 * How llama-server is tied to the gateway's life. Production defaults to `none`: under systemd the
 * service's control group takes llama-server down with the gateway, and granting `setpriv` would let the
 * binary run any program (finding 11). Development defaults to `setpriv --pdeathsig`, so a gateway killed
 * with SIGKILL on a laptop does not leave llama-server behind.
 */
export function llamaGuard(config: EnvConfig): "setpriv" | "none" {
  return config.PG_LLAMA_GUARD ?? (config.PG_PROFILE === "production" ? "none" : "setpriv");
}

/** Whether this role supervises a local llama-server (and so needs the runtime directory and the binary). */
export function usesLocalLlama(config: EnvConfig, role: Role): boolean {
  return role === "node" || (config.PG_BACKEND === "llama" && config.PG_LOCAL_LLAMA);
}

/** Every grant `config` needs in `role`, in a stable order. */
export function requiredGrants(config: EnvConfig, role: Role): Grant[] {
  const grants: Grant[] = [{ kind: "env", value: "PG_*", because: "configuration" }];
  // The first reason a grant is needed names it; later needs of the same grant add nothing.
  const add = (kind: Grant["kind"], value: string | undefined, because: string) => {
    if (value && !grants.some((g) => g.kind === kind && g.value === value)) {
      grants.push({ kind, value, because });
    }
  };
  if (role === "gateway") {
    add("net", `${_bracket(config.PG_HOST)}:${config.PG_PORT}`, "PG_HOST:PG_PORT");
  } else {
    add("net", config.PG_NODE_LISTEN, "PG_NODE_LISTEN");
  }
  add("net", config.PG_METRICS_LISTEN, "PG_METRICS_LISTEN");
  add("read", config.PG_ENV_FILE, "PG_ENV_FILE");
  if (role === "gateway") {
    for (const node of _list(config.PG_NODES)) add("net", _hostPort(node, "443"), "PG_NODES");
    if (config.PG_REDIS_URL) {
      add("net", _hostPort(config.PG_REDIS_URL, "6379"), "PG_REDIS_URL");
      for (const name of REDIS_CLIENT_ENV) add("env", name, "PG_REDIS_URL (read by the redis client)");
    }
    if (config.PG_OTLP_ENDPOINT) {
      const port = config.PG_OTLP_ENDPOINT.startsWith("https:") ? "443" : "80";
      add("net", _hostPort(config.PG_OTLP_ENDPOINT, port), "PG_OTLP_ENDPOINT");
      add("env", "OTEL_*", "PG_OTLP_ENDPOINT (the exporter reads OTEL_* settings)");
    }
    add("read", config.PG_IDENTITY_KEY_FILE, "PG_IDENTITY_KEY_FILE");
    add("read", config.PG_HPKE_KEYS_FILE, "PG_HPKE_KEYS_FILE");
    // `keys rotate --file` replaces the keys file through a temporary file beside it (keys_command.ts);
    // Deno.rename needs read and write on the temporary file, write on the target.
    const keysTemporary = config.PG_HPKE_KEYS_FILE && `${config.PG_HPKE_KEYS_FILE}.tmp`;
    add("read", keysTemporary, "PG_HPKE_KEYS_FILE (keys rotate)");
    add("write", config.PG_HPKE_KEYS_FILE, "PG_HPKE_KEYS_FILE (keys rotate)");
    add("write", keysTemporary, "PG_HPKE_KEYS_FILE (keys rotate)");
    // Token mode: the gateway creates the issuer keys file when missing and rewrites it (through a
    // temporary file beside it) when it rotates a key (gateway/tokens.ts).
    const tokenKeys = config.PG_AUTH === "token" ? config.PG_TOKEN_KEYS_FILE : undefined;
    const tokenTemporary = tokenKeys && `${tokenKeys}.tmp`;
    add("read", tokenKeys, "PG_TOKEN_KEYS_FILE");
    add("write", tokenKeys, "PG_TOKEN_KEYS_FILE");
    add("read", tokenTemporary, "PG_TOKEN_KEYS_FILE (rotation)");
    add("write", tokenTemporary, "PG_TOKEN_KEYS_FILE (rotation)");
    add("read", config.PG_TLS_CERT_FILE, "PG_TLS_CERT_FILE");
    add("read", config.PG_TLS_KEY_FILE, "PG_TLS_KEY_FILE");
  }
  if (role === "node" || config.PG_NODES) {
    add("read", config.PG_MTLS_CA_FILE, "PG_MTLS_CA_FILE");
    add("read", config.PG_MTLS_CERT_FILE, "PG_MTLS_CERT_FILE");
    add("read", config.PG_MTLS_KEY_FILE, "PG_MTLS_KEY_FILE");
  }
  if (usesLocalLlama(config, role)) {
    const dir = config.PG_RUNTIME_DIR;
    add("read", dir, "PG_RUNTIME_DIR");
    // The socket, the instance lock and (development) the generated demo model live here.
    add("write", dir, "PG_RUNTIME_DIR");
    add("net", dir && `unix:${dir}/llama.sock`, "PG_RUNTIME_DIR (llama-server socket)");
    add("read", config.PG_MODEL_PATH, "PG_MODEL_PATH");
    add("run", config.PG_LLAMA_SERVER_BIN, "PG_LLAMA_SERVER_BIN");
    if (llamaGuard(config) === "setpriv") add("run", SETPRIV, "PG_LLAMA_GUARD=setpriv");
    // Deno.uid(): the runtime directory must belong to this user.
    add("sys", "uid", "PG_RUNTIME_DIR (owner check)");
  }
  return grants;
}

/** Deno's command-line flags for a list of grants (one flag per kind, values joined, duplicates dropped). */
export function grantFlags(grants: Grant[]): string[] {
  const byKind = new Map<Grant["kind"], string[]>();
  for (const grant of grants) {
    const values = byKind.get(grant.kind) ?? [];
    if (!values.includes(grant.value)) values.push(grant.value);
    byKind.set(grant.kind, values);
  }
  const order: Grant["kind"][] = ["net", "read", "write", "run", "env", "sys"];
  return order.filter((kind) => byKind.has(kind)).map((kind) =>
    `--allow-${kind}=${byKind.get(kind)!.join(",")}`
  );
}

/** Asks Deno whether one permission is granted (Deno.permissions.querySync in the product). */
export type PermissionQuery = (descriptor: Deno.PermissionDescriptor) => Deno.PermissionState;

/** The descriptor Deno.permissions takes for a grant. */
export function grantDescriptor(grant: Grant): Deno.PermissionDescriptor {
  switch (grant.kind) {
    case "net":
      return { name: "net", host: grant.value };
    case "read":
      return { name: "read", path: grant.value };
    case "write":
      return { name: "write", path: grant.value };
    case "run":
      return { name: "run", command: grant.value };
    case "env":
      return { name: "env", variable: grant.value };
    case "sys":
      return { name: "sys", kind: grant.value as "uid" };
  }
}

/** The grants that `query` does not report as granted, one line each (`--allow-net=HOST:PORT (PG_HOST...)`). */
export function missingGrants(grants: Grant[], query: PermissionQuery): string[] {
  return grants.filter((grant) => query(grantDescriptor(grant)) !== "granted")
    .map((grant) => `--allow-${grant.kind}=${grant.value} (${grant.because})`);
}

/** The command that rebuilds a binary whose grants fit the env file it runs with. */
export function rebuildCommand(config: EnvConfig, role: Role): string {
  const envFile = config.PG_ENV_FILE ?? `/etc/privacy-gateway/${role}.env`;
  return `scripts/compile.sh --role ${role} --env-file ${envFile}`;
}

function _list(value: string | undefined): string[] {
  return (value ?? "").split(",").map((item) => item.trim()).filter(Boolean);
}

function _hostPort(url: string, defaultPort: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || defaultPort}`;
}

function _bracket(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
