/**
 * The SDK bundle on Hermes, React Native's engine, which has no WebCrypto, fetch or TextDecoder. Hermes from
 * the npm registry: `hermes-engine-cli` 0.12.0 (the newest VM published there; newer releases ship the
 * compiler only). Like Metro for such a Hermes, the package bundle is lowered with Babel (classes, async
 * functions: 0.12 has neither) and given TextEncoder/TextDecoder (React Native provides them). Hermes has no
 * network, so the test replays it: each run prints the client's next request, the test sends it to a live
 * gateway and feeds the answer to the next run, which (same randomness, same clock) repeats every earlier
 * request byte for byte and gets one step further: key set, token issuance, chat, decrypted answer.
 * Bridge: tests/helpers/sdk_hermes_bridge.js.
 */
import assert from "node:assert/strict";
import { fromHex, toHex } from "../src/crypto/bytes.ts";
import { startGateway } from "./helpers/gateway.ts";
import { buildPackage, PACKAGE_DIR, run } from "./helpers/sdk_package.ts";

const _HERMES = `${PACKAGE_DIR}/node_modules/hermes-engine-cli/linux64-bin/hermes`;
/**
 * What Hermes 0.12 lacks and React Native's current Hermes has (or RN polyfills): TextEncoder/TextDecoder
 * (UTF-8 via the URI functions here), Symbol.asyncIterator, String.prototype.replaceAll.
 */
const _POLYFILL = [
  `if(!Symbol.asyncIterator)Symbol.asyncIterator=Symbol("Symbol.asyncIterator");`,
  `if(!String.prototype.replaceAll)String.prototype.replaceAll=function(a,b){return this.split(a).join(b);};`,
  `var TextEncoder=function(){};TextEncoder.prototype.encode=function(s){var u=unescape(encodeURIComponent(s));`,
  `var a=new Uint8Array(u.length);for(var i=0;i<u.length;i++)a[i]=u.charCodeAt(i);return a;};`,
  `var TextDecoder=function(){};TextDecoder.prototype.decode=function(b){var s="";if(!b)return s;`,
  `b=new Uint8Array(b.buffer||b,b.byteOffset||0,b.byteLength);`,
  `for(var i=0;i<b.length;i++)s+=String.fromCharCode(b[i]);return decodeURIComponent(escape(s));};`,
  `globalThis.TextEncoder=TextEncoder;globalThis.TextDecoder=TextDecoder;`,
].join("\n") + "\n";

/** Hermes compiles scripts, not modules: the package bundle wrapped as an IIFE at DIR/iife.js (es2017). */
async function iifeBundle(dir: string): Promise<void> {
  await buildPackage();
  await run(`${PACKAGE_DIR}/node_modules/.bin/esbuild`, [
    `${PACKAGE_DIR}/dist/client.js`,
    "--bundle",
    "--format=iife",
    "--global-name=PG",
    "--target=es2017",
    "--supported:bigint=true",
    `--outfile=${dir}/iife.js`,
    "--log-level=error",
  ], PACKAGE_DIR);
}

/** The package bundle as Metro would hand it to Hermes 0.12: one IIFE, Babel-lowered. */
async function hermesBundle(dir: string): Promise<string> {
  await iifeBundle(dir);
  const lower = `
    const babel = require("@babel/core"), fs = require("fs");
    const out = babel.transformSync(fs.readFileSync(process.argv[1], "utf8"), {
      babelrc: false, configFile: false, compact: true, sourceType: "script",
      presets: [["@babel/preset-env", { targets: { ie: "11" }, modules: false,
        exclude: ["transform-typeof-symbol", "transform-exponentiation-operator"] }]] });
    fs.writeFileSync(process.argv[2], fs.readFileSync(require.resolve("regenerator-runtime/runtime.js"), "utf8") + "\\n" + out.code);`;
  await run("node", ["-e", lower, `${dir}/iife.js`, `${dir}/lowered.js`], PACKAGE_DIR);
  return await Deno.readTextFile(`${dir}/lowered.js`);
}

async function hermes(dir: string, bundle: string, bridge: Record<string, unknown>): Promise<string> {
  const script = _POLYFILL + bundle + `\nvar BRIDGE = ${JSON.stringify(bridge)};\n` +
    await Deno.readTextFile(new URL("./helpers/sdk_hermes_bridge.js", import.meta.url));
  await Deno.writeTextFile(`${dir}/run.js`, script);
  const out = await new Deno.Command(_HERMES, {
    args: ["-w", `${dir}/run.js`],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `hermes failed: ${new TextDecoder().decode(out.stderr).slice(-1500)}`);
  return stdout;
}

/** A request Hermes printed: the bridge's fetch arguments. */
interface _Printed {
  index: number;
  path: string;
  method: string;
  headers: Record<string, string>;
  body: string | null;
}

/**
 * Runs the client in Hermes until it prints its answer, sending each new request it prints to the live
 * gateway and replaying the recorded answers in the next run. Returns the result and the requests' paths.
 */
async function hermesRoundTrip(
  dir: string,
  bundle: string,
  gateway: { url: string; fingerprint: string },
  options: Record<string, unknown>,
): Promise<{ result: { text: string; tokenMode: boolean }; paths: string[] }> {
  const bridge = {
    pin: gateway.fingerprint,
    now: Math.floor(Date.now() / 1000),
    random: toHex(crypto.getRandomValues(new Uint8Array(16384))),
    message: "hello from hermes",
    options,
    recorded: [] as { status: number; type: string; retryAfter: string | null; body: string }[],
  };
  const sent: _Printed[] = [];
  // Each run adds one exchange: key set, (token mode: issuance rounds), chat.
  for (let run = 0; run < 8; run++) {
    const out = await hermes(dir, bundle, bridge);
    const done = /^TEXT (.+)$/m.exec(out);
    if (done) return { result: JSON.parse(done[1]), paths: sent.map((r) => `${r.method} ${r.path}`) };
    const printed = /^REQUEST (.+)$/m.exec(out);
    assert.ok(printed, `hermes printed neither a request nor an answer: ${out.slice(0, 800)}`);
    const request: _Printed = JSON.parse(printed[1]);
    // Same randomness and same answers: every run repeats the earlier requests byte for byte.
    assert.equal(request.index, sent.length);
    sent.push(request);
    const response = await fetch(`${gateway.url}${request.path}`, {
      method: request.method,
      headers: request.headers,
      body: request.body === null ? undefined : fromHex(request.body),
    });
    bridge.recorded.push({
      status: response.status,
      type: response.headers.get("content-type") ?? "",
      retryAfter: response.headers.get("retry-after"),
      body: toHex(new Uint8Array(await response.arrayBuffer())),
    });
  }
  throw new Error("Hermes did not finish within 8 exchanges");
}

for (const mode of ["device", "token"] as const) {
  Deno.test(`SDK bundle on Hermes 0.12 (noble) completes a round trip with a live gateway in ${mode} mode`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "pg-sdk-hermes-" });
    try {
      const bundle = await hermesBundle(dir);
      await using gateway = await startGateway({ PG_AUTH: mode });
      // Token mode: a batch of two, no background refill (Hermes would wait for its timer before exiting).
      const options = mode === "token" ? { tokenBatchSize: 2, tokenLowWater: 0 } : {};
      const { result, paths } = await hermesRoundTrip(dir, bundle, gateway, options);
      assert.deepEqual(result, { text: "echo: hello from hermes", tokenMode: mode === "token" });
      const issuance = mode === "token" ? ["POST /api/tokens", "POST /api/tokens"] : [];
      assert.deepEqual(paths, ["GET /api/pubkey", ...issuance, "POST /api/chat"]);
    } finally {
      if (!Deno.env.get("PG_KEEP")) await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("Package bundle compiles with React Native's current Hermes compiler as published, without Babel", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pg-sdk-hermesc-" });
  try {
    // The same bundle as an IIFE, syntax unchanged (no Babel): today's hermesc takes it as is.
    await iifeBundle(dir);
    const hermesc = `${PACKAGE_DIR}/node_modules/hermes-compiler/hermesc/linux64-bin/hermesc`;
    const out = await new Deno.Command(hermesc, {
      args: ["-w", "-emit-binary", "-out", `${dir}/client.hbc`, `${dir}/iife.js`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr).slice(-1500));
    assert.ok((await Deno.stat(`${dir}/client.hbc`)).size > 100_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
