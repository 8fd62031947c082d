/**
 * The CLI's subcommands, dispatched from parsed arguments. Everything from the outside world (stdio,
 * environment, signals, clock, the server roles) comes in through {@link CliHost}, which main.ts builds.
 */
import type { EnvConfig, PermissionQuery, Role } from "../config/mod.ts";
import { loadConfig, usesLocalLlama } from "../config/mod.ts";
import { lockRuntimeDir, type RuntimeLock } from "../inference/mod.ts";
import { checkCommand } from "./check_command.ts";
import { denoPermissionQuery, grantRefusal } from "./grant_gate.ts";
import { parseCommandLine, USAGE } from "./args.ts";
import { chatCommand } from "./chat_command.ts";
import { harmonyParseCommand, harmonyRenderCommand } from "./harmony_command.ts";
import { keysInitCommand, keysRotateCommand } from "./keys_command.ts";

/** Version printed by `--version`. */
export const VERSION = "0.1.0";

/** What the commands may use. */
export interface CliHost {
  io: { write: (text: string) => void; error: (text: string) => void };
  /** The PG_* configuration environment (validated by the schema). */
  environment(): Record<string, string>;
  /** One variable, or undefined when unset or not permitted (the CLI runs with PG_URL, PG_PIN only). */
  variable(name: string): string | undefined;
  readStdin(): Promise<string>;
  readFile(path: string): string;
  onShutdownSignal(handler: () => void): void;
  now(): number;
  run(config: EnvConfig, signal: AbortSignal): Promise<{ finished: Promise<void> }>;
  runNode(config: EnvConfig, signal: AbortSignal): Promise<{ finished: Promise<void> }>;
  /** Whether a permission is granted (default: Deno.permissions.querySync). */
  permission?: PermissionQuery;
}

/** Runs the command line; returns the exit code. */
export async function dispatch(argv: string[], host: CliHost): Promise<number> {
  const io = host.io;
  let command;
  try {
    command = parseCommandLine(argv);
  } catch (error) {
    io.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  switch (command.command) {
    case "help":
      io.write(USAGE);
      return 0;
    case "version":
      io.write(`privacy-gateway ${VERSION}\n`);
      return 0;
    case "keys init": {
      const out = command.flags.out;
      if (typeof out !== "string") {
        io.error("Pass --out FILE: where to write the identity key\n");
        return 2;
      }
      return await keysInitCommand({ out, force: command.flags.force === true }, io);
    }
    case "keys rotate": {
      const file = command.flags.file;
      const interval = Number(command.flags.interval ?? "86400");
      if (typeof file !== "string" || !Number.isInteger(interval) || interval < 60) {
        io.error("Pass --file FILE and optionally --interval SECONDS (at least 60)\n");
        return 2;
      }
      return await keysRotateCommand({ file, intervalSeconds: interval, nowSeconds: host.now() }, io);
    }
    case "chat": {
      const prompt = command.positionals.join(" ") || (await host.readStdin()).trim();
      if (!prompt) {
        io.error("Pass a prompt as an argument or on stdin\n");
        return 2;
      }
      const maxTokens = command.flags["max-tokens"] ? Number(command.flags["max-tokens"]) : undefined;
      return await chatCommand({
        url: String(command.flags.url ?? host.variable("PG_URL") ?? "http://127.0.0.1:8000"),
        pin: (command.flags.pin as string | undefined) ?? host.variable("PG_PIN"),
        relay: command.flags.relay as string | undefined,
        json: command.flags.json === true,
        maxTokens,
        prompt,
      }, io);
    }
    case "harmony render":
      return harmonyRenderCommand(await host.readStdin(), io);
    case "harmony parse":
      return harmonyParseCommand(await host.readStdin(), command.flags.role as string | undefined, io);
    case "check": {
      const role = command.flags.role ?? "gateway";
      if (role !== "gateway" && role !== "node") {
        io.error("Pass --role gateway or --role node\n");
        return 2;
      }
      return await checkCommand(role, host);
    }
    case "serve":
      return await _serveRole(host, "gateway", host.run);
    case "node":
      return await _serveRole(host, "node", host.runNode);
  }
}

/**
 * Runs a long-lived role (gateway or node) until SIGTERM/SIGINT. Invalid configuration, and grants that
 * do not fit it, exit 78 (EX_CONFIG), which the systemd units list in RestartPreventExitStatus: restarting
 * cannot fix either. A runtime directory in use by another instance exits 1.
 */
async function _serveRole(host: CliHost, role: Role, start: CliHost["run"]): Promise<number> {
  const io = host.io;
  const loaded = loadConfig(host.environment(), host.readFile, role);
  if (!loaded.ok) {
    io.error(`Invalid configuration:\n${loaded.problems.map((p) => `  ${p}`).join("\n")}\n`);
    return 78;
  }
  const config = loaded.config;
  const refusal = grantRefusal(config, role, host.permission ?? denoPermissionQuery);
  if (refusal) {
    io.error(refusal);
    return 78;
  }
  let lock: RuntimeLock | undefined;
  const controller = new AbortController();
  host.onShutdownSignal(() => controller.abort());
  try {
    if (usesLocalLlama(config, role) && config.PG_RUNTIME_DIR) {
      lock = await lockRuntimeDir(config.PG_RUNTIME_DIR);
    }
    await (await start(config, controller.signal)).finished;
    return 0;
  } catch (error) {
    io.error(`${(error as Error).message}\n`);
    return 1;
  } finally {
    lock?.release();
  }
}
