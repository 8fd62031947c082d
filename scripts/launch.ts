/**
 * `deno task start` / `deno task node`: the embedded default on a developer machine. Builds (or reuses)
 * llama-server, picks a private runtime directory, and runs the gateway entry point with exactly the
 * product's permission flags (scripts/permissions.ts). Signals are forwarded; the exit code is passed on.
 */
import { permissionFlags, scopeFromEnv } from "./permissions.ts";

const role = Deno.args[0] === "node" ? "node" : "gateway";
const env: Record<string, string> = {};
for (const [key, value] of Object.entries(Deno.env.toObject())) if (key.startsWith("PG_")) env[key] = value;
const root = new URL("..", import.meta.url).pathname;

if (env.PG_BACKEND !== "echo" && env.PG_LOCAL_LLAMA !== "false" && !env.PG_LLAMA_SERVER_BIN) {
  // The build's progress goes to the terminal; its last stdout line is the binary's path.
  const build = await new Deno.Command("bash", {
    args: [`${root}scripts/build-llama-server.sh`],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!build.success) {
    console.error("Cannot start: building llama-server failed (see above)");
    Deno.exit(1);
  }
  env.PG_LLAMA_SERVER_BIN = new TextDecoder().decode(build.stdout).trim().split("\n").at(-1)!;
}
const home = Deno.env.get("HOME") ?? "/tmp";
// One directory per role and port, so two instances on one machine never share the llama-server socket
// (issue 12, finding 14); the gateway also locks the directory, so an explicit shared PG_RUNTIME_DIR is
// refused with a message instead.
const port = role === "node"
  ? (env.PG_NODE_LISTEN ?? "127.0.0.1:9443").split(":").at(-1)
  : env.PG_PORT ?? "8000";
env.PG_RUNTIME_DIR ??= `${
  Deno.env.get("XDG_RUNTIME_DIR") ?? `${home}/.cache`
}/privacy-gateway/${role}-${port}`;
await Deno.mkdir(env.PG_RUNTIME_DIR, { recursive: true, mode: 0o700 });

const flags = permissionFlags(scopeFromEnv(role, env));
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", ...flags, `${root}src/main.ts`, role === "node" ? "node" : "serve", ...Deno.args.slice(1)],
  env,
  clearEnv: true,
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  });
}
Deno.exit((await child.status).code);
