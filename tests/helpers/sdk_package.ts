/**
 * Test helper: builds the app SDK package (packages/client) once per test process — `npm ci` on a fresh
 * clone, then its build script — and packs it with `npm pack`.
 */
const _root = new URL("../../", import.meta.url).pathname;
/** The package folder. */
export const PACKAGE_DIR = `${_root}packages/client`;
/** The built ESM bundle. */
export const BUNDLE_PATH = `${PACKAGE_DIR}/dist/client.js`;

async function _run(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `Cannot run ${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  return text;
}

/** Installs the package's locked dev dependencies when missing (fresh clone). */
export async function npmCi(dir: string): Promise<void> {
  try {
    await Deno.stat(`${dir}/node_modules/.package-lock.json`);
  } catch {
    await _run("npm", [..._npmInstall(dir), "--ignore-scripts", "--no-audit", "--no-fund"], dir);
  }
}

/**
 * `npm ci` where it can; the Expo example uses `npm install`, which keeps its lock's versions: Expo's
 * optional per-platform packages (e.g. @expo/modules-macros-linux-arm64) are not on this registry, so its
 * lock cannot list them and `npm ci` refuses it as out of sync (scripts/test.sh does the same).
 */
function _npmInstall(dir: string): string[] {
  return dir.includes("examples/") ? ["install"] : ["ci"];
}

let _built: Promise<void> | undefined;

/** Builds dist/ (bundle, metafile, declarations) once per process. */
export function buildPackage(): Promise<void> {
  _built ??= (async () => {
    await npmCi(PACKAGE_DIR);
    await _run("node", ["build.mjs"], PACKAGE_DIR);
  })();
  return _built;
}

/** `npm pack` into `dir`; returns the tarball's path and the packed file list. */
export async function packPackage(dir: string): Promise<{ tarball: string; files: string[]; size: number }> {
  await buildPackage();
  const [info] = JSON.parse(await _run("npm", ["pack", "--json", "--pack-destination", dir], PACKAGE_DIR));
  return {
    tarball: `${dir}/${info.filename}`,
    files: info.files.map((f: { path: string }) => f.path),
    size: info.size,
  };
}

/** Runs a command and returns stdout (throws with stderr on failure). */
export const run = _run;
