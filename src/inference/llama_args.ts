/**
 * The allow-listed llama-server command line. Only validated configuration values reach it, each behind a
 * fixed flag, so nothing from a request can ever become an argument.
 */

/** What the supervisor needs to start llama-server. */
export interface LlamaServerOptions {
  binary: string;
  model: string;
  socketPath: string;
  contextSize: number;
  threads: number;
  parallel: number;
}

/**
 * Builds argv. Privacy flags (shared/notes/llama-server.md): no slots endpoint (it exposes prompt state),
 * no slot saving (writes prompt caches to disk; simply never passed), no /props writes, no web UI, no
 * host-RAM prompt cache across requests, logging off (at high verbosity it logs prompt text), offline.
 */
export function llamaServerArgs(options: LlamaServerOptions): string[] {
  return [
    "--model",
    options.model,
    "--host",
    options.socketPath,
    "--ctx-size",
    String(options.contextSize),
    "--threads",
    String(options.threads),
    "--parallel",
    String(options.parallel),
    // Every streaming request holds an HTTP worker; leave room for health probes and tokenization.
    "--threads-http",
    String(options.parallel * 2 + 4),
    "--no-slots",
    "--no-webui",
    "--cache-ram",
    "0",
    "--log-disable",
    "--offline",
    "--no-warmup",
  ];
}

/**
 * Lines of llama-server output the supervisor recognises, mapped to fixed reasons. Output is never
 * forwarded: only the reason name of a matching line is logged.
 */
export const LIFECYCLE_LINES: readonly [RegExp, string][] = [
  [/failed to load model|error loading model/i, "model_load_failed"],
  [/address already in use|couldn't bind/i, "bind_failed"],
  [/out of memory|failed to allocate/i, "out_of_memory"],
];
