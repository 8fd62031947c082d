/**
 * The product's permissions (scripts/permissions.ts): the gateway serves a full encrypted chat with
 * exactly those flags and the real llama-server; a probe under the same flags cannot write files, reach
 * unlisted hosts, run other programs, read other variables or load native code; and llama-server dies
 * with the gateway even when the gateway is killed with SIGKILL.
 */
import assert from "node:assert/strict";
import { GatewayClient } from "../src/client/mod.ts";
import { permissionFlags, scopeFromEnv } from "../scripts/permissions.ts";
import { llamaServerBin, privateTempDir } from "./helpers/gateway.ts";
import { spawnGateway } from "./helpers/gateway_process.ts";
import { alive, waitFor } from "./helpers/process.ts";

Deno.test("The gateway with the product's own permission flags serves a full encrypted chat", async () => {
  const dir = await privateTempDir("pg-perm-");
  const gateway = await spawnGateway({ PG_LLAMA_SERVER_BIN: llamaServerBin(), PG_RUNTIME_DIR: dir });
  try {
    assert.ok(await waitFor(() => gateway.logs().some((l) => l.event === "supervisor.ready"), 20_000));
    const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
    const events = [];
    for await (
      const event of client.chat({ messages: [{ role: "user", content: "hello" }], max_tokens: 10 })
    ) events.push(event);
    assert.equal(events.at(-1)?.type, "done");
    assert.ok(events.some((e) => e.type === "text"));
  } finally {
    const status = await gateway.stop();
    assert.equal(status.code, 0, gateway.output());
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A probe under the product's permission flags is denied writes, unlisted hosts, programs, env and FFI", async () => {
  const dir = await privateTempDir("pg-probe-");
  const flags = permissionFlags(
    scopeFromEnv("gateway", { PG_LLAMA_SERVER_BIN: llamaServerBin(), PG_RUNTIME_DIR: dir }),
  );
  assert.equal(flags.some((f) => f === "-A" || f === "--allow-all" || f.startsWith("--allow-ffi")), false);
  const probe = new URL("./helpers/permission_probe.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, probe],
    env: { NO_COLOR: "1" },
  }).output();
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  assert.equal(lines.length, 6, lines.join("\n"));
  for (const line of lines) assert.match(line, /^denied: /);
  await assert.rejects(Deno.stat("/tmp/pg-probe-escape.txt"), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("llama-server dies with the gateway even when the gateway is killed with SIGKILL", async () => {
  const dir = await privateTempDir("pg-kill-");
  const gateway = await spawnGateway({ PG_LLAMA_SERVER_BIN: llamaServerBin(), PG_RUNTIME_DIR: dir });
  try {
    let pid = 0;
    assert.ok(
      await waitFor(() => {
        const started = gateway.logs().find((l) => l.event === "supervisor.ready");
        pid = Number(started?.pid ?? 0);
        return pid > 0;
      }, 20_000),
      "llama-server never became ready",
    );
    assert.ok(alive(pid));
    await gateway.stop("SIGKILL");
    assert.ok(await waitFor(() => !alive(pid), 2000), "llama-server outlived its gateway");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("The gateway exits 78 with one line per problem on invalid configuration", async () => {
  const flags = permissionFlags(scopeFromEnv("gateway", { PG_RUNTIME_DIR: "/nonexistent" }));
  const main = new URL("../src/main.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, main, "serve"],
    env: { PG_PORT: "http", PG_PROFILE: "staging", NO_COLOR: "1" },
    clearEnv: true,
  }).output();
  assert.equal(output.code, 78);
  const text = new TextDecoder().decode(output.stderr);
  assert.match(text, /^Invalid configuration:\n/);
  assert.match(text, /^ {2}PG_PORT: expected an integer/m);
  assert.match(text, /^ {2}PG_PROFILE: expected one of development, production$/m);
  assert.doesNotMatch(text, /at .*\.ts:\d+/, "no stack trace");
});

Deno.test("compile.sh --env-file bakes only what that env file needs: the node's llama-server and nothing else to run", async () => {
  const output = await new Deno.Command("bash", {
    args: [
      "scripts/compile.sh",
      "--dry-run",
      "--role",
      "node",
      "--env-file",
      "deploy/privacy-gateway-node.env.example",
    ],
    cwd: new URL("..", import.meta.url).pathname,
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const line = new TextDecoder().decode(output.stdout);
  assert.match(line, / --allow-run=\/usr\/lib\/privacy-gateway\/llama-server /);
  assert.match(line, / --allow-net=10\.88\.0\.2:9443\\,unix:\/run\/privacy-gateway\/llama\.sock /);
  assert.match(line, /--allow-read=\/etc\/privacy-gateway\/node\.env\\,/);
  assert.doesNotMatch(line, /--v8-flags/, "a node keeps V8's default young generation");
  assert.doesNotMatch(line, /setpriv|--allow-all|--allow-ffi|--allow-env=[^ ]*OTEL/);
});

Deno.test("compile.sh bakes the young generation's cap from the env file's PG_MAX_CONCURRENT_STREAMS", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "pg-compile-" });
  const example = await Deno.readTextFile(`${root}deploy/privacy-gateway.env.example`);
  assert.match(example, /^PG_MAX_CONCURRENT_STREAMS=\d+$/m, "the example sets the capacity");
  const bake = async (streams: number) => {
    const text = example.replace(/^PG_MAX_CONCURRENT_STREAMS=\d+$/m, `PG_MAX_CONCURRENT_STREAMS=${streams}`);
    await Deno.writeTextFile(`${dir}/gateway.env`, text);
    const output = await new Deno.Command("bash", {
      args: ["scripts/compile.sh", "--dry-run", "--env-file", `${dir}/gateway.env`],
      cwd: root,
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    return new TextDecoder().decode(output.stdout).match(/--v8-flags=[^ ]*/g);
  };
  try {
    assert.deepEqual(await bake(32), ["--v8-flags=--max-semi-space-size=8"]);
    assert.deepEqual(await bake(300), ["--v8-flags=--max-semi-space-size=16"]);
    assert.deepEqual(await bake(5000), ["--v8-flags=--max-semi-space-size=32"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile.sh refuses an env file that would let the binary run setpriv, or that is invalid: exit 78, one line per problem", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pg-compile-" });
  const compile = async (text: string) => {
    await Deno.writeTextFile(`${dir}/gateway.env`, text);
    const output = await new Deno.Command("bash", {
      args: ["scripts/compile.sh", "--dry-run", "--env-file", `${dir}/gateway.env`],
      cwd: new URL("..", import.meta.url).pathname,
    }).output();
    return {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
  };
  const setpriv = await compile(
    "PG_PROFILE=development\nPG_RUNTIME_DIR=/run/pg\nPG_LLAMA_SERVER_BIN=/usr/lib/pg/llama-server\n",
  );
  assert.equal(setpriv.code, 78);
  assert.equal(setpriv.stdout, "", "no deno compile command");
  assert.match(
    setpriv.stderr,
    /^ {2}PG_LLAMA_GUARD: a compiled build runs llama-server and nothing else.*set PG_LLAMA_GUARD=none/m,
  );
  const invalid = await compile("PG_PORT=http\nPG_PROFILE=staging\n");
  assert.equal(invalid.code, 78);
  assert.match(invalid.stderr, /^ {2}PG_PORT: expected an integer/m);
  assert.match(invalid.stderr, /^ {2}PG_PROFILE: expected one of development, production$/m);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("A production build of every shipped env example can run llama-server and nothing else", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const probe = new URL("./helpers/permission_probe.ts", import.meta.url).pathname;
  for (
    const [example, role] of [
      ["privacy-gateway.env.example", "gateway"],
      ["privacy-gateway-node.env.example", "node"],
      ["privacy-gateway-router.env.example", "gateway"],
      ["privacy-gateway-development.env.example", "gateway"],
    ] as const
  ) {
    const built = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "scripts/permissions.ts",
        "--role",
        role,
        "--env-file",
        `deploy/${example}`,
      ],
      cwd: root,
    }).output();
    assert.equal(built.code, 0, example);
    const flags = new TextDecoder().decode(built.stdout).trim().split("\n");
    const run = flags.filter((f) => f.startsWith("--allow-run"));
    assert.ok(
      run.length === 0 || run[0] === "--allow-run=/usr/lib/privacy-gateway/llama-server",
      `${example}: ${run}`,
    );
    const output = await new Deno.Command(Deno.execPath(), { args: ["run", ...flags, probe] }).output();
    const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
    for (const line of lines) assert.match(line, /^denied: /, `${example}: ${line}`);
  }
});
