/**
 * Finding 4 of issue 12: scripts/upgrade.sh replaces binaries by rename (a running copy made `cp` fail with
 * "Text file busy"), waits for the readiness of the role it upgrades, and rolls back by itself.
 */
import assert from "node:assert/strict";
import { script, tempDir } from "./helpers/deploy.ts";

const CURRENT = "/usr/bin/privacy-gateway";

/** A staged root with an installed binary (a copy of `from`) and optionally a previous one. */
async function stage(root: string, from: string, previous?: string): Promise<void> {
  await Deno.mkdir(`${root}/usr/bin`, { recursive: true });
  await Deno.mkdir(`${root}/etc/privacy-gateway`, { recursive: true });
  await Deno.copyFile(from, `${root}${CURRENT}`);
  await Deno.chmod(`${root}${CURRENT}`, 0o755);
  if (previous) await Deno.copyFile(previous, `${root}${CURRENT}.previous`);
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([Deno.readFile(a), Deno.readFile(b)]);
  return x.length === y.length && x.every((byte, i) => byte === y[i]);
}

/** A free TCP port on loopback. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("upgrade.sh --rollback replaces a binary that is running, without 'Text file busy'", async () => {
  await using tmp = await tempDir("pg-upgrade-");
  const root = tmp.path;
  await stage(root, "/usr/bin/sleep", "/usr/bin/tail");
  // The installed binary is running (as the service would be): writing into it fails with ETXTBSY.
  const running = new Deno.Command(`${root}${CURRENT}`, { args: ["60"], stdin: "null" }).spawn();
  try {
    const result = await script("scripts/upgrade.sh", ["--root", root, "--rollback"]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Text file busy/);
    assert.ok(await sameFile(`${root}${CURRENT}`, "/usr/bin/tail"), "the previous binary is not in place");
    // The running process keeps its own (old) file and is not disturbed.
    const state = (await Deno.readTextFile(`/proc/${running.pid}/stat`)).split(") ")[1][0];
    assert.match(state, /[RS]/, "the running binary exited");
  } finally {
    running.kill("SIGKILL");
    await running.status;
  }
});

Deno.test("upgrade.sh installs over a running binary and keeps it as .previous", async () => {
  await using tmp = await tempDir("pg-upgrade-");
  const root = tmp.path;
  await stage(root, "/usr/bin/sleep");
  const running = new Deno.Command(`${root}${CURRENT}`, { args: ["60"], stdin: "null" }).spawn();
  try {
    const result = await script("scripts/upgrade.sh", ["--root", root, "--binary", "/usr/bin/tail"]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(await sameFile(`${root}${CURRENT}`, "/usr/bin/tail"));
    assert.ok(await sameFile(`${root}${CURRENT}.previous`, "/usr/bin/sleep"));
  } finally {
    running.kill("SIGKILL");
    await running.status;
  }
});

Deno.test("upgrade.sh rolls back by itself when the new binary never becomes ready", async () => {
  await using tmp = await tempDir("pg-upgrade-");
  const root = tmp.path;
  await stage(root, "/usr/bin/sleep");
  const port = freePort(); // nothing listens there
  await Deno.writeTextFile(`${root}/etc/privacy-gateway/gateway.env`, `PG_HOST=0.0.0.0\nPG_PORT=${port}\n`);
  const restarts = `${root}/restarts`;
  const result = await script("scripts/upgrade.sh", [
    "--root",
    root,
    "--binary",
    "/usr/bin/tail",
    "--timeout",
    "2",
    "--restart-command",
    `echo restart >>${restarts}`,
  ]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stderr, new RegExp(`127\\.0\\.0\\.1:${port}/ready did not become ready within 2s`));
  assert.match(result.stderr, /rolling back to the previous binary/);
  assert.ok(await sameFile(`${root}${CURRENT}`, "/usr/bin/sleep"), "not rolled back");
  assert.equal(await Deno.readTextFile(restarts), "restart\nrestart\n");
});

Deno.test("upgrade.sh asks the gateway's /ready on loopback at the env file's port", async () => {
  await using tmp = await tempDir("pg-upgrade-");
  const root = tmp.path;
  await stage(root, "/usr/bin/sleep");
  const asked: string[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    asked.push(new URL(request.url).pathname);
    return new Response("ok");
  });
  await Deno.writeTextFile(
    `${root}/etc/privacy-gateway/gateway.env`,
    `PG_HOST=0.0.0.0\nPG_PORT="${server.addr.port}"\n`,
  );
  const result = await script("scripts/upgrade.sh", [
    "--root",
    root,
    "--binary",
    "/usr/bin/tail",
    "--timeout",
    "10",
    "--restart-command",
    "true",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /privacy-gateway\.service is ready on the new binary/);
  assert.deepEqual([...new Set(asked)], ["/ready"]);
});

Deno.test("upgrade.sh --role node waits for the node's llama-server socket and mTLS port, not :8000/ready", async () => {
  await using tmp = await tempDir("pg-upgrade-");
  const root = tmp.path;
  await stage(root, "/usr/bin/sleep");
  // The node's two parts: llama-server on its private socket, the mTLS listener on PG_NODE_LISTEN.
  await Deno.mkdir(`${root}/run/privacy-gateway`, { recursive: true });
  const asked: string[] = [];
  await using llama = Deno.serve(
    { path: `${root}/run/privacy-gateway/llama.sock`, onListen: () => {} },
    (r) => {
      asked.push(new URL(r.url).pathname);
      return Response.json({ status: "ok" });
    },
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const connection of listener) connection.close();
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  await Deno.writeTextFile(
    `${root}/etc/privacy-gateway/node.env`,
    `PG_NODE_LISTEN=127.0.0.1:${port}\nPG_RUNTIME_DIR=/run/privacy-gateway\n`,
  );
  try {
    const upgrade = (binary: string) =>
      script("scripts/upgrade.sh", [
        "--root",
        root,
        "--role",
        "node",
        "--binary",
        binary,
        "--timeout",
        "5",
        "--restart-command",
        "true",
      ]);
    const ok = await upgrade("/usr/bin/tail");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /privacy-gateway-node\.service is ready on the new binary/);
    assert.deepEqual([...new Set(asked)], ["/health"]);
    // Without the mTLS listener the node is not ready: the upgrade rolls back.
    listener.close();
    await accepting.catch(() => {});
    const down = await upgrade("/usr/bin/head");
    assert.equal(down.code, 1, down.stdout);
    assert.match(
      down.stderr,
      new RegExp(`llama\\.sock /health and 127\\.0\\.0\\.1:${port} did not become ready`),
    );
    assert.ok(await sameFile(`${root}${CURRENT}`, "/usr/bin/tail"), "not rolled back");
  } finally {
    try {
      listener.close();
    } catch { /* closed above */ }
    void llama;
  }
});
