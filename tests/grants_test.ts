/**
 * Issue 12, finding 1: grants are built from the env file the service runs with, and checked at start-up.
 * Every shipped env example starts under the grants scripts/permissions.ts builds from it (the command
 * scripts/compile.sh runs), with nothing else in its environment but PG_ENV_FILE; a binary built from
 * another env file refuses to start with exit 78, naming each missing grant and the rebuild command;
 * `keys rotate --file` works under the compiled grants.
 */
import assert from "node:assert/strict";
import { GatewayClient } from "../src/client/mod.ts";
import { llamaGuard, loadConfig, missingGrants, requiredGrants } from "../src/config/mod.ts";
import { builtGrants, type DeployedProcess, stage, startDeployed } from "./helpers/deployed.ts";
import { startRedis } from "./helpers/redis.ts";
import { alive } from "./helpers/process.ts";

function assertNoPermissionError(process: DeployedProcess): void {
  assert.doesNotMatch(process.output(), /NotCapable|Requires \w+ access/, process.output());
}

Deno.test("deploy/privacy-gateway.env.example serves an encrypted chat over HTTPS under the grants built from it", async () => {
  await using staged = await stage("privacy-gateway.env.example", "gateway");
  const flags = await builtGrants("gateway", staged.envFile);
  assert.equal(flags.some((f) => /--allow-all|^-A$|--allow-ffi|setpriv/.test(f)), false, flags.join(" "));
  const gateway = startDeployed({ args: ["serve"], envFile: staged.envFile, flags });
  try {
    const listening = await gateway.waitFor("gateway.listening");
    await gateway.waitFor("supervisor.ready");
    const url = String(listening.url).replace("0.0.0.0", "127.0.0.1");
    assert.match(url, /^https:\/\//);
    const http = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(`${staged.root}/tls-ca/ca.pem`)],
    });
    try {
      const client = new GatewayClient({
        baseUrl: url,
        pin: staged.fingerprint,
        fetch: (input, init) => fetch(input, { ...init, client: http }),
      });
      const events = [];
      for await (const event of client.chat({ messages: [{ role: "user", content: "hi" }], max_tokens: 8 })) {
        events.push(event);
      }
      assert.equal(events.at(-1)?.type, "done", JSON.stringify(events));
      // Token mode as shipped: the chat spent one token of a batch issued under the same grants.
      assert.equal(client.tokenMode, true);
      assert.equal(await client.tokensLeft(), 19);
    } finally {
      http.close();
    }
  } finally {
    const status = await gateway.stop();
    assertNoPermissionError(gateway);
    assert.equal(status.code, 0, gateway.output());
  }
});

Deno.test("deploy/privacy-gateway-development.env.example starts under the grants built from it; llama-server stops with it without setpriv", async () => {
  await using staged = await stage("privacy-gateway-development.env.example", "gateway");
  const flags = await builtGrants("gateway", staged.envFile);
  const gateway = startDeployed({ args: ["serve"], envFile: staged.envFile, flags });
  let pid = 0;
  try {
    const listening = await gateway.waitFor("gateway.listening");
    pid = Number((await gateway.waitFor("supervisor.ready")).pid);
    // PG_LLAMA_GUARD=none: llama-server is the gateway's own child, not setpriv's.
    const parent = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ")[1];
    assert.equal(Number(parent), gateway.child.pid);
    const ready = await fetch(`${listening.url}/ready`);
    await ready.body?.cancel();
    assert.equal(ready.status, 200);
  } finally {
    const status = await gateway.stop();
    assertNoPermissionError(gateway);
    assert.equal(status.code, 0, gateway.output());
  }
  // The gateway stops its llama-server itself on SIGTERM (supervisor.stop), before it exits.
  assert.ok(pid > 0 && !alive(pid), "llama-server outlived the gateway");
});

Deno.test("deploy/privacy-gateway-router.env.example starts under the grants built from it (nodes unreachable)", async () => {
  await using staged = await stage("privacy-gateway-router.env.example", "gateway");
  const flags = await builtGrants("gateway", staged.envFile);
  // A router runs no program, writes only its token issuer keys file, and has no UNIX socket of its own
  // (the edge calls the application in process): nothing under its runtime directory.
  assert.equal(flags.some((f) => f.startsWith("--allow-run")), false);
  const keys = staged.values.get("PG_TOKEN_KEYS_FILE");
  assert.deepEqual(flags.filter((f) => f.startsWith("--allow-write")), [`--allow-write=${keys},${keys}.tmp`]);
  assert.equal(flags.some((f) => f.includes(staged.values.get("PG_RUNTIME_DIR")!)), false, flags.join(" "));
  assert.equal(flags.some((f) => f.startsWith("--allow-sys")), false, flags.join(" "));
  const gateway = startDeployed({ args: ["serve"], envFile: staged.envFile, flags });
  try {
    const listening = await gateway.waitFor("gateway.listening");
    const keys = await fetch(`${listening.url}/api/pubkey`);
    await keys.body?.cancel();
    assert.equal(keys.status, 200);
    // The nodes of the example (10.88.0.x) do not exist here: not ready, but not a permission error.
    const ready = await fetch(`${listening.url}/ready`);
    await ready.body?.cancel();
    assert.equal(ready.status, 503);
  } finally {
    const status = await gateway.stop();
    assertNoPermissionError(gateway);
    assert.equal(status.code, 0, gateway.output());
  }
});

Deno.test("deploy/privacy-gateway-node.env.example starts under the grants built from it", async () => {
  await using staged = await stage("privacy-gateway-node.env.example", "node");
  const flags = await builtGrants("node", staged.envFile);
  const node = startDeployed({ args: ["node"], envFile: staged.envFile, flags });
  try {
    await node.waitFor("node.listening");
    await node.waitFor("supervisor.ready");
  } finally {
    const status = await node.stop();
    assertNoPermissionError(node);
    assert.equal(status.code, 0, node.output());
  }
});

Deno.test("A build from another env file refuses to start: exit 78, one line per missing grant, the rebuild command", async () => {
  await using router = await stage("privacy-gateway-router.env.example", "gateway");
  await using single = await stage("privacy-gateway.env.example", "gateway");
  // The router's binary, installed on the single box (where the unit's PG_ENV_FILE is the same path).
  const flags = await builtGrants("gateway", router.envFile, single.envFile);
  const started = performance.now();
  const gateway = startDeployed({ args: ["serve"], envFile: single.envFile, flags });
  const status = await gateway.exited();
  const text = gateway.output();
  assert.equal(status.code, 78, text);
  const v = single.values;
  const lines = text.trim().split("\n");
  assert.equal(
    lines[0],
    "Cannot start: this build's permissions do not fit its configuration; missing grants:",
  );
  assert.deepEqual(
    lines.slice(1, -1).sort(),
    [
      `  --allow-net=0.0.0.0:${v.get("PG_PORT")} (PG_HOST:PG_PORT)`,
      `  --allow-net=unix:${v.get("PG_RUNTIME_DIR")}/llama.sock (PG_RUNTIME_DIR (llama-server socket))`,
      `  --allow-read=${v.get("PG_IDENTITY_KEY_FILE")} (PG_IDENTITY_KEY_FILE)`,
      `  --allow-read=${v.get("PG_MODEL_PATH")} (PG_MODEL_PATH)`,
      `  --allow-read=${v.get("PG_RUNTIME_DIR")} (PG_RUNTIME_DIR)`,
      `  --allow-read=${v.get("PG_TLS_CERT_FILE")} (PG_TLS_CERT_FILE)`,
      `  --allow-read=${v.get("PG_TLS_KEY_FILE")} (PG_TLS_KEY_FILE)`,
      `  --allow-run=${v.get("PG_LLAMA_SERVER_BIN")} (PG_LLAMA_SERVER_BIN)`,
      `  --allow-sys=uid (PG_RUNTIME_DIR (owner check))`,
      `  --allow-write=${v.get("PG_RUNTIME_DIR")} (PG_RUNTIME_DIR)`,
      // Each box has its own Redis and token keys file here (the staged roots differ).
      `  --allow-net=${new URL(v.get("PG_REDIS_URL")!).host} (PG_REDIS_URL)`,
      `  --allow-read=${v.get("PG_TOKEN_KEYS_FILE")} (PG_TOKEN_KEYS_FILE)`,
      `  --allow-write=${v.get("PG_TOKEN_KEYS_FILE")} (PG_TOKEN_KEYS_FILE)`,
      `  --allow-read=${v.get("PG_TOKEN_KEYS_FILE")}.tmp (PG_TOKEN_KEYS_FILE (rotation))`,
      `  --allow-write=${v.get("PG_TOKEN_KEYS_FILE")}.tmp (PG_TOKEN_KEYS_FILE (rotation))`,
    ].sort(),
  );
  assert.equal(
    lines.at(-1),
    `Rebuild the binary from the env file it runs with: scripts/compile.sh --role gateway --env-file ${single.envFile}`,
  );
  // Refused before anything started: no listener, no llama-server.
  assert.doesNotMatch(text, /gateway\.listening|supervisor\./);
  console.log(`refusal took ${Math.round(performance.now() - started)} ms`);
});

Deno.test("keys rotate --file works under the compiled grants for PG_HPKE_KEYS_FILE, and only for it; the gateway serves those keys", async () => {
  await using redis = await startRedis();
  await using staged = await stage("privacy-gateway-router.env.example", "gateway", (v) => {
    v.set(
      "PG_HPKE_KEYS_FILE",
      `${v.get("PG_IDENTITY_KEY_FILE")!.replace("identity.json", "hpke-keys.json")}`,
    );
    // A shared keys file goes with a shared replay store.
    v.set("PG_REDIS_URL", redis.url);
  });
  const flags = await builtGrants("gateway", staged.envFile);
  const keysFile = staged.values.get("PG_HPKE_KEYS_FILE")!;
  for (const round of [1, 2]) {
    const rotate = startDeployed({
      args: ["keys", "rotate", "--file", keysFile],
      envFile: staged.envFile,
      flags,
    });
    const status = await rotate.exited();
    assert.equal(status.code, 0, `round ${round}: ${rotate.output()}`);
  }
  const file = JSON.parse(await Deno.readTextFile(keysFile));
  assert.equal(file.keys.length >= 2, true);
  assert.equal((await Deno.stat(keysFile)).mode! & 0o777, 0o600);
  const elsewhere = `${staged.root}/etc/privacy-gateway/other-keys.json`;
  const refused = startDeployed({
    args: ["keys", "rotate", "--file", elsewhere],
    envFile: staged.envFile,
    flags,
  });
  const status = await refused.exited();
  assert.equal(status.code, 1);
  assert.match(refused.output(), /this build may write only its PG_HPKE_KEYS_FILE/);
  await assert.rejects(Deno.stat(elsewhere), Deno.errors.NotFound);

  // The gateway built from the same env file publishes the keys of the file.
  const gateway = startDeployed({ args: ["serve"], envFile: staged.envFile, flags });
  try {
    const listening = await gateway.waitFor("gateway.listening");
    const published = await (await fetch(`${listening.url}/api/pubkey`)).text();
    for (const key of file.keys) assert.match(published, new RegExp(`"key_id":${key.key_id}\\b`), published);
  } finally {
    assert.equal((await gateway.stop()).code, 0, gateway.output());
  }
});

Deno.test("A router built for PG_MODEL_FORMAT=chat with nodes refuses to start (exit 78), naming the setting", async () => {
  await using staged = await stage("privacy-gateway-router.env.example", "gateway", (v) => {
    v.set("PG_MODEL_FORMAT", "chat");
  });
  const gateway = startDeployed({
    args: ["serve"],
    envFile: staged.envFile,
    flags: await builtGrants("gateway", staged.envFile).catch((error) => {
      // compile.sh refuses it already; start the binary a build from before this rule would have made.
      assert.match(
        String(error),
        /PG_MODEL_FORMAT: inference nodes \(PG_NODES\) serve the harmony format only/,
      );
      return ["--no-prompt", `--allow-read=${staged.envFile}`, "--allow-env=PG_*"];
    }),
  });
  assert.equal((await gateway.exited()).code, 78);
  assert.match(
    gateway.output(),
    /^ {2}PG_MODEL_FORMAT: inference nodes \(PG_NODES\) serve the harmony format only/m,
  );
});

Deno.test("The schema refuses PG_MODEL_FORMAT=chat with PG_NODES (nodes forward no chat endpoint)", {
  permissions: "none",
}, () => {
  const env = {
    PG_MODEL_FORMAT: "chat",
    PG_LOCAL_LLAMA: "false",
    PG_NODES: "https://10.88.0.2:9443",
    PG_MTLS_CA_FILE: "/m/ca.pem",
    PG_MTLS_CERT_FILE: "/m/r.pem",
    PG_MTLS_KEY_FILE: "/m/r-key.pem",
  };
  const refused = loadConfig(env, () => "");
  assert.equal(refused.ok, false);
  assert.deepEqual(!refused.ok && refused.problems, [
    "PG_MODEL_FORMAT: inference nodes (PG_NODES) serve the harmony format only: remove PG_MODEL_FORMAT=chat",
  ]);
  assert.equal(loadConfig({ ...env, PG_MODEL_FORMAT: "harmony" }, () => "").ok, true);
});

Deno.test("llamaGuard() is setpriv in development and none in production, unless set", {
  permissions: "none",
}, () => {
  const config = (env: Record<string, string>) => {
    const loaded = loadConfig(env, () => "");
    assert.ok(loaded.ok);
    return loaded.config;
  };
  assert.equal(llamaGuard(config({})), "setpriv");
  assert.equal(
    llamaGuard(
      config({
        PG_PROFILE: "production",
        PG_IDENTITY_KEY_FILE: "/i",
        PG_MODEL_PATH: "/m",
        PG_LLAMA_SERVER_BIN: "/b",
        PG_RUNTIME_DIR: "/r",
        PG_AUTH: "device",
      }),
    ),
    "none",
  );
  assert.equal(llamaGuard(config({ PG_LLAMA_GUARD: "none" })), "none");
});

Deno.test(
  "missingGrants() names each grant Deno does not report as granted, with the setting that needs it",
  { permissions: "none" },
  () => {
    const loaded = loadConfig(
      { PG_PORT: "8443", PG_REDIS_URL: "redis://10.0.0.5", PG_BACKEND: "echo" },
      () => "",
    );
    assert.ok(loaded.ok);
    const grants = requiredGrants(loaded.config, "gateway");
    const granted = new Set(["PG_*", "127.0.0.1:8443"]);
    const query = (d: Deno.PermissionDescriptor) =>
      granted.has(String((d as { variable?: string }).variable ?? (d as { host?: string }).host))
        ? "granted"
        : "prompt";
    assert.deepEqual(missingGrants(grants, query), [
      "--allow-net=10.0.0.5:6379 (PG_REDIS_URL)",
      "--allow-env=REDIS_DEBUG_MAINTENANCE (PG_REDIS_URL (read by the redis client))",
      "--allow-env=REDIS_EMIT_DIAGNOSTICS (PG_REDIS_URL (read by the redis client))",
    ]);
    // An echo gateway runs nothing and writes nothing.
    assert.equal(grants.some((g) => g.kind === "run" || g.kind === "write"), false);
  },
);

Deno.test(
  "requiredGrants() in token mode reads and writes the issuer keys file and its temporary file, nothing else",
  { permissions: "none" },
  () => {
    const base = {
      PG_REDIS_URL: "redis://10.0.0.5",
      PG_BACKEND: "echo",
      PG_TOKEN_KEYS_FILE: "/etc/pg/tokens.json",
    };
    const token = loadConfig({ ...base, PG_AUTH: "token" }, () => "");
    assert.ok(token.ok);
    const files = requiredGrants(token.config, "gateway")
      .filter((g) => g.kind === "read" || g.kind === "write")
      .map((g) => `${g.kind} ${g.value}`);
    assert.deepEqual(files, [
      "read /etc/pg/tokens.json",
      "write /etc/pg/tokens.json",
      "read /etc/pg/tokens.json.tmp",
      "write /etc/pg/tokens.json.tmp",
    ]);
    // Device mode never touches the file, even when it is named.
    const device = loadConfig({ ...base, PG_AUTH: "device" }, () => "");
    assert.ok(device.ok);
    assert.equal(
      requiredGrants(device.config, "gateway").some((g) => g.value.includes("tokens.json")),
      false,
    );
  },
);
