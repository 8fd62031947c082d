// Builds the npm package from the SDK source (src/client/mod.ts, the entry the gateway's CLI uses too):
//   dist/client.js     one ESM bundle, dependencies included, lowered to ES2017 + BigInt (Hermes compiles it as is,
//                      older Safari), with a metafile for the import-graph test (dist/meta.json, not packed)
//   dist/types/        declarations emitted by tsc from the same source
// Run with `npm run build` (Node 20). Outputs are not committed; tests/sdk_package_test.ts builds them.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
rmSync(join(here, "dist"), { recursive: true, force: true });

const result = await build({
  entryPoints: [join(here, "../../src/client/mod.ts")],
  outfile: join(here, "dist/client.js"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["module", "main"],
  // ES2017 with BigInt: async generators lowered (Hermes refuses them), classes and async kept (Hermes has them).
  target: "es2017",
  // BigInt is in Hermes, JavaScriptCore and every browser the SDK needs (WebCrypto-less engines need it for noble).
  supported: { bigint: true },
  // The SDK source lives outside this folder; its npm imports resolve from this package's node_modules.
  nodePaths: [join(here, "node_modules")],
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});
writeFileSync(join(here, "dist/meta.json"), JSON.stringify(result.metafile));

execFileSync(process.execPath, [
  join(here, "node_modules/typescript/bin/tsc"),
  "-p",
  join(here, "tsconfig.json"),
], {
  stdio: "inherit",
});
