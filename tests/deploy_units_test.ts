/**
 * The systemd units in systemd/: exposure scores (systemd-analyze security --offline, printed), what
 * systemd's own parser accepts (systemd-analyze verify), and the settings each finding of issue 12 needs.
 */
import assert from "node:assert/strict";
import { ROOT, sh, tempDir } from "./helpers/deploy.ts";

const SERVICES = [
  "privacy-gateway.service",
  "privacy-gateway-node.service",
  "privacy-gateway-cert-renew.service",
  "privacy-gateway-keys-rotate.service",
  "privacy-gateway-notify@.service",
];
const TIMERS = ["privacy-gateway-cert-renew.timer", "privacy-gateway-keys-rotate.timer"];

/** Copies units (and drop-in folders) into a temporary folder with ExecStart binaries this machine has. */
async function stageUnits(dir: string, names: string[]): Promise<void> {
  for (const name of names) {
    const text = (await Deno.readTextFile(`${ROOT}systemd/${name}`))
      .replaceAll("/usr/bin/privacy-gateway", "/bin/true")
      .replaceAll("/usr/lib/privacy-gateway/mtls-ca.sh", "/bin/true");
    await Deno.writeTextFile(`${dir}/${name}`, text);
    try {
      for await (const entry of Deno.readDir(`${ROOT}systemd/${name}.d`)) {
        await Deno.mkdir(`${dir}/${name}.d`, { recursive: true });
        await Deno.copyFile(`${ROOT}systemd/${name}.d/${entry.name}`, `${dir}/${name}.d/${entry.name}`);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

async function security(name: string): Promise<{ score: number; text: string }> {
  await using dir = await tempDir("pg-units-");
  await stageUnits(dir.path, [name]);
  const result = await sh("systemd-analyze", ["security", "--offline=true", `${dir.path}/${name}`]);
  const match = /Overall exposure level for .*: (\d+\.\d+)/.exec(result.stdout);
  assert.ok(match, result.stdout + result.stderr);
  return { score: Number(match[1]), text: result.stdout };
}

for (const unit of SERVICES) {
  Deno.test(`systemd-analyze security rates ${unit} at 2.0 or below`, async () => {
    const { score } = await security(unit);
    console.log(`${unit}: exposure ${score}`);
    assert.ok(score <= 2.0, `${unit} scores ${score}`);
  });
}

for (const unit of [...SERVICES, ...TIMERS]) {
  Deno.test(`systemd-analyze verify accepts ${unit} without a warning`, async () => {
    await using dir = await tempDir("pg-units-");
    // A timer is verified together with its service; every unit with its OnFailure= target.
    await stageUnits(dir.path, [...SERVICES, ...TIMERS]);
    const result = await sh("systemd-analyze", ["verify", `${dir.path}/${unit}`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr.trim(), "");
  });
}

Deno.test("All units live in systemd/ and nothing is left in deploy/systemd/", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}systemd`)) names.push(entry.name);
  for (const unit of [...SERVICES, ...TIMERS]) assert.ok(names.includes(unit), unit);
  await assert.rejects(Deno.stat(`${ROOT}deploy/systemd`), Deno.errors.NotFound);
});

Deno.test("The gateway and node units set the hardening the deployment promises", async () => {
  for (const unit of ["privacy-gateway.service", "privacy-gateway-node.service"]) {
    const text = await Deno.readTextFile(`${ROOT}systemd/${unit}`);
    for (
      const line of [
        "UMask=0077",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=\n",
        "MemorySwapMax=0",
        "LimitCORE=0",
        "RuntimeDirectory=privacy-gateway",
        "TimeoutStopSec=45s",
      ]
    ) assert.ok(text.includes(line), `${unit} lacks ${line.trim()}`);
    assert.match(text, /MemoryDenyWriteExecute is deliberately not set: V8/);
  }
  assert.match(
    await Deno.readTextFile(`${ROOT}systemd/privacy-gateway-node.service`),
    /BindsTo=wg-quick@wg0\.service/,
  );
});

// Finding 3: with KillMode=control-group systemd sends SIGTERM to llama-server together with the gateway.
// tests/deploy_drain_test.ts plays the stop out; here, the setting itself and that nothing overrides it.
for (const unit of ["privacy-gateway.service", "privacy-gateway-node.service"]) {
  Deno.test(`${unit} sends SIGTERM to the gateway only (KillMode=mixed) so streams can drain`, async () => {
    const text = await Deno.readTextFile(`${ROOT}systemd/${unit}`);
    assert.deepEqual([...text.matchAll(/^KillMode=(.*)$/gm)].map((m) => m[1]), ["mixed"]);
    assert.doesNotMatch(text, /^ExecStop=/m);
    assert.doesNotMatch(text, /^SendSIGKILL=no/m);
  });

  // Finding 11: the control group takes llama-server down; setpriv (which can run anything) is not needed.
  Deno.test(`${unit} runs llama-server without the setpriv wrapper`, async () => {
    const text = await Deno.readTextFile(`${ROOT}systemd/${unit}`);
    assert.match(text, /^Environment=PG_LLAMA_GUARD=none$/m);
    assert.doesNotMatch(text.replace(/^#.*$/gm, ""), /setpriv/);
  });
}

// Finding 8.
Deno.test("privacy-gateway-cert-renew.service reports its failure through an installed notify unit", async () => {
  const text = await Deno.readTextFile(`${ROOT}systemd/privacy-gateway-cert-renew.service`);
  const match = /^OnFailure=(privacy-gateway-notify)@%n\.service$/m.exec(text);
  assert.ok(match, "no OnFailure=privacy-gateway-notify@%n.service");
  await Deno.stat(`${ROOT}systemd/${match[1]}@.service`);
  const rotate = await Deno.readTextFile(`${ROOT}systemd/privacy-gateway-keys-rotate.service`);
  assert.match(rotate, /^OnFailure=privacy-gateway-notify@%n\.service$/m);
});

Deno.test("privacy-gateway-cert-renew.service keeps only CAP_CHOWN and no network", async () => {
  const { text } = await security("privacy-gateway-cert-renew.service");
  const unit = await Deno.readTextFile(`${ROOT}systemd/privacy-gateway-cert-renew.service`);
  assert.match(unit, /^CapabilityBoundingSet=CAP_CHOWN$/m);
  assert.match(unit, /^PrivateNetwork=yes$/m);
  assert.match(text, /✓ CapabilityBoundingSet=~CAP_SYS_ADMIN/);
  assert.match(text, /✓ RestrictAddressFamilies=~AF_\(INET\|INET6\)/);
});

// Finding 9: systemd's parser, not a text search, says what the drop-in opens.
Deno.test("gpu.conf opens the device groups current NVIDIA drivers register, and /proc/driver/nvidia", async () => {
  const { text } = await security("privacy-gateway-node.service");
  const acl = /DeviceAllow=\s+Service has a device ACL with some special devices: (.*?)\s+\d+\.\d+$/m.exec(
    text,
  );
  assert.ok(acl, text);
  const groups = acl[1].split(" ");
  for (const needed of ["char-nvidia:rw", "char-nvidia-uvm:rw"]) assert.ok(groups.includes(needed), acl[1]);
  // ProcSubset=pid would hide /proc/driver/nvidia, which CUDA reads at start.
  assert.match(text, /✗ ProcSubset=/);
  assert.match(text, /✗ PrivateDevices=/);
  const dropIn = await Deno.readTextFile(`${ROOT}systemd/privacy-gateway-node.service.d/gpu.conf`);
  assert.match(dropIn, /^DevicePolicy=closed$/m);
});

// Finding 11, for the grants built from the env files (compile.sh --env-file): no setpriv wanted.
Deno.test("Every shipped env example that runs llama-server asks for no setpriv wrapper", async () => {
  for await (const entry of Deno.readDir(`${ROOT}deploy`)) {
    if (!entry.name.endsWith(".env.example")) continue;
    const text = await Deno.readTextFile(`${ROOT}deploy/${entry.name}`);
    if (/^PG_LOCAL_LLAMA=false$/m.test(text)) continue;
    assert.match(text, /^PG_LLAMA_GUARD=none$/m, entry.name);
  }
});
