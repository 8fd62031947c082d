/**
 * Finding 10 of issue 12: switch-env.sh keeps every replaced configuration and restarts only on a change;
 * build-llama-server.sh checks the tarball against a pinned hash, leaves no empty RUNPATH entry, and checks
 * CUDA prerequisites before building. Every build test uses its own cache folder and stops before cmake:
 * the real cache (~/.cache/privacy-gateway) is never touched.
 */
import assert from "node:assert/strict";
import { ROOT, script, sh, tempDir } from "./helpers/deploy.ts";

const SERVICE_GID = "64123";
const VERSION_KEY = "llama-server-node-llama-cpp-3.22.1";

/** A folder of symlinks to every program on this machine except `without`: a PATH lacking them. */
async function pathWithout(dir: string, without: string[]): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  for (const bin of ["/usr/local/bin", "/usr/local/sbin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    const entries = await Array.fromAsync(Deno.readDir(bin)).catch(() => []);
    for (const entry of entries) {
      if (without.includes(entry.name)) continue;
      // The first folder on the usual PATH wins, as it would for the shell.
      await Deno.symlink(`${bin}/${entry.name}`, `${dir}/${entry.name}`).catch(() => {});
    }
  }
  return dir;
}

function build(args: string[], cache: string, path?: string) {
  return sh("bash", [`${ROOT}scripts/build-llama-server.sh`, ...args], {
    env: { LLAMA_CACHE_DIR: cache, ...(path ? { PATH: path } : {}) },
  });
}

async function runpath(file: string): Promise<string> {
  const result = await sh("readelf", ["-d", file]);
  return /\(RUNPATH\).*\[(.*)\]/.exec(result.stdout)?.[1] ?? "";
}

/** A finished cache entry whose llama-server (a copy of /usr/bin/true) has RUNPATH "$ORIGIN:". */
async function cachedBuildWithEmptyEntry(cache: string): Promise<string> {
  const bin = `${cache}/${VERSION_KEY}-cpu/bin`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.copyFile("/usr/bin/true", `${bin}/llama-server`);
  await Deno.chmod(`${bin}/llama-server`, 0o755);
  const set = await sh("patchelf", ["--set-rpath", "$ORIGIN:", `${bin}/llama-server`]);
  assert.equal(set.code, 0, set.stderr);
  assert.equal(await runpath(`${bin}/llama-server`), "$ORIGIN:");
  await Deno.writeTextFile(`${cache}/${VERSION_KEY}-cpu/.complete`, "");
  return `${bin}/llama-server`;
}

Deno.test("build-llama-server.sh rewrites a cached build's RUNPATH '$ORIGIN:' (empty entry) to '$ORIGIN'", async () => {
  await using cache = await tempDir("pg-llama-cache-");
  const binary = await cachedBuildWithEmptyEntry(cache.path);
  const result = await build([], cache.path);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim().split("\n").at(-1), binary);
  assert.equal(await runpath(binary), "$ORIGIN");
});

Deno.test("build-llama-server.sh refuses a cached build with an empty RUNPATH entry when patchelf is missing", async () => {
  await using cache = await tempDir("pg-llama-cache-");
  await using bin = await tempDir("pg-path-");
  const binary = await cachedBuildWithEmptyEntry(cache.path);
  const result = await build([], cache.path, await pathWithout(bin.path, ["patchelf"]));
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /llama-server has RUNPATH '\$ORIGIN:'; install patchelf to set it to \$ORIGIN/);
  assert.equal(result.stdout, "");
  assert.equal(await runpath(binary), "$ORIGIN:");
});

Deno.test("build-llama-server.sh refuses a node-llama-cpp tarball that does not match the pinned integrity", async () => {
  await using cache = await tempDir("pg-llama-cache-");
  // A well-formed package tarball with the expected members, but not the published one.
  const fake = `${cache.path}/fake`;
  await Deno.mkdir(`${fake}/package/llama`, { recursive: true });
  await Deno.writeTextFile(`${fake}/package/llama/gitRelease.bundle`, "not a bundle");
  await Deno.writeTextFile(`${fake}/package/llama/binariesGithubRelease.json`, "{}");
  const tar = await sh("tar", ["-czf", `${cache.path}/node-llama-cpp-3.22.1.tgz`, "-C", fake, "package"]);
  assert.equal(tar.code, 0, tar.stderr);
  const result = await build(["--tarball", `${cache.path}/node-llama-cpp-3.22.1.tgz`], cache.path);
  assert.equal(result.code, 1, result.stdout);
  assert.match(
    result.stderr,
    /node-llama-cpp-3\.22\.1\.tgz fails the integrity check \(expected sha512-bltIipuWmc123H7t.*==, got sha512-/,
  );
  // Nothing from the tarball was unpacked, cloned or configured.
  const work = `${cache.path}/work-${VERSION_KEY}-cpu`;
  const left: string[] = [];
  for await (const entry of Deno.readDir(work)) left.push(entry.name);
  assert.deepEqual(left.filter((name) => name !== ".lock"), []);
});

Deno.test("build-llama-server.sh --backend cuda needs --cuda-arch before anything else", async () => {
  await using cache = await tempDir("pg-llama-cache-");
  const result = await build(["--backend", "cuda", "--dry-run"], cache.path);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Cannot build llama-server for CUDA: pass --cuda-arch/);
  const bad = await build(["--backend", "cuda", "--cuda-arch", "sm_86", "--dry-run"], cache.path);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /'sm_86' is not a list of architectures/);
});

Deno.test("build-llama-server.sh --backend cuda says nvcc is missing instead of starting a build", async () => {
  await using cache = await tempDir("pg-llama-cache-");
  await using bin = await tempDir("pg-path-");
  const path = await pathWithout(bin.path, ["nvcc"]);
  const result = await build(["--backend", "cuda", "--cuda-arch", "86;89", "--dry-run"], cache.path, path);
  assert.equal(result.code, 1, result.stdout);
  assert.match(
    result.stderr,
    /Cannot build llama-server: not installed: nvcc \(the CUDA toolkit; or set CUDACXX\)/,
  );
  const entries: string[] = [];
  for await (const entry of Deno.readDir(cache.path)) entries.push(entry.name);
  assert.deepEqual(entries, []);
});

Deno.test("build-llama-server.sh keys a CUDA build by its architectures", async () => {
  await using cache = await tempDir("pg-llama-cache-");
  const result = await build(["--backend", "cuda", "--cuda-arch", "86;89", "--print-path"], cache.path);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), `${cache.path}/${VERSION_KEY}-cuda-86-89/bin/llama-server`);
});

Deno.test("switch-env.sh keeps every configuration it replaces under a timestamped name", async () => {
  await using stage = await tempDir("pg-stage-");
  const env = `${stage.path}/etc/privacy-gateway/gateway.env`;
  const switchTo = async (name: string) => {
    const result = await script("scripts/switch-env.sh", [
      "--root",
      stage.path,
      "--group",
      SERVICE_GID,
      name,
    ]);
    assert.equal(result.code, 0, result.stderr);
    return result;
  };
  await switchTo("router");
  await Deno.writeTextFile(env, "# customised by the admin\n", { append: true });
  const customised = await Deno.readTextFile(env);
  await switchTo("single-box");
  await switchTo("development");
  const backups: string[] = [];
  for await (const entry of Deno.readDir(`${stage.path}/etc/privacy-gateway`)) {
    if (entry.name !== "gateway.env") backups.push(entry.name);
  }
  assert.equal(backups.length, 2, backups.join(" "));
  for (const name of backups) assert.match(name, /^gateway\.env\.\d{8}T\d{6}Z(-\d+)?$/);
  const contents = await Promise.all(
    backups.map((name) => Deno.readTextFile(`${stage.path}/etc/privacy-gateway/${name}`)),
  );
  assert.ok(contents.includes(customised), "the customised file is lost");
  assert.ok(contents.includes(await Deno.readTextFile(`${ROOT}deploy/privacy-gateway.env.example`)));
  assert.equal(
    await Deno.readTextFile(env),
    await Deno.readTextFile(`${ROOT}deploy/privacy-gateway-development.env.example`),
  );
  const info = await Deno.stat(env);
  assert.equal(info.gid, Number(SERVICE_GID));
  assert.equal(info.mode! & 0o777, 0o640);
});

Deno.test("switch-env.sh does not restart the service when the configuration is already in place", async () => {
  await using stage = await tempDir("pg-stage-");
  const args = ["--root", stage.path, "--group", SERVICE_GID, "router"];
  const first = await script("scripts/switch-env.sh", args);
  assert.match(first.stdout, /systemctl restart privacy-gateway\.service/);
  const second = await script("scripts/switch-env.sh", args);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /already the router configuration; not restarting/);
  assert.doesNotMatch(second.stdout, /systemctl/);
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${stage.path}/etc/privacy-gateway`)) names.push(entry.name);
  assert.deepEqual(names, ["gateway.env"]);
});
