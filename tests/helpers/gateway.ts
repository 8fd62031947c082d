/**
 * Test helper: starts a whole gateway in-process through main.ts's `run()` seam, on a free port, with
 * configuration parsed by the real schema. Stop it with `await using` or `stop()`.
 */
import { loadConfig } from "../../src/config/mod.ts";
import { run, type RunDeps, type RunningGateway } from "../../src/main.ts";
import { type Logger, type LogLevel } from "../../src/observability/mod.ts";
import { provideDemoModel } from "./models.ts";

/** A gateway under test. */
export interface TestGateway extends RunningGateway {
  stop(): Promise<void>;
  logs: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a gateway; `env` overrides PG_* settings (echo backend and a free port by default). */
export async function startGateway(
  env: Record<string, string> = {},
  deps: RunDeps = {},
): Promise<TestGateway> {
  const loaded = loadConfig(
    // Device mode unless a test asks for tokens: most tests exercise device-mode limits; token mode (the
    // product's default) has its own tests, and the launcher and rehearsal tests run it as shipped.
    { PG_PORT: "0", PG_BACKEND: "echo", PG_STREAM_TICK_MS: "0", PG_AUTH: "device", ...env },
    (p) => Deno.readTextFileSync(p),
  );
  if (!loaded.ok) throw new Error(`Test config invalid: ${loaded.problems.join("; ")}`);
  const { config } = loaded;
  if (
    config.PG_BACKEND !== "echo" && config.PG_LOCAL_LLAMA && !config.PG_MODEL_PATH && config.PG_RUNTIME_DIR
  ) {
    // The demo default: served from the shared generated copy instead of generated per test.
    await provideDemoModel(config.PG_RUNTIME_DIR);
  }
  const logs: string[] = [];
  const logger: Logger = {
    log(level: LogLevel, event, fields = {}) {
      logs.push(JSON.stringify({ level, event, ...fields }));
    },
  };
  const controller = new AbortController();
  const gateway = await run(loaded.config, { logger, ...deps }, controller.signal);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    controller.abort();
    await gateway.finished;
  };
  return { ...gateway, logs, stop, [Symbol.asyncDispose]: stop };
}

/** Path of the llama-server binary built by scripts/build-llama-server.sh (set by scripts/test.sh). */
export function llamaServerBin(): string {
  const fromEnv = Deno.env.get("PG_TEST_LLAMA_SERVER_BIN");
  if (fromEnv) return fromEnv;
  const home = Deno.env.get("HOME") ?? "/root";
  return `${home}/.cache/privacy-gateway/llama-server-node-llama-cpp-3.22.1-cpu/bin/llama-server`;
}

/** A fresh private directory (mode 0700) removed by the caller. */
export async function privateTempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o700);
  return dir;
}
