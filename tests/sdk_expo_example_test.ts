/**
 * examples/expo-chat type-checks (`tsc --noEmit`) against the real types of expo, react-native,
 * expo-secure-store and the SDK package's own declarations (issue #16: the example is type-checked, not
 * run). Its locked dependencies install in ~30 s (385 MB, `npm ci --ignore-scripts`).
 */
import assert from "node:assert/strict";
import { buildPackage, npmCi } from "./helpers/sdk_package.ts";

const _EXAMPLE = new URL("../examples/expo-chat", import.meta.url).pathname;

Deno.test("examples/expo-chat type-checks against expo, react-native and the SDK's declarations", async () => {
  await buildPackage();
  await npmCi(_EXAMPLE);
  const out = await new Deno.Command("node", {
    args: [`${_EXAMPLE}/node_modules/typescript/bin/tsc`, "--noEmit", "-p", _EXAMPLE],
    cwd: _EXAMPLE,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(text, "");
  assert.equal(out.code, 0);
});
