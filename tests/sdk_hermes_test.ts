/**
 * The SDK bundle on Hermes, React Native's engine, which has no WebCrypto, fetch or TextDecoder. Hermes from
 * the npm registry: `hermes-engine-cli` 0.12.0 (the newest VM published there; newer releases ship the
 * compiler only). Like Metro for such a Hermes, the package bundle is lowered with Babel (classes, async
 * functions: 0.12 has neither) and given TextEncoder/TextDecoder (React Native provides them), then:
 *
 *   run 1: Hermes verifies the signed key set against the pin and prints the encapsulated request;
 *   the test posts it to a live gateway and records the encrypted answer;
 *   run 2: the same randomness re-derives the same HPKE context; Hermes opens the answer and prints it.
 *
 * Bridge: tests/helpers/sdk_hermes_bridge.js. The request bytes of both runs must be identical.
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

/** The package bundle as Metro would hand it to Hermes 0.12: one IIFE, Babel-lowered. */
async function hermesBundle(dir: string): Promise<string> {
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

Deno.test("SDK bundle on Hermes 0.12 (noble) seals a request a live gateway answers, and opens the answer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pg-sdk-hermes-" });
  try {
    const bundle = await hermesBundle(dir);
    await using gateway = await startGateway();
    const keys = await (await fetch(`${gateway.url}/api/pubkey`)).json();
    const bridge = {
      keys,
      pin: gateway.fingerprint,
      now: Math.floor(Date.now() / 1000),
      random: toHex(crypto.getRandomValues(new Uint8Array(512))),
      response: null as string | null,
      message: "hello from hermes",
    };
    const first = await hermes(dir, bundle, bridge);
    const request = /^REQUEST ([0-9a-f]+)$/m.exec(first)?.[1];
    assert.ok(request, first.slice(0, 500));
    assert.match(first, /ERROR network_error/);
    // X-Wing (the SDK's preference): hdr (7 bytes) names kem 0x647a.
    assert.equal(request.slice(2, 6), "647a");
    const answer = await fetch(`${gateway.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "message/ohttp-chunked-req", accept: "message/ohttp-chunked-res" },
      body: fromHex(request),
    });
    assert.equal(answer.status, 200);
    bridge.response = toHex(new Uint8Array(await answer.arrayBuffer()));
    const second = await hermes(dir, bundle, bridge);
    assert.equal(/^REQUEST ([0-9a-f]+)$/m.exec(second)?.[1], request);
    assert.match(second, /^TEXT "echo: hello from hermes"$/m);
  } finally {
    if (!Deno.env.get("PG_KEEP")) await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Package bundle compiles with React Native's current Hermes compiler as published, without Babel", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pg-sdk-hermesc-" });
  try {
    await buildPackage();
    // Hermes compiles scripts, not modules: the same bundle wrapped as an IIFE (syntax unchanged, es2017).
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
