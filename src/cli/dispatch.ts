/**
 * The CLI's subcommands, dispatched from parsed arguments. Everything from the outside world (stdio,
 * environment, signals, clock, the server roles) comes in through {@link CliHost}, which main.ts builds.
 */
import type { EnvConfig } from "../config/mod.ts";
import { loadConfig } from "../config/mod.ts";
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
    case "serve":
      return await _serveRole(host, host.run);
    case "node":
      return await _serveRole(host, host.runNode);
  }
}

/**
 * Runs a long-lived role (gateway or node) until SIGTERM/SIGINT. Invalid configuration exits 78
 * (EX_CONFIG), which the systemd units list in RestartPreventExitStatus: restarting cannot fix it.
 */
async function _serveRole(host: CliHost, start: CliHost["run"]): Promise<number> {
  const io = host.io;
  const loaded = loadConfig(host.environment(), host.readFile);
  if (!loaded.ok) {
    io.error(`Invalid configuration:\n${loaded.problems.map((p) => `  ${p}`).join("\n")}\n`);
    return 78;
  }
  const controller = new AbortController();
  host.onShutdownSignal(() => controller.abort());
  try {
    await (await start(loaded.config, controller.signal)).finished;
    return 0;
  } catch (error) {
    io.error(`${(error as Error).message}\n`);
    return 1;
  }
}
