/**
 * The deployment kit as a whole: shellcheck on every script, staged runs producing the expected files,
 * dry runs touching nothing. Units: deploy_units_test.ts; one file per concern for the rest (deploy_*).
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;
// A WireGuard public key's shape (wg pubkey): 32 bytes of base64, ending in "=".
const NODE1_KEY = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

async function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(cmd, { args, cwd: root, env, stdin: "null" }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("shellcheck passes on every script", async () => {
  const scripts: string[] = [];
  for (const dir of ["scripts", "scripts/lib", ".ci"]) {
    for await (const entry of Deno.readDir(`${root}${dir}`)) {
      if (entry.isFile && (entry.name.endsWith(".sh") || entry.name === "run")) {
        scripts.push(`${dir}/${entry.name}`);
      }
    }
  }
  assert.ok(scripts.length >= 10, scripts.join(" "));
  const result = await sh("shellcheck", ["-x", ...scripts]);
  assert.equal(result.code, 0, result.stdout);
});

Deno.test("Deploy scripts staged under --root produce the expected files, and again change nothing", async () => {
  const stage = await Deno.makeTempDir({ prefix: "pg-stage-" });
  const binary = `${stage}-bin`;
  await Deno.writeTextFile(binary, "#!/bin/sh\n");
  const steps: [string, ...string[]][] = [
    ["scripts/install.sh", "--root", stage, "--binary", binary],
    ["scripts/install.sh", "--root", stage, "--role", "node", "--gpu"],
    ["scripts/harden-host.sh", "--root", stage],
    ["scripts/firewall.sh", "--root", stage, "--role", "router"],
    ["scripts/switch-env.sh", "--root", stage, "router"],
    ["scripts/wireguard.sh", "--root", stage, "keys"],
    [
      "scripts/wireguard.sh",
      "--root",
      stage,
      "router",
      "--address",
      "10.88.0.1/24",
      "--peer",
      `node1=${NODE1_KEY}=10.88.0.2`,
    ],
  ];
  for (const [script, ...args] of steps) {
    const result = await sh("bash", [script, ...args]);
    assert.equal(result.code, 0, `${script}: ${result.stderr}`);
  }
  for (
    const file of [
      "/usr/bin/privacy-gateway",
      "/usr/lib/privacy-gateway/mtls-ca.sh",
      "/etc/systemd/system/privacy-gateway.service",
      "/etc/systemd/system/privacy-gateway-node.service",
      "/etc/systemd/system/privacy-gateway-node.service.d/gpu.conf",
      "/etc/systemd/system/privacy-gateway-cert-renew.timer",
      "/etc/privacy-gateway/gateway.env",
      "/etc/privacy-gateway/node.env",
      "/etc/sysctl.d/90-privacy-gateway.conf",
      "/etc/systemd/coredump.conf.d/90-privacy-gateway.conf",
      "/etc/nftables.d/privacy-gateway.nft",
      "/etc/wireguard/wg0.conf",
    ]
  ) await Deno.stat(`${stage}${file}`);
  assert.match(
    await Deno.readTextFile(`${stage}/etc/sysctl.d/90-privacy-gateway.conf`),
    /fs\.suid_dumpable = 0/,
  );
  assert.match(await Deno.readTextFile(`${stage}/etc/privacy-gateway/gateway.env`), /PG_NODES=/);
  const wg = await Deno.readTextFile(`${stage}/etc/wireguard/wg0.conf`);
  assert.ok(wg.includes(`PublicKey = ${NODE1_KEY}\nAllowedIPs = 10.88.0.2/32`), wg);
  assert.equal((await Deno.stat(`${stage}/etc/wireguard/wg0.conf`)).mode! & 0o777, 0o600);
  // Idempotent: a second install changes nothing.
  const again = await sh("bash", ["scripts/install.sh", "--root", stage, "--binary", binary]);
  assert.doesNotMatch(again.stdout, /^installed:/m);
  await Deno.remove(stage, { recursive: true });
  await Deno.remove(binary);
});

Deno.test("Dry runs print what they would do and touch nothing", async () => {
  const stage = await Deno.makeTempDir({ prefix: "pg-dry-" });
  for (
    const [script, ...args] of [
      ["scripts/install.sh", "--dry-run", "--root", stage],
      ["scripts/harden-host.sh", "--dry-run", "--root", stage],
      ["scripts/firewall.sh", "--dry-run", "--root", stage, "--role", "node"],
      ["scripts/mtls-ca.sh", "--dry-run", "--dir", `${stage}/mtls`, "init"],
      ["scripts/wireguard.sh", "--dry-run", "--root", stage, "keys"],
      ["scripts/upgrade.sh", "--dry-run", "--root", stage, "--binary", "/bin/true"],
      ["scripts/compile.sh", "--dry-run", "--target", "all"],
    ]
  ) {
    const result = await sh("bash", [script, ...args]);
    assert.equal(result.code, 0, `${script}: ${result.stderr}`);
    assert.match(result.stdout, /would|deno compile/, script);
  }
  const left: string[] = [];
  for await (const entry of Deno.readDir(stage)) left.push(entry.name);
  assert.deepEqual(left, []);
  await Deno.remove(stage);
});

Deno.test("compile.sh bakes scoped permissions and no --allow-all into both targets", async () => {
  const result = await sh("bash", ["scripts/compile.sh", "--dry-run", "--target", "all"]);
  const lines = result.stdout.trim().split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0], /--target x86_64-unknown-linux-gnu/);
  assert.match(lines[1], /--target aarch64-unknown-linux-gnu/);
  for (const line of lines) {
    assert.doesNotMatch(line, /--allow-all|(^| )-A( |$)|--allow-ffi/);
    assert.match(line, /--allow-run=\/usr\/lib\/privacy-gateway\/llama-server/);
    // The runtime directory, and token mode's issuer keys file (and its rotation temporary), nothing else.
    assert.match(
      line,
      /--allow-write=\/var\/lib\/privacy-gateway\/tokens\/token-keys\.json\\?,\/var\/lib\/privacy-gateway\/tokens\/token-keys\.json\.tmp\\?,\/run\/privacy-gateway /,
    );
  }
});

/**
 * Whether `deno compile` can get denort without the network: DENORT_BIN names a file, or Deno's cache holds
 * the runtime for this version. Decided before the tests are registered, so that a missing denort shows as
 * ignored (with the reason in the name), never as a pass.
 */
function _denortAvailable(): boolean {
  const fromEnv = Deno.env.get("DENORT_BIN");
  if (fromEnv) return _isFile(fromEnv);
  const info = new Deno.Command("deno", { args: ["info", "--json"], stdout: "piped", stderr: "null" })
    .outputSync();
  if (!info.success) return false;
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
  return _isFile(`${denoDir}/dl/release/v${Deno.version.deno}/denort-x86_64-unknown-linux-gnu.zip`);
}

function _isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const DENORT = _denortAvailable();

async function _compile(out: string) {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
  };
  if (Deno.env.get("DENORT_BIN")) env.DENORT_BIN = Deno.env.get("DENORT_BIN")!;
  return await sh("bash", ["scripts/compile.sh", "--out", out], env);
}

Deno.test({
  name: `compile.sh builds a binary that starts${DENORT ? "" : " (skipped: no denort; set DENORT_BIN)"}`,
  ignore: !DENORT,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "pg-dist-" });
    try {
      const result = await _compile(out);
      assert.equal(result.code, 0, result.stderr);
      const binary = `${out}/privacy-gateway-gateway-x86_64`;
      console.log(`binary size: ${(await Deno.stat(binary)).size} bytes`);
      const version = await sh(binary, ["--version"]);
      assert.match(version.stdout, /^privacy-gateway \d+\.\d+\.\d+/);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: `compile.sh says clearly that denort is unreachable${
    DENORT ? " (skipped: denort is available)" : ""
  }`,
  ignore: DENORT,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "pg-dist-" });
    try {
      const result = await _compile(out);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /deno compile needs 'denort', which it downloads from Deno's servers/);
      assert.match(result.stderr, /set DENORT_BIN to a local denort binary/);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
