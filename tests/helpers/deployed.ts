/**
 * Test helper: the product as an admin deploys it. A shipped env example with its absolute paths moved
 * under a staging root and its addresses moved to free loopback ports; the files it names made the way
 * the docs say (identity with `keys init`, certificates with scripts/mtls-ca.sh, the llama-server build);
 * grants built from that env file by scripts/permissions.ts exactly as scripts/compile.sh builds them; and
 * the entry point started with those flags and nothing else, with only PG_ENV_FILE in its environment (as
 * the systemd unit sets it), optionally as another user. `deno run` stands in for the compiled binary
 * because `deno compile` needs denort, which cannot be downloaded here.
 */
import { generateIdentity } from "../../src/crypto/mod.ts";
import { generateTinyModel } from "../../src/inference/mod.ts";
import { llamaServerBin } from "./gateway.ts";
import { startRedis, type TestRedis } from "./redis.ts";
import { freePort } from "./gateway_process.ts";

/** The repository root. */
export const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** The module cache of the deno running the tests (so a changed HOME does not download it again). */
export const DENO_DIR = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`;

/** The production directories the env examples name; each is moved under the staging root. */
const _PRODUCTION_DIRS = [
  "/etc/privacy-gateway",
  "/var/lib/privacy-gateway",
  "/run/privacy-gateway",
  "/usr/lib/privacy-gateway",
];

/**
 * V8's heap limit in MiB (what `gateway.listening` logs as heap_limit_mib) for a process of this deno
 * started with `--max-semi-space-size=MIB` (V8's default without): the limit moves by 3 MiB per MiB of
 * semi-space, so it shows whether a launch's young-generation cap reached V8.
 */
export async function heapLimitMiBWith(semiSpaceMiB?: number): Promise<number> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      ...(semiSpaceMiB === undefined ? [] : [`--v8-flags=--max-semi-space-size=${semiSpaceMiB}`]),
      'import { getHeapStatistics } from "node:v8"; console.log(getHeapStatistics().heap_size_limit)',
    ],
    stderr: "inherit",
  }).output();
  return Math.round(Number(new TextDecoder().decode(output.stdout)) / 1_048_576);
}

/** An env file's KEY=VALUE lines (comments dropped), in order. */
export function envLines(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) values.set(match[1], match[2]);
  }
  return values;
}

/** Renders env lines back to a file. */
export function envText(values: Map<string, string>): string {
  return [...values].map(([key, value]) => `${key}=${value}`).join("\n") + "\n";
}

/**
 * Reads deploy/NAME, moves its paths under `root` and its listen/node addresses to loopback ports.
 * Returns the values; the ports chosen are in PG_PORT / PG_NODE_LISTEN.
 */
export async function stagedExample(name: string, root: string): Promise<Map<string, string>> {
  let text = await Deno.readTextFile(`${REPO}/deploy/${name}`);
  for (const dir of _PRODUCTION_DIRS) text = text.replaceAll(dir, `${root}${dir}`);
  const values = envLines(text);
  if (values.has("PG_PORT") || values.has("PG_HOST")) values.set("PG_PORT", String(freePort()));
  if (values.has("PG_NODE_LISTEN")) values.set("PG_NODE_LISTEN", `127.0.0.1:${freePort()}`);
  return values;
}

/** Creates the private runtime directory (systemd's RuntimeDirectory=, mode 0700) owned by `owner`. */
export async function runtimeDir(path: string, owner?: { uid: number; gid: number }): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  await Deno.chmod(path, 0o700);
  if (owner) await Deno.chown(path, owner.uid, owner.gid);
}

/** Writes an identity key file (mode 0600, as `keys init` does); returns its fingerprint. */
export async function writeIdentity(path: string): Promise<string> {
  const { file } = await generateIdentity();
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
  return file.fingerprint;
}

/** Writes the generated tiny GGUF model at `path` (the real one is gigabytes). */
export async function writeModel(path: string): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeFile(path, generateTinyModel(), { mode: 0o644 });
}

/** Copies the llama-server build (binary and shared libraries) into `dir`, as install.sh --llama-server does. */
export async function installLlamaServer(fromBinary: string, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const from = fromBinary.slice(0, fromBinary.lastIndexOf("/"));
  for await (const entry of Deno.readDir(from)) {
    if (entry.isFile || entry.isSymlink) await Deno.copyFile(`${from}/${entry.name}`, `${dir}/${entry.name}`);
  }
  await Deno.chmod(`${dir}/llama-server`, 0o755);
}

/** Runs scripts/mtls-ca.sh with `args` on `dir`. */
export async function mtlsCa(dir: string, ...args: string[]): Promise<void> {
  const result = await new Deno.Command("bash", {
    // The test machine has no privacy-gateway group: the files go to the caller's own group.
    args: [
      `${REPO}/scripts/mtls-ca.sh`,
      "--dir",
      dir,
      "--days",
      "2",
      "--group",
      String(Deno.gid() ?? 0),
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`mtls-ca.sh ${args.join(" ")}: ${new TextDecoder().decode(result.stderr)}`);
  }
}

/** The flags scripts/compile.sh would bake for `envFile` (it runs the same command). */
export async function builtGrants(
  role: "gateway" | "node",
  envFile: string,
  installedAs = envFile,
): Promise<string[]> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read",
      `${REPO}/scripts/permissions.ts`,
      "--role",
      role,
      "--env-file",
      envFile,
      "--installed-as",
      installedAs,
    ],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) throw new Error(`permissions.ts refused ${envFile}:\n${stderr}`);
  return new TextDecoder().decode(result.stdout).trim().split("\n");
}

/** A staged example: its env file (written under the root) and the files it names, made. */
export interface Staged {
  root: string;
  envFile: string;
  values: Map<string, string>;
  fingerprint?: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Stages deploy/EXAMPLE under `root` (a new temporary directory by default, removed on dispose) and makes
 * every file it names. `edit` changes values before anything is made.
 */
export async function stage(
  example: string,
  role: "gateway" | "node",
  edit?: (v: Map<string, string>) => void,
  at?: string,
): Promise<Staged> {
  const root = at ?? await Deno.makeTempDir({ prefix: "pg-staged-" });
  const values = await stagedExample(example, root);
  edit?.(values);
  let fingerprint: string | undefined;
  const identity = values.get("PG_IDENTITY_KEY_FILE");
  if (identity) fingerprint = await writeIdentity(identity);
  const model = values.get("PG_MODEL_PATH");
  if (model) await writeModel(model);
  const bin = values.get("PG_LLAMA_SERVER_BIN");
  if (bin && values.get("PG_LOCAL_LLAMA") !== "false") {
    await installLlamaServer(llamaServerBin(), bin.slice(0, bin.lastIndexOf("/")));
  }
  const run = values.get("PG_RUNTIME_DIR");
  if (run) await runtimeDir(run);
  const ca = values.get("PG_MTLS_CA_FILE");
  if (ca) {
    const dir = ca.slice(0, ca.lastIndexOf("/"));
    if (!(await _exists(ca))) {
      await mtlsCa(dir, "init");
      await mtlsCa(dir, "issue-router", "router");
      await mtlsCa(dir, "issue-node", "node", "127.0.0.1");
    }
  }
  const tls = values.get("PG_TLS_CERT_FILE");
  if (tls) {
    // The public certificate, from a CA the test's client trusts (certbot's in production).
    const dir = `${root}/tls-ca`;
    await mtlsCa(dir, "init");
    await mtlsCa(dir, "issue-node", "gateway", "127.0.0.1");
    await Deno.mkdir(tls.slice(0, tls.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(`${dir}/gateway.pem`, tls);
    await Deno.copyFile(`${dir}/gateway-key.pem`, values.get("PG_TLS_KEY_FILE")!);
  }
  // The example's local Redis (token mode's spent set, shared limits): a real redis-server on a free port
  // (unless `edit` named another).
  let redis: TestRedis | undefined;
  if (values.get("PG_REDIS_URL") === "redis://127.0.0.1:6379") {
    redis = await startRedis();
    values.set("PG_REDIS_URL", redis.url);
  }
  const keysFile = values.get("PG_TOKEN_KEYS_FILE");
  if (keysFile) await Deno.mkdir(keysFile.slice(0, keysFile.lastIndexOf("/")), { recursive: true });
  const envFile = `${root}/etc/privacy-gateway/${role}.env`;
  await Deno.mkdir(`${root}/etc/privacy-gateway`, { recursive: true });
  await Deno.writeTextFile(envFile, envText(values));
  return {
    root,
    envFile,
    values,
    fingerprint,
    [Symbol.asyncDispose]: async () => {
      await redis?.stop();
      if (!at) await Deno.remove(root, { recursive: true });
    },
  };
}

async function _exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** A deployed process under test. */
export interface DeployedProcess {
  child: Deno.ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Log lines (JSON objects) so far. */
  logs(): Record<string, unknown>[];
  /** Resolves with the first log line `event` (rejects when the process exits first or after `ms`). */
  waitFor(event: string, ms?: number): Promise<Record<string, unknown>>;
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Waits for the process to exit by itself. */
  exited(): Promise<Deno.CommandStatus>;
}

/** How to start a deployed process. */
export interface StartOptions {
  /** Program and leading arguments (default: `deno run FLAGS src/main.ts`). */
  command?: string[];
  /** Arguments after the program (`serve`, `node`, `check`...). */
  args: string[];
  /** Only PG_ENV_FILE, as the unit sets it (plus what `extraEnv` adds). */
  envFile?: string;
  extraEnv?: Record<string, string>;
  /** Deno flags when `command` is not given. */
  flags?: string[];
  /** Run as this user (setpriv, supplementary groups cleared), as systemd's User=/Group= would. */
  user?: { uid: number; gid: number };
}

/** Starts the entry point (or `command`) like the service manager would. */
export function startDeployed(options: StartOptions): DeployedProcess {
  const program = options.command ??
    [Deno.execPath(), "run", ...(options.flags ?? []), `${REPO}/src/main.ts`];
  const argv = [...program, ...options.args];
  const wrapped = options.user
    ? [
      "setpriv",
      `--reuid=${options.user.uid}`,
      `--regid=${options.user.gid}`,
      "--clear-groups",
      "--",
      ...argv,
    ]
    : argv;
  const child = new Deno.Command(wrapped[0], {
    args: wrapped.slice(1),
    env: {
      ...(options.envFile ? { PG_ENV_FILE: options.envFile } : {}),
      // deno run's module cache stands in for the compiled binary's embedded modules.
      DENO_DIR: DENO_DIR,
      NO_COLOR: "1",
      ...options.extraEnv,
    },
    clearEnv: true,
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const waiters: { event: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  const logs = () =>
    text.split("\n").filter((l) => l.startsWith("{")).flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (const waiter of [...waiters]) {
        const line = logs().find((l) => l.event === waiter.event);
        if (line) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  child.status.then(() => (exited = true));
  return {
    child,
    output: () => text,
    logs,
    waitFor(event, ms = 30_000) {
      const found = logs().find((l) => l.event === event);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms:\n${text}`)), ms);
        waiters.push({
          event,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        child.status.then(async () => {
          await pumps;
          clearTimeout(timer);
          const line = logs().find((l) => l.event === event);
          if (line) resolve(line);
          else reject(new Error(`exited before '${event}':\n${text}`));
        });
      });
    },
    exited: async () => {
      const status = await child.status;
      // A grandchild that outlived its parent (a launcher killed with SIGKILL) may hold the pipes open.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([pumps, new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))]);
      clearTimeout(timer);
      return status;
    },
    stop: async (signal: Deno.Signal = "SIGTERM") => {
      if (!exited) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      }
      const status = await child.status;
      await pumps;
      return status;
    },
  };
}
