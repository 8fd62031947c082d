/**
 * Issue 12: the deployment rehearsal. The test plays the admin on a scratch root, with the repository's
 * own scripts and in the order docs/deployment.md gives: `install.sh --root`, the role's env file edited
 * in place, grants from `compile.sh --env-file` (its dry run prints the exact `deno compile` command; the
 * "binary" is a wrapper that runs `deno run` with those flags, because `deno compile` needs denort, which
 * cannot be downloaded here), the files made as documented, and the service started as an unprivileged
 * user (an unused uid/gid through setpriv, as systemd's User=/Group= would) with only PG_ENV_FILE in its
 * environment. Then an encrypted chat end to end; the same for a router + node pair over mTLS with
 * certificates from mtls-ca.sh and Redis sharing; then `upgrade.sh` to a new build with a stream open
 * during the switch, and a forced rollback (a build that never becomes ready) with a stream open too.
 *
 * Staged paths: the env examples name /etc/privacy-gateway, /var/lib/privacy-gateway, /run/privacy-gateway
 * and /usr/lib/privacy-gateway; the admin's edit moves them under the scratch root and picks free ports.
 */
import assert from "node:assert/strict";
import { GatewayClient, GatewayRequestError } from "../src/client/mod.ts";
import { MemoryTokenStore, type StoredToken } from "../src/tokens/mod.ts";
import { generateTinyModel } from "../src/inference/mod.ts";
import { llamaServerBin } from "./helpers/gateway.ts";
import { freePort } from "./helpers/gateway_process.ts";
import { DENO_DIR, envLines, envText, REPO } from "./helpers/deployed.ts";
import { startRedis } from "./helpers/redis.ts";

const PRODUCTION_DIRS = [
  "/etc/privacy-gateway",
  "/var/lib/privacy-gateway",
  "/run/privacy-gateway",
  "/usr/lib/privacy-gateway",
];

/** Runs a command; returns its exit code and output. */
async function sh(program: string, args: string[], env?: Record<string, string>) {
  const output = await new Deno.Command(program, { args, env, cwd: REPO, stdout: "piped", stderr: "piped" })
    .output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

async function mustSh(program: string, args: string[]): Promise<string> {
  const result = await sh(program, args);
  assert.equal(result.code, 0, `${program} ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** A uid and gid that no user or group on this machine has: the service account of the rehearsal. */
async function unusedId(): Promise<number> {
  for (let id = 61_000; id < 65_000; id++) {
    const user = await sh("getent", ["passwd", String(id)]);
    const group = await sh("getent", ["group", String(id)]);
    if (user.code !== 0 && group.code !== 0) return id;
  }
  throw new Error("no unused uid/gid");
}

/** One scratch machine: its root, the service account, and a stand-in for `systemctl restart`. */
interface Host {
  root: string;
  id: number;
  role: "gateway" | "node";
  envFile: string;
  log: string;
  /** The restart command upgrade.sh runs (`--restart-command`). */
  restartCommand: string;
}

/**
 * `install.sh --root` for a role, with the service account's group; then the stand-in service manager:
 * stop = SIGTERM and wait for the exit (the drain), start = the installed binary as the service user with
 * only PG_ENV_FILE set, detached, output appended to ROOT/service.log.
 */
async function installHost(role: "gateway" | "node", id: number, extra: string[] = []): Promise<Host> {
  // Short: upgrade.sh's node check doubles the root in a socket path, which Linux caps at 108 bytes.
  const root = await Deno.makeTempDir({ prefix: `pg-r${role[0]}-` });
  await Deno.chmod(root, 0o755);
  const llamaDir = llamaServerBin().slice(0, llamaServerBin().lastIndexOf("/"));
  const installed = await sh("bash", [
    "scripts/install.sh",
    "--root",
    root,
    "--role",
    role,
    "--group",
    String(id),
    "--llama-server",
    llamaDir,
    ...extra,
  ]);
  if (installed.code !== 0) {
    await Deno.remove(root, { recursive: true });
    // install.sh --group is issue-12a's (files root:GROUP 0640 for the service user, finding 2).
    throw new Error(
      `install.sh --root ${root} --role ${role} failed:\n${installed.stdout}${installed.stderr}`,
    );
  }
  const envFile = `${root}/etc/privacy-gateway/${role}.env`;
  const log = `${root}/service.log`;
  const service = `${root}/service.sh`;
  await Deno.writeTextFile(
    service,
    `#!/usr/bin/env bash
# Stands in for systemctl restart: stop (SIGTERM, wait for the exit), then start as the service user.
set -u
pidfile=${root}/service.pid
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null
  while [ -e "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]; do sleep 0.1; done
fi
cd /
setsid env -i PG_ENV_FILE=${envFile} setpriv --reuid=${id} --regid=${id} --clear-groups -- \\
  ${root}/usr/bin/privacy-gateway ${role === "node" ? "node" : "serve"} >>${log} 2>&1 </dev/null &
echo $! >"$pidfile"
`,
    { mode: 0o755 },
  );
  return { root, id, role, envFile, log, restartCommand: service };
}

/** The admin edits the env file in place (its owner and mode stay as install.sh left them). */
async function editEnv(
  host: Host,
  base: string,
  changes: Record<string, string>,
): Promise<Map<string, string>> {
  let text = base;
  for (const dir of PRODUCTION_DIRS) text = text.replaceAll(dir, `${host.root}${dir}`);
  const values = envLines(text);
  for (const [key, value] of Object.entries(changes)) values.set(key, value);
  await Deno.writeTextFile(host.envFile, envText(values));
  return values;
}

/** The flags `compile.sh --env-file` bakes into the binary (read from its dry run). */
async function compiledFlags(host: Host): Promise<string[]> {
  const line = await mustSh("bash", [
    "scripts/compile.sh",
    "--dry-run",
    "--role",
    host.role,
    "--env-file",
    host.envFile,
    "--installed-as",
    host.envFile,
  ]);
  // The dry run prints the command shell-quoted; let bash undo the quoting.
  const words =
    (await mustSh("bash", ["-c", `eval "set -- ${line.trim().replaceAll('"', '\\"')}"; printf '%s\\n' "$@"`]))
      .trim().split("\n");
  return words.slice(words.indexOf("--no-check=remote") + 1, words.indexOf("--target"));
}

/**
 * A "build": the sources, a module cache the service user can read, and a wrapper at DIST/privacy-gateway-N
 * that runs them with the compiled flags (what the denort-based binary would embed). A `broken` build
 * exits at once, as a bad release would.
 */
async function makeBuild(host: Host, n: number, flags: string[], broken = false): Promise<string> {
  const lib = `${host.root}/usr/lib/privacy-gateway`;
  const app = `${lib}/app-build-${n}`;
  await Deno.mkdir(app, { recursive: true });
  await mustSh("cp", ["-r", `${REPO}/src`, `${REPO}/deno.json`, `${REPO}/deno.lock`, app]);
  const cache = `${lib}/deno-dir`;
  try {
    await Deno.stat(cache);
  } catch {
    await Deno.mkdir(cache, { recursive: true });
    await mustSh("cp", ["-r", `${DENO_DIR}/npm`, cache]);
  }
  await mustSh("chmod", ["-R", "a+rX", app, cache]);
  const quoted = flags.map((f) => `'${f}'`).join(" ");
  const wrapper = `${host.root}/dist/privacy-gateway-${n}`;
  await Deno.mkdir(`${host.root}/dist`, { recursive: true });
  await Deno.writeTextFile(
    wrapper,
    `#!/bin/sh
# privacy-gateway build ${n}: deno run with the flags compile.sh bakes in (denort cannot be downloaded here).
echo "privacy-gateway build ${n}" >&2
${
      broken
        ? "exit 1"
        : `exec env DENO_DIR=${cache} NO_COLOR=1 ${Deno.execPath()} run ${quoted} ${app}/src/main.ts "$@"`
    }
`,
    { mode: 0o755 },
  );
  return wrapper;
}

/** Files as the docs say: root:GROUP 0640 for what the service reads, owned by the service for secrets. */
async function place(path: string, content: string | Uint8Array, group: number, mode = 0o640): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  if (typeof content === "string") await Deno.writeTextFile(path, content);
  else await Deno.writeFile(path, content);
  await Deno.chown(path, 0, group);
  await Deno.chmod(path, mode);
}

/** `privacy-gateway keys init --out -` with the installed binary, stored as the docs say; returns the pin. */
async function identity(host: Host, path: string): Promise<string> {
  const result = await sh(`${host.root}/usr/bin/privacy-gateway`, ["keys", "init", "--out", "-"]);
  assert.equal(result.code, 0, result.stderr);
  await Deno.writeTextFile(path, result.stdout, { mode: 0o600 });
  await Deno.chown(path, host.id, host.id);
  return /Fingerprint to pin in the app: (\S+)/.exec(result.stderr)![1];
}

/** systemd's RuntimeDirectory=privacy-gateway, RuntimeDirectoryMode=0700. */
async function runtimeDirectory(host: Host): Promise<void> {
  const dir = `${host.root}/run/privacy-gateway`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chown(dir, host.id, host.id);
  await Deno.chmod(dir, 0o700);
}

/**
 * systemd's StateDirectory=privacy-gateway/tokens, StateDirectoryMode=0700 (systemd/privacy-gateway.service):
 * the one directory under /var/lib the service owns and writes, for token mode's issuer keys file.
 */
async function stateDirectory(host: Host): Promise<void> {
  const dir = `${host.root}/var/lib/privacy-gateway/tokens`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chown(dir, host.id, host.id);
  await Deno.chmod(dir, 0o700);
}

/** Token mode as shipped: the issuer keys file the service made, 0600 and its own. */
async function assertTokenKeysFile(host: Host, path: string): Promise<void> {
  const stat = await Deno.stat(path);
  assert.equal(stat.mode! & 0o777, 0o600, path);
  assert.equal(stat.uid, host.id, `${path} belongs to the service user`);
}

/** Log lines of the service since it was installed. */
async function serviceLogs(host: Host): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(host.log).catch(() => "");
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

async function waitForLog(
  host: Host,
  event: string,
  after = 0,
  ms = 30_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const found = (await serviceLogs(host)).slice(after).find((l) => l.event === event);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no '${event}' in ${host.log}:\n${await Deno.readTextFile(host.log).catch(() => "")}`);
}

async function stopService(host: Host): Promise<void> {
  const pid = Number(await Deno.readTextFile(`${host.root}/service.pid`).catch(() => "0"));
  if (pid > 0) {
    try {
      Deno.kill(pid, "SIGTERM");
    } catch { /* gone */ }
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
      if (!stat || stat.split(") ")[1]?.[0] === "Z") break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const text = await Deno.readTextFile(host.log).catch(() => "");
  assert.doesNotMatch(text, /NotCapable|Requires \w+ access|Permission denied/, text);
}

/** Processes of the service account still running after a grace period (llama-server must not outlive the service). */
async function leftovers(uid: number): Promise<string> {
  const deadline = Date.now() + 5_000;
  while (true) {
    const result = await sh("ps", ["-o", "pid,ppid,stat,cmd", "--no-headers", "-u", String(uid)]);
    const rows = result.stdout.trim();
    if (!rows || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function client(url: string, pin: string, caPem?: string, store = new MemoryTokenStore(), maxAttempts = 4) {
  const http = caPem ? Deno.createHttpClient({ caCerts: [caPem] }) : undefined;
  const gateway = new GatewayClient({
    baseUrl: url,
    pin,
    tokenStore: store,
    maxAttempts,
    ...(http
      ? { fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, { ...init, client: http }) }
      : {}),
  });
  return { gateway, store, [Symbol.dispose]: () => http?.close() };
}

/** What a client holding only `token` gets for a chat (one attempt: a refused token is not replaced). */
async function spendOnly(url: string, pin: string, caPem: string, token: StoredToken): Promise<string> {
  const store = new MemoryTokenStore();
  await store.save([token]);
  using c = client(url, pin, caPem, store, 1);
  try {
    await chat(c.gateway);
    return "done";
  } catch (error) {
    return error instanceof GatewayRequestError ? `${error.status} ${error.code}` : String(error);
  }
}

async function chat(gateway: GatewayClient, maxTokens = 8): Promise<string[]> {
  const types: string[] = [];
  for await (
    const event of gateway.chat({ messages: [{ role: "user", content: "hi" }], max_tokens: maxTokens })
  ) {
    types.push(event.type);
  }
  return types;
}

/** Opens a stream and reads its first event; `rest()` reads the others. */
async function openStream(gateway: GatewayClient) {
  const iterator = gateway.chat({ messages: [{ role: "user", content: "tell me" }], max_tokens: 400 })[
    Symbol.asyncIterator
  ]();
  const first = await iterator.next();
  assert.equal(first.done, false);
  return {
    async rest(): Promise<string[]> {
      const types = [first.value.type];
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        types.push(next.value.type);
      }
      return types;
    },
  };
}

Deno.test("Rehearsal: single box installed, run as an unprivileged user, upgraded and rolled back with streams open", async () => {
  await using redis = await startRedis();
  const id = await unusedId();
  const host = await installHost("gateway", id);
  try {
    // install.sh's ownership: what the service reads is root:GROUP, group-readable, not writable.
    for (
      const [path, mode] of [["/etc/privacy-gateway", 0o750], [
        "/etc/privacy-gateway/gateway.env",
        0o640,
      ]] as const
    ) {
      const stat = await Deno.stat(`${host.root}${path}`);
      assert.equal(stat.mode! & 0o777, mode, path);
      assert.equal(stat.gid, id, `${path} belongs to the service's group`);
    }
    const port = freePort();
    // The example's local Redis (token mode's spent set): here on a free port.
    const values = await editEnv(host, await Deno.readTextFile(host.envFile), {
      PG_HOST: "127.0.0.1",
      PG_PORT: String(port),
      PG_REDIS_URL: redis.url,
    });
    assert.equal(values.get("PG_AUTH"), "token", "the shipped single-box example is in token mode");
    const flags = await compiledFlags(host);
    assert.equal(
      flags.filter((f) => f.startsWith("--allow-run")).join(),
      `--allow-run=${values.get("PG_LLAMA_SERVER_BIN")}`,
    );
    await mustSh("bash", [
      "scripts/install.sh",
      "--root",
      host.root,
      "--group",
      String(id),
      "--binary",
      await makeBuild(host, 1, flags),
    ]);

    const pin = await identity(host, values.get("PG_IDENTITY_KEY_FILE")!);
    await place(values.get("PG_MODEL_PATH")!, generateTinyModel(), id);
    const tlsCa = `${host.root}/tls-ca`;
    await mustSh("bash", ["scripts/make-test-ca.sh", tlsCa]);
    await place(values.get("PG_TLS_CERT_FILE")!, await Deno.readTextFile(`${tlsCa}/node.pem`), id);
    await place(values.get("PG_TLS_KEY_FILE")!, await Deno.readTextFile(`${tlsCa}/node-key.pem`), id);
    await runtimeDirectory(host);
    await stateDirectory(host);

    const started = performance.now();
    await mustSh("bash", ["-c", host.restartCommand]);
    await waitForLog(host, "supervisor.ready");
    const listening = await waitForLog(host, "gateway.listening");
    console.log(
      `started as uid ${id} under the compiled grants in ${Math.round(performance.now() - started)} ms`,
    );
    const url = String(listening.url);
    const ca = await Deno.readTextFile(`${tlsCa}/ca.pem`);
    using c = client(url, pin, ca);
    // The app at start: a batch of tokens, issued under the compiled grants (keys file, Redis).
    assert.equal(await c.gateway.prefetchTokens(), 20);
    assert.equal(c.gateway.tokenMode, true, "the app spends tokens against the shipped configuration");
    await assertTokenKeysFile(host, values.get("PG_TOKEN_KEYS_FILE")!);
    // A copy of the app's token store: an attacker who captured them replays the spent ones later.
    const issued = await c.store.load();
    assert.equal((await chat(c.gateway)).at(-1), "done");

    // Upgrade to build 2 with a stream open across the switch: the old process drains it.
    const stream = await openStream(c.gateway);
    const before = (await serviceLogs(host)).length;
    const upgrade = sh("bash", [
      "scripts/upgrade.sh",
      "--root",
      host.root,
      "--binary",
      await makeBuild(host, 2, flags),
      "--restart-command",
      host.restartCommand,
      "--timeout",
      "60",
    ]);
    await waitForLog(host, "gateway.shutdown_started", before);
    assert.equal((await stream.rest()).at(-1), "done", "the stream open during the upgrade did not finish");
    const upgraded = await upgrade;
    assert.equal(upgraded.code, 0, upgraded.stderr);
    assert.match(await Deno.readTextFile(host.log), /privacy-gateway build 2/);
    assert.equal((await chat(c.gateway)).at(-1), "done");
    // That chat, in build 2, spent a token build 1 issued: the issuer keys file outlived the process. Every
    // token spent so far, replayed now, is refused: the spent set lives in Redis, not in the old process.
    const left = new Set((await c.store.load()).map((t) => t.token));
    const spent = issued.filter((t) => !left.has(t.token));
    assert.equal(spent.length, 3, "first chat, the stream across the upgrade, the chat after it");
    for (const token of spent) assert.equal(await spendOnly(url, pin, ca, token), "401 token_spent");

    // A release that never becomes ready: upgrade.sh rolls back to build 2 by itself.
    const open = await openStream(c.gateway);
    const mark = (await serviceLogs(host)).length;
    const forced = sh("bash", [
      "scripts/upgrade.sh",
      "--root",
      host.root,
      "--binary",
      await makeBuild(host, 3, flags, true),
      "--restart-command",
      host.restartCommand,
      "--timeout",
      "5",
    ]);
    await waitForLog(host, "gateway.shutdown_started", mark);
    assert.equal(
      (await open.rest()).at(-1),
      "done",
      "the stream open during the failed upgrade did not finish",
    );
    const rolledBack = await forced;
    assert.equal(rolledBack.code, 1);
    assert.match(rolledBack.stderr, /rolling back/);
    assert.equal(
      await Deno.readTextFile(`${host.root}/usr/bin/privacy-gateway`),
      await Deno.readTextFile(`${host.root}/dist/privacy-gateway-2`),
    );
    await waitForLog(host, "gateway.listening", mark + 1);
    assert.equal((await chat(c.gateway)).at(-1), "done");
  } finally {
    await stopService(host);
    assert.equal(await leftovers(id), "", "a process of the service account outlived the service");
    await Deno.remove(host.root, { recursive: true });
  }
});

Deno.test("Rehearsal: router + node over mTLS from mtls-ca.sh, Redis shared, both as unprivileged users", async () => {
  await using redis = await startRedis();
  const id = await unusedId();
  const node = await installHost("node", id);
  const router = await installHost("gateway", id);
  try {
    // The CA lives on the router; the node's certificate and key are copied to the node.
    const mtls = `${router.root}/etc/privacy-gateway/mtls`;
    const ca = (...args: string[]) =>
      mustSh("bash", ["scripts/mtls-ca.sh", "--dir", mtls, "--group", String(id), ...args]);
    await ca("init");
    await ca("issue-router", "router");
    await ca("issue-node", "node", "127.0.0.1");
    const nodeMtls = `${node.root}/etc/privacy-gateway/mtls`;
    await place(`${nodeMtls}/ca.pem`, await Deno.readTextFile(`${mtls}/ca.pem`), id);
    await place(`${nodeMtls}/node.pem`, await Deno.readTextFile(`${mtls}/node.pem`), id);
    await place(`${nodeMtls}/node-key.pem`, await Deno.readTextFile(`${mtls}/node-key.pem`), id);

    const nodeListen = `127.0.0.1:${freePort()}`;
    const nodeValues = await editEnv(node, await Deno.readTextFile(node.envFile), {
      PG_NODE_LISTEN: nodeListen,
    });
    await mustSh("bash", [
      "scripts/install.sh",
      "--root",
      node.root,
      "--role",
      "node",
      "--group",
      String(id),
      "--binary",
      await makeBuild(node, 1, await compiledFlags(node)),
    ]);
    await place(nodeValues.get("PG_MODEL_PATH")!, generateTinyModel(), id);
    await runtimeDirectory(node);

    // The router's env file: the router example, as the docs say, with this node and Redis.
    const routerValues = await editEnv(
      router,
      await Deno.readTextFile(`${REPO}/deploy/privacy-gateway-router.env.example`),
      {
        PG_PORT: String(freePort()),
        PG_NODES: `https://${nodeListen}`,
        PG_REDIS_URL: redis.url,
      },
    );
    const routerFlags = await compiledFlags(router);
    assert.equal(routerFlags.some((f) => f.startsWith("--allow-run")), false, "a router runs no program");
    await mustSh("bash", [
      "scripts/install.sh",
      "--root",
      router.root,
      "--group",
      String(id),
      "--binary",
      await makeBuild(router, 1, routerFlags),
    ]);
    const pin = await identity(router, routerValues.get("PG_IDENTITY_KEY_FILE")!);
    // The router too: its edge relays connections over sockets in the runtime directory.
    await runtimeDirectory(router);
    await stateDirectory(router);

    await mustSh("bash", ["-c", node.restartCommand]);
    await waitForLog(node, "supervisor.ready");
    await mustSh("bash", ["-c", router.restartCommand]);
    const listening = await waitForLog(router, "gateway.listening");
    const url = String(listening.url);
    const deadline = Date.now() + 20_000;
    while ((await fetch(`${url}/ready`).then(async (r) => (await r.body?.cancel(), r.status))) !== 200) {
      assert.ok(
        Date.now() < deadline,
        `the router never became ready:\n${await Deno.readTextFile(router.log)}`,
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    using c = client(url, pin);
    assert.equal((await chat(c.gateway)).at(-1), "done");
    assert.equal(c.gateway.tokenMode, true);
    await assertTokenKeysFile(router, routerValues.get("PG_TOKEN_KEYS_FILE")!);
    const keys = await sh("redis-cli", ["-p", String(redis.port), "DBSIZE"]);
    assert.ok(Number(keys.stdout.trim()) > 0, "the router stored nothing in Redis");

    // `check` with the installed binary, as the service user, on both machines.
    for (const host of [router, node]) {
      const check = await sh("setpriv", [
        `--reuid=${id}`,
        `--regid=${id}`,
        "--clear-groups",
        "--",
        "env",
        "-i",
        `PG_ENV_FILE=${host.envFile}`,
        `${host.root}/usr/bin/privacy-gateway`,
        "check",
        "--role",
        host.role,
      ]);
      assert.equal(check.code, 0, `${host.role}: ${check.stdout}${check.stderr}`);
    }

    // upgrade.sh (issue-12a) asks a node's llama-server at $ROOT + PG_RUNTIME_DIR, reading the env file as
    // the target machine's paths; the rehearsal's env file holds this machine's (already under the root).
    // The link makes both readings meet; see the report of issue 12 (branch issue-12b).
    const doubled = `${node.root}${node.root}/run`;
    await Deno.mkdir(doubled.slice(0, doubled.lastIndexOf("/")), { recursive: true });
    await Deno.symlink(`${node.root}/run`, doubled);

    // Upgrade the node with a router stream open across the switch.
    const stream = await openStream(c.gateway);
    const mark = (await serviceLogs(node)).length;
    const upgraded = sh("bash", [
      "scripts/upgrade.sh",
      "--root",
      node.root,
      "--role",
      "node",
      "--binary",
      await makeBuild(node, 2, await compiledFlags(node)),
      "--restart-command",
      node.restartCommand,
    ]);
    assert.equal((await stream.rest()).at(-1), "done");
    const result = await upgraded;
    assert.equal(result.code, 0, `${result.stderr}\n${await Deno.readTextFile(node.log)}`);
    await waitForLog(node, "supervisor.ready", mark);
  } finally {
    await stopService(router);
    await stopService(node);
    assert.equal(await leftovers(id), "", "a process of the service account outlived the service");
    await Deno.remove(router.root, { recursive: true });
    await Deno.remove(node.root, { recursive: true });
  }
});
