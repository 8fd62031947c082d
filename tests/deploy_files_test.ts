/**
 * Finding 2 of issue 12: the service user must be able to read its own files, and certificate renewal must
 * keep what the admin set. The checks run as a real unprivileged uid/gid (setpriv), not only on modes.
 */
import assert from "node:assert/strict";
import { ownership, script, sh, tempDir } from "./helpers/deploy.ts";

// A uid/gid pair that no account on this machine uses: the staged service user.
const SERVICE = 64123;
const STRANGER = 64124;

/** Runs `cat PATH` as uid:gid (no supplementary groups) and returns the exit code. */
async function catAs(id: number, path: string): Promise<number> {
  const result = await sh("setpriv", [
    `--reuid=${id}`,
    `--regid=${id}`,
    "--clear-groups",
    "cat",
    path,
  ]);
  return result.code;
}

async function stagedInstall(stage: string, ...extra: string[]) {
  // The temporary folder is 0700; the staged tree below it must be reachable for the uid under test.
  await Deno.chmod(stage, 0o755);
  const result = await script("scripts/install.sh", ["--root", stage, "--group", String(SERVICE), ...extra]);
  assert.equal(result.code, 0, result.stderr);
  return result;
}

Deno.test("install.sh lets the service group read its configuration and models, and nobody else", async () => {
  await using stage = await tempDir("pg-stage-");
  await stagedInstall(stage.path);
  const root = stage.path;
  for (
    const dir of ["/etc/privacy-gateway", "/etc/privacy-gateway/mtls", "/var/lib/privacy-gateway/models"]
  ) {
    assert.deepEqual(await ownership(`${root}${dir}`), { uid: 0, gid: SERVICE, mode: 0o750 }, dir);
  }
  assert.deepEqual(await ownership(`${root}/etc/privacy-gateway/gateway.env`), {
    uid: 0,
    gid: SERVICE,
    mode: 0o640,
  });
  // What the service user and a stranger can actually do.
  await Deno.chmod(`${root}/etc`, 0o755);
  await Deno.chmod(`${root}/var/lib`, 0o755).catch(() => {});
  assert.equal(await catAs(SERVICE, `${root}/etc/privacy-gateway/gateway.env`), 0);
  assert.notEqual(await catAs(STRANGER, `${root}/etc/privacy-gateway/gateway.env`), 0);
  const write = await sh("setpriv", [
    `--reuid=${SERVICE}`,
    `--regid=${SERVICE}`,
    "--clear-groups",
    "touch",
    `${root}/etc/privacy-gateway/gateway.env`,
  ]);
  assert.notEqual(write.code, 0, "the service user must not be able to change its configuration");
});

Deno.test("install.sh repairs a gateway.env an older install left root:root, without replacing it", async () => {
  await using stage = await tempDir("pg-stage-");
  const env = `${stage.path}/etc/privacy-gateway/gateway.env`;
  await Deno.mkdir(`${stage.path}/etc/privacy-gateway`, { recursive: true, mode: 0o750 });
  await Deno.writeTextFile(env, "PG_PROFILE=production\n# customised\n", { mode: 0o600 });
  const result = await stagedInstall(stage.path);
  assert.match(result.stdout, /^changed: \/etc\/privacy-gateway\/gateway\.env \(mode 0640, group 64123\)$/m);
  assert.equal(await Deno.readTextFile(env), "PG_PROFILE=production\n# customised\n");
  assert.deepEqual(await ownership(env), { uid: 0, gid: SERVICE, mode: 0o640 });
  const again = await stagedInstall(stage.path);
  assert.doesNotMatch(again.stdout, /^(changed|installed|created):/m);
});

/** A CA with a router certificate and two node certificates, 7 days each. */
async function caWithThree(dir: string): Promise<void> {
  const ca = (...args: string[]) =>
    script("scripts/mtls-ca.sh", ["--dir", dir, "--group", String(SERVICE), ...args]);
  for (
    const step of [["init"], ["issue-router", "router"], ["issue-node", "node1", "10.88.0.2"], [
      "issue-node",
      "node2",
      "10.88.0.3",
    ]]
  ) {
    const result = await ca(...step);
    assert.equal(result.code, 0, result.stderr);
  }
}

Deno.test("mtls-ca.sh renew keeps each renewed key's owner, group and mode", async () => {
  await using tmp = await tempDir("pg-mtls-");
  const dir = `${tmp.path}/mtls`;
  await caWithThree(dir);
  assert.deepEqual(await ownership(`${dir}/router-key.pem`), { uid: 0, gid: SERVICE, mode: 0o640 });
  assert.deepEqual(await ownership(`${dir}/node1-key.pem`), { uid: 0, gid: 0, mode: 0o600 });
  assert.deepEqual(await ownership(`${dir}/`), { uid: 0, gid: SERVICE, mode: 0o750 });
  // The admin handed node1's key to the service user itself.
  await Deno.chown(`${dir}/node1-key.pem`, SERVICE, SERVICE);
  const before = await Deno.readTextFile(`${dir}/node1-key.pem`);
  const result = await script("scripts/mtls-ca.sh", ["--dir", dir, "renew", "--within-days", "30"]);
  assert.equal(result.code, 0, result.stderr);
  assert.notEqual(await Deno.readTextFile(`${dir}/node1-key.pem`), before, "node1 was not renewed");
  assert.deepEqual(await ownership(`${dir}/node1-key.pem`), { uid: SERVICE, gid: SERVICE, mode: 0o600 });
  assert.deepEqual(await ownership(`${dir}/router-key.pem`), { uid: 0, gid: SERVICE, mode: 0o640 });
  assert.deepEqual(await ownership(`${dir}/router.pem`), { uid: 0, gid: 0, mode: 0o644 });
  // Nothing of the work is left behind in the folder.
  const left = [];
  for await (const entry of Deno.readDir(dir)) if (entry.name.startsWith(".")) left.push(entry.name);
  assert.deepEqual(left, []);
});

Deno.test("mtls-ca.sh renew renews the others when one certificate is missing, then exits 1 naming it", async () => {
  await using tmp = await tempDir("pg-mtls-");
  const dir = `${tmp.path}/mtls`;
  await caWithThree(dir);
  // node1 sorts between node2 and router; the ones after a failure must still renew.
  await Deno.remove(`${dir}/node1.pem`);
  const router = await Deno.readTextFile(`${dir}/router.pem`);
  const node2 = await Deno.readTextFile(`${dir}/node2.pem`);
  const result = await script("scripts/mtls-ca.sh", ["--dir", dir, "renew", "--within-days", "30"]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /cannot renew node1\.pem: it is missing/);
  assert.match(result.stderr, /renewal failed for: node1$/m);
  assert.notEqual(await Deno.readTextFile(`${dir}/router.pem`), router, "router was not renewed");
  assert.notEqual(await Deno.readTextFile(`${dir}/node2.pem`), node2, "node2 was not renewed");
  const subject = await sh("openssl", [
    "x509",
    "-in",
    `${dir}/node2.pem`,
    "-noout",
    "-subject",
    "-ext",
    "subjectAltName",
  ]);
  assert.match(subject.stdout, /CN ?= ?node2/);
  assert.match(subject.stdout, /IP Address:10\.88\.0\.3/);
});

Deno.test("mtls-ca.sh renew needs no capability beyond what privacy-gateway-cert-renew.service keeps", async () => {
  const unit = await Deno.readTextFile(
    new URL("../systemd/privacy-gateway-cert-renew.service", import.meta.url),
  );
  const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)?.[1].trim().split(/\s+/) ?? [];
  assert.deepEqual(caps, ["CAP_CHOWN"]);
  await using tmp = await tempDir("pg-mtls-");
  const dir = `${tmp.path}/mtls`;
  await caWithThree(dir);
  await Deno.chown(`${dir}/node1-key.pem`, SERVICE, SERVICE);
  // Root, but only with the unit's capabilities (no CAP_DAC_OVERRIDE, no CAP_FOWNER).
  const bounding = ["-all", ...caps.map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`)].join(",");
  const result = await sh("setpriv", [
    `--bounding-set=${bounding}`,
    "--inh-caps=-all",
    "bash",
    `${new URL("../scripts/mtls-ca.sh", import.meta.url).pathname}`,
    "--dir",
    dir,
    "renew",
    "--within-days",
    "30",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /issued .*node1\.pem/);
  assert.deepEqual(await ownership(`${dir}/node1-key.pem`), { uid: SERVICE, gid: SERVICE, mode: 0o600 });
  assert.deepEqual(await ownership(`${dir}/router-key.pem`), { uid: 0, gid: SERVICE, mode: 0o640 });
});
