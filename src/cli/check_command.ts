/**
 * `privacy-gateway check [--role gateway|node]`: what an operator runs before (re)starting the service,
 * with the same binary and grants the service uses. It validates the configuration, this build's grants
 * against it, the files it names, and that nodes, Redis and the OTLP collector answer. Each problem is one
 * line on stderr (`problem: ...`); the exit code is 1 when there is any, 0 otherwise.
 */
import { X509Certificate } from "node:crypto";
import {
  type EnvConfig,
  loadConfig,
  missingGrants,
  rebuildCommand,
  requiredGrants,
  type Role,
  usesLocalLlama,
} from "../config/mod.ts";
import { LlamaClient } from "../inference/mod.ts";
import { connectRedisStore } from "../limits/mod.ts";
import type { CliHost } from "./dispatch.ts";
import { denoPermissionQuery } from "./grant_gate.ts";

/** How long one reachability probe may take: a node or Redis slower than this is not serving either. */
const PROBE_TIMEOUT_MS = 3_000;

/** Runs every check; returns the exit code. */
export async function checkCommand(role: Role, host: CliHost): Promise<number> {
  const problems: string[] = [];
  const loaded = loadConfig(host.environment(), host.readFile, role);
  if (!loaded.ok) {
    for (const line of loaded.problems) problems.push(`config: ${line}`);
    return _report(host, problems, []);
  }
  const config = loaded.config;
  const missing = missingGrants(requiredGrants(config, role), host.permission ?? denoPermissionQuery);
  for (const line of missing) {
    problems.push(`grant: missing ${line}; rebuild: ${rebuildCommand(config, role)}`);
  }
  if (missing.length > 0) return _report(host, problems, []);

  const checked: string[] = ["configuration", "grants"];
  problems.push(...await _files(config, role));
  checked.push("files");
  if (usesLocalLlama(config, role) && config.PG_LLAMA_SERVER_BIN) {
    problems.push(...await _llamaServer(config.PG_LLAMA_SERVER_BIN));
    checked.push("llama-server");
  }
  if (role === "gateway") {
    for (const url of (config.PG_NODES ?? "").split(",").map((u) => u.trim()).filter(Boolean)) {
      problems.push(...await _node(url, config));
      checked.push(`node ${url}`);
    }
    if (config.PG_REDIS_URL) {
      problems.push(...await _redis(config.PG_REDIS_URL));
      checked.push("redis");
    }
    if (config.PG_OTLP_ENDPOINT) {
      problems.push(...await _tcp("otlp", config.PG_OTLP_ENDPOINT));
      checked.push("otlp");
    }
  }
  return _report(host, problems, checked);
}

function _report(host: CliHost, problems: string[], checked: string[]): number {
  for (const problem of problems) host.io.error(`problem: ${problem}\n`);
  if (problems.length > 0) return 1;
  host.io.write(`check: ok (${checked.join(", ")})\n`);
  return 0;
}

/** Every file the configuration names can be opened; certificates are within their validity. */
async function _files(config: EnvConfig, role: Role): Promise<string[]> {
  const problems: string[] = [];
  const files: [string, string | undefined][] = role === "gateway"
    ? [
      ["PG_IDENTITY_KEY_FILE", config.PG_IDENTITY_KEY_FILE],
      ["PG_HPKE_KEYS_FILE", config.PG_HPKE_KEYS_FILE],
      ["PG_TLS_KEY_FILE", config.PG_TLS_KEY_FILE],
    ]
    : [];
  if (usesLocalLlama(config, role)) files.push(["PG_MODEL_PATH", config.PG_MODEL_PATH]);
  if (role === "node" || config.PG_NODES) files.push(["PG_MTLS_KEY_FILE", config.PG_MTLS_KEY_FILE]);
  for (const [name, path] of files) {
    if (!path) continue;
    try {
      (await Deno.open(path, { read: true })).close();
    } catch (error) {
      problems.push(`${name}: cannot read '${path}' (${(error as Error).name})`);
    }
  }
  const certificates: [string, string | undefined][] = [
    ...(role === "gateway"
      ? [["PG_TLS_CERT_FILE", config.PG_TLS_CERT_FILE]] as [string, string | undefined][]
      : []),
    ...(role === "node" || config.PG_NODES
      ? [["PG_MTLS_CA_FILE", config.PG_MTLS_CA_FILE], ["PG_MTLS_CERT_FILE", config.PG_MTLS_CERT_FILE]] as [
        string,
        string | undefined,
      ][]
      : []),
  ];
  for (const [name, path] of certificates) {
    if (!path) continue;
    try {
      const certificate = new X509Certificate(await Deno.readTextFile(path));
      const now = Date.now();
      if (Date.parse(certificate.validTo) <= now) {
        problems.push(`${name}: certificate '${path}' expired on ${certificate.validTo}`);
      } else if (Date.parse(certificate.validFrom) > now) {
        problems.push(`${name}: certificate '${path}' is not valid before ${certificate.validFrom}`);
      }
    } catch (error) {
      problems.push(`${name}: cannot read a PEM certificate from '${path}' (${(error as Error).name})`);
    }
  }
  return problems;
}

/** llama-server runs (its shared libraries load) and prints its version. */
async function _llamaServer(binary: string): Promise<string[]> {
  try {
    const output = await new Deno.Command(binary, {
      args: ["--version"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    }).output();
    return output.success ? [] : [`PG_LLAMA_SERVER_BIN: '${binary} --version' exited with ${output.code}`];
  } catch (error) {
    return [`PG_LLAMA_SERVER_BIN: cannot run '${binary}' (${(error as Error).name})`];
  }
}

/** A node answers /health over mTLS with this gateway's certificate. */
async function _node(url: string, config: EnvConfig): Promise<string[]> {
  let client: LlamaClient | undefined;
  try {
    client = await LlamaClient.create("check", {
      kind: "mtls",
      url,
      caFile: config.PG_MTLS_CA_FILE!,
      certFile: config.PG_MTLS_CERT_FILE!,
      keyFile: config.PG_MTLS_KEY_FILE!,
    });
    if (await client.health(PROBE_TIMEOUT_MS)) return [];
    return [`PG_NODES: node ${url} did not answer /health with 200 within ${PROBE_TIMEOUT_MS} ms`];
  } catch (error) {
    return [`PG_NODES: cannot reach node ${url} (${(error as Error).message})`];
  } finally {
    client?.close();
  }
}

/** Redis accepts a connection and a command. */
async function _redis(url: string): Promise<string[]> {
  try {
    const store = await connectRedisStore(url, {
      timeoutMs: PROBE_TIMEOUT_MS,
      connectTimeoutMs: PROBE_TIMEOUT_MS,
    });
    await store.close();
    return [];
  } catch (error) {
    return [`PG_REDIS_URL: ${(error as Error).message}`];
  }
}

/** Something accepts TCP connections at the endpoint's host and port. */
async function _tcp(name: string, url: string): Promise<string[]> {
  const parsed = new URL(url);
  const port = Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const connection = await Promise.race([
      Deno.connect({ hostname: parsed.hostname, port }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)),
          PROBE_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    connection.close();
    return [];
  } catch (error) {
    return [
      `PG_OTLP_ENDPOINT: cannot connect to ${name} collector ${parsed.hostname}:${port} (${
        (error as Error).message
      })`,
    ];
  }
}
