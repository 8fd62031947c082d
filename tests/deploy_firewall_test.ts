/**
 * Finding 7 of issue 12: the nftables files replace one table atomically, limit SSH per source address,
 * and firewall.sh loads nothing without --yes. Every check runs nft itself, in a private network
 * namespace (unshare -n) so the host's firewall is never touched; firewall.sh additionally runs with /etc
 * behind an overlay, so what it installs stays in the test's folder.
 */
import assert from "node:assert/strict";
import { ROOT, sh, tempDir } from "./helpers/deploy.ts";

/** Runs a bash snippet in a fresh network namespace, from the repository root. */
function inNetns(snippet: string) {
  return sh("unshare", ["--net", "bash", "-euo", "pipefail", "-c", snippet]);
}

/** Runs a bash snippet in fresh network and mount namespaces, with writes to /etc going to `dir`. */
async function inNetnsWithPrivateEtc(dir: string, snippet: string) {
  await Deno.mkdir(`${dir}/upper`, { recursive: true });
  await Deno.mkdir(`${dir}/work`, { recursive: true });
  return await sh("unshare", [
    "--net",
    "--mount",
    "bash",
    "-euo",
    "pipefail",
    "-c",
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/upper,workdir=${dir}/work /etc\n${snippet}`,
  ]);
}

interface NftRule {
  rule: { table: string; chain: string; expr: Record<string, unknown>[] };
}

function rules(json: string, table: string): NftRule["rule"][] {
  const items = JSON.parse(json).nftables as Record<string, unknown>[];
  return items.filter((i): i is Record<string, unknown> & NftRule => "rule" in i).map((i) => i.rule)
    .filter((r) => r.table === table);
}

for (const role of ["router", "node"]) {
  const file = `deploy/nftables/${role}.nft`;

  Deno.test(`nft -c accepts ${file}`, async () => {
    const result = await inNetns(`nft -c -f ${file}`);
    assert.equal(result.code, 0, result.stderr);
  });

  Deno.test(`Loading ${file} twice replaces its table instead of duplicating rules, and keeps other tables`, async () => {
    const result = await inNetns(`
      nft add table inet other
      nft add chain inet other keep
      nft -f ${file}
      nft -j list ruleset >/tmp/pg-nft-once-$$.json
      nft -f ${file}
      nft -j list ruleset
      cat /tmp/pg-nft-once-$$.json >&2
      rm /tmp/pg-nft-once-$$.json`);
    assert.equal(result.code, 0, result.stderr);
    const once = rules(result.stderr, "privacy_gateway");
    const twice = rules(result.stdout, "privacy_gateway");
    assert.ok(once.length >= 8, `${once.length} rules`);
    assert.equal(twice.length, once.length);
    const tables = (JSON.parse(result.stdout).nftables as Record<string, { name: string }>[])
      .filter((i) => "table" in i).map((i) => i.table.name).sort();
    assert.deepEqual(tables, ["other", "privacy_gateway"]);
  });

  Deno.test(`${file} limits new SSH connections per source address, not globally`, async () => {
    const result = await inNetns(`nft -f ${file} && nft -j list ruleset`);
    assert.equal(result.code, 0, result.stderr);
    const ssh = rules(result.stdout, "privacy_gateway").filter((r) =>
      JSON.stringify(r.expr).includes('"right":22')
    );
    const text = JSON.stringify(ssh);
    // Limits exist only inside per-address set updates: one for IPv4 sources, one for IPv6 /64s.
    const updates = ssh.flatMap((r) => r.expr.filter((e) => "set" in e)).map((e) =>
      e.set as Record<string, unknown>
    );
    assert.deepEqual(updates.map((u) => [u.op, u.set]), [["update", "@ssh_v4"], ["update", "@ssh_v6"]]);
    assert.match(JSON.stringify(updates[0].elem), /"protocol":"ip","field":"saddr"/);
    assert.match(JSON.stringify(updates[1].elem), /"protocol":"ip6","field":"saddr"/);
    for (const rule of ssh) {
      assert.ok(!rule.expr.some((e) => "limit" in e), `a global limit: ${JSON.stringify(rule.expr)}`);
    }
    assert.match(text, /"inv":true/, "the limit must drop what is over it");
  });
}

Deno.test("deploy/nftables/router.nft limits new HTTPS connections per source address, not globally", async () => {
  const result = await inNetns(`nft -f ${ROOT}deploy/nftables/router.nft && nft -j list ruleset`);
  assert.equal(result.code, 0, result.stderr);
  const https = rules(result.stdout, "privacy_gateway").filter((r) =>
    JSON.stringify(r.expr).includes('"right":443') && JSON.stringify(r.expr).includes('"protocol":"tcp"')
  );
  const updates = https.flatMap((r) => r.expr.filter((e) => "set" in e)).map((e) =>
    e.set as Record<string, unknown>
  );
  assert.deepEqual(updates.map((u) => [u.op, u.set]), [["update", "@https_v4"], ["update", "@https_v6"]]);
  for (const rule of https) {
    assert.ok(!rule.expr.some((e) => "limit" in e), `a global limit: ${JSON.stringify(rule.expr)}`);
  }
  // And the accept for everything under the limit is still there.
  assert.ok(https.some((r) => JSON.stringify(r.expr).includes('"accept"')));
});

Deno.test("firewall.sh without --yes shows and checks the rules, and installs and loads nothing", async () => {
  await using tmp = await tempDir("pg-fw-");
  const result = await inNetnsWithPrivateEtc(
    tmp.path,
    `bash ${ROOT}scripts/firewall.sh --role router; echo "tables: $(nft list tables | wc -l)"`,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /nothing was loaded\. Review them, then run again with --yes/);
  assert.match(result.stdout, /^tables: 0$/m);
  await assert.rejects(Deno.stat(`${tmp.path}/upper/nftables.d/privacy-gateway.nft`), Deno.errors.NotFound);
});

Deno.test("firewall.sh --yes installs and loads the rules, and a second run changes nothing", async () => {
  await using tmp = await tempDir("pg-fw-");
  const result = await inNetnsWithPrivateEtc(
    tmp.path,
    `bash ${ROOT}scripts/firewall.sh --role node --yes
     bash ${ROOT}scripts/firewall.sh --role node --yes
     nft -j list ruleset`,
  );
  assert.equal(result.code, 0, result.stderr);
  const json = result.stdout.slice(result.stdout.lastIndexOf('{"nftables"'));
  const installed = await Deno.readTextFile(`${tmp.path}/upper/nftables.d/privacy-gateway.nft`);
  assert.equal(installed, await Deno.readTextFile(`${ROOT}deploy/nftables/node.nft`));
  assert.match(result.stdout, /unchanged: \/etc\/nftables\.d\/privacy-gateway\.nft/);
  const loaded = rules(json, "privacy_gateway");
  assert.equal(loaded.filter((r) => JSON.stringify(r.expr).includes('"right":9443')).length, 1);
});
