/**
 * The network pieces of the deployment kit (issue 12, findings 5–7): WireGuard configuration from real
 * keys, the Caddyfile as Caddy itself reads it, and nftables rules as nft itself checks them.
 */
import assert from "node:assert/strict";
import { ROOT, script, sh, tempDir } from "./helpers/deploy.ts";

async function wgKeyPair(): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = (await sh("wg", ["genkey"])).stdout.trim();
  const child = new Deno.Command("wg", { args: ["pubkey"], stdin: "piped", stdout: "piped" }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(privateKey + "\n"));
  await writer.close();
  const publicKey = new TextDecoder().decode((await child.output()).stdout).trim();
  return { privateKey, publicKey };
}

/** `[Peer]` sections of a wg0.conf as key → value maps. */
function peers(conf: string): Record<string, string>[] {
  return conf.split(/^\[Peer\]$/m).slice(1).map((section) =>
    Object.fromEntries(
      [...section.matchAll(/^(\w+) = (.*)$/gm)].map((m) => [m[1], m[2]]),
    )
  );
}

Deno.test("wireguard.sh router keeps real wg pubkey keys, trailing '=' included, and each peer's address", async () => {
  await using tmp = await tempDir("pg-wg-");
  const keys = await script("scripts/wireguard.sh", ["--root", tmp.path, "keys"]);
  assert.equal(keys.code, 0, keys.stderr);
  const [node1, node2] = [await wgKeyPair(), await wgKeyPair()];
  assert.match(node1.publicKey, /=$/);
  const result = await script("scripts/wireguard.sh", [
    "--root",
    tmp.path,
    "router",
    "--address",
    "10.88.0.1/24",
    "--peer",
    `node1=${node1.publicKey}=10.88.0.2`,
    "--peer",
    `node2=${node2.publicKey}=10.88.0.3`,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const conf = await Deno.readTextFile(`${tmp.path}/etc/wireguard/wg0.conf`);
  assert.deepEqual(peers(conf), [
    { PublicKey: node1.publicKey, AllowedIPs: "10.88.0.2/32" },
    { PublicKey: node2.publicKey, AllowedIPs: "10.88.0.3/32" },
  ]);
  // The router's own private key, as `keys` created it.
  const privateKey = (await Deno.readTextFile(`${tmp.path}/etc/wireguard/wg0.key`)).trim();
  assert.match(conf, new RegExp(`^PrivateKey = ${privateKey.replace(/[+/]/g, "\\$&")}$`, "m"));
});

Deno.test("wireguard.sh router refuses to run before keys instead of writing a placeholder key", async () => {
  await using tmp = await tempDir("pg-wg-");
  const { publicKey } = await wgKeyPair();
  const result = await script("scripts/wireguard.sh", [
    "--root",
    tmp.path,
    "router",
    "--address",
    "10.88.0.1/24",
    "--peer",
    `node1=${publicKey}=10.88.0.2`,
  ]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /no \/etc\/wireguard\/wg0\.key yet: run 'scripts\/wireguard\.sh keys' first/);
  await assert.rejects(Deno.stat(`${tmp.path}/etc/wireguard/wg0.conf`), Deno.errors.NotFound);
});

Deno.test("wireguard.sh rejects a --peer whose key is not a WireGuard public key", async () => {
  await using tmp = await tempDir("pg-wg-");
  await script("scripts/wireguard.sh", ["--root", tmp.path, "keys"]);
  for (const peer of ["node1=PUBKEY1=10.88.0.2", "node1=10.88.0.2", "=KEY=10.88.0.2"]) {
    const result = await script("scripts/wireguard.sh", [
      "--root",
      tmp.path,
      "router",
      "--address",
      "10.88.0.1/24",
      "--peer",
      peer,
    ]);
    assert.equal(result.code, 2, peer);
    assert.match(result.stderr, /is not NAME=PUBLIC_KEY=ADDRESS/);
  }
});

/** The Caddyfile as Caddy's own adapter turns it into JSON. */
async function caddyJson(): Promise<Record<string, unknown>> {
  const result = await sh("caddy", [
    "adapt",
    "--config",
    `${ROOT}deploy/caddy/Caddyfile`,
    "--adapter",
    "caddyfile",
  ]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

/** Every handler object anywhere in the JSON. */
function handlers(node: unknown, found: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(node)) { for (const item of node) handlers(item, found); }
  else if (node && typeof node === "object") {
    const record = node as Record<string, unknown>;
    if (typeof record.handler === "string") found.push(record);
    for (const value of Object.values(record)) handlers(value, found);
  }
  return found;
}

Deno.test("caddy validate accepts deploy/caddy/Caddyfile", async () => {
  const result = await sh("caddy", [
    "validate",
    "--config",
    `${ROOT}deploy/caddy/Caddyfile`,
    "--adapter",
    "caddyfile",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout + result.stderr, /Valid configuration/);
});

Deno.test("The Caddyfile streams SSE unbuffered and uncompressed, with front-proxy timeouts and limits", async () => {
  const json = await caddyJson();
  const servers = (json.apps as { http: { servers: Record<string, Record<string, unknown>> } }).http.servers;
  const [server] = Object.values(servers);
  // Slow-loris protection on the way in; no write timeout on the way out (an answer streams for minutes).
  assert.equal(server.read_header_timeout, 10e9);
  assert.equal(server.read_timeout, 30e9);
  assert.equal(server.idle_timeout, 120e9);
  assert.equal(server.write_timeout, undefined);
  assert.deepEqual(server.protocols, ["h1", "h2", "h3"]);
  const all = handlers(json);
  assert.deepEqual(all.filter((h) => h.handler === "encode"), [], "ciphertext must not be compressed");
  const body = all.find((h) => h.handler === "request_body");
  assert.equal(body?.max_size, 262_144, "PG_MAX_BODY_BYTES' default");
  const proxy = all.find((h) => h.handler === "reverse_proxy") as Record<string, unknown>;
  assert.equal(proxy.flush_interval, -1, "responses must not be buffered");
  assert.deepEqual(proxy.upstreams, [{ dial: "127.0.0.1:8000" }]);
  assert.equal((proxy.transport as Record<string, unknown>).read_timeout, 600e9);
  assert.equal((proxy.transport as Record<string, unknown>).dial_timeout, 5e9);
});
