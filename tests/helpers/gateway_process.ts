/**
 * Test helper: runs the gateway entry point as a separate process with exactly the product's permission
 * flags (scripts/permissions.ts), capturing everything it and its children print.
 */
import { permissionFlags, scopeFromEnv } from "../../scripts/permissions.ts";

/** A gateway process under test. */
export interface GatewayProcess {
  url: string;
  fingerprint: string;
  child: Deno.ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Log lines (JSON objects) so far. */
  logs(): Record<string, unknown>[];
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** Starts `main.ts serve` with the given PG_* environment; resolves once it listens. */
export async function spawnGateway(
  env: Record<string, string>,
  extraArgs: string[] = [],
): Promise<GatewayProcess> {
  // Device mode unless asked (see startGateway in gateway.ts).
  const fullEnv = { PG_PORT: String(await freePort()), PG_AUTH: "device", ...env };
  const flags = permissionFlags(scopeFromEnv("gateway", fullEnv));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, MAIN, "serve", ...extraArgs],
    env: { ...fullEnv, NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const listening = Promise.withResolvers<{ url: string; fingerprint: string }>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const match = /"event":"gateway.listening","url":"([^"]+)".*?"fingerprint":"([^"]+)"/.exec(text);
      if (match) listening.resolve({ url: match[1], fingerprint: match[2] });
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  child.status.then(() => listening.reject(new Error(`gateway exited early:\n${text}`)));
  const timer = setTimeout(() => listening.reject(new Error(`gateway did not start:\n${text}`)), 30_000);
  const { url, fingerprint } = await listening.promise.finally(() => clearTimeout(timer));
  return {
    url,
    fingerprint,
    child,
    output: () => text,
    logs: () => text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)),
    stop: async (signal: Deno.Signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      const status = await child.status;
      await pumps;
      return status;
    },
  };
}

/** A free TCP port on loopback (bind, read, release). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
