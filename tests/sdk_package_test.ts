/**
 * The app SDK as an npm package (issue #16): the esbuild bundle of src/client/mod.ts reaches no server
 * module, `npm pack` produces an installable package, and the same bundle completes a round trip against a
 * live gateway in Deno (WebCrypto and noble), in Node 20 from the installed tarball, and in Node with
 * WebCrypto removed (the noble path a Hermes app takes). Chromium: sdk_browser_test.ts; Hermes:
 * sdk_hermes_test.ts.
 */
import assert from "node:assert/strict";
import { startGateway } from "./helpers/gateway.ts";
import { buildPackage, BUNDLE_PATH, PACKAGE_DIR, packPackage, run } from "./helpers/sdk_package.ts";
import { sdkRoundTrip } from "./helpers/sdk_round_trip.mjs";
import { ISSUANCE_PROOF_LABEL as GATEWAY_LABEL } from "../src/tokens/attester.ts";
import { ISSUANCE_PROOF_LABEL as SDK_LABEL } from "../src/client/token_issuance.ts";

/** Source folders the SDK may reach: its own, and the pure files it shares with the gateway. */
const _ALLOWED_SOURCES = new Set([
  "src/crypto/bytes.ts",
  "src/crypto/ed25519_key.ts",
  "src/crypto/identity.ts",
  "src/crypto/key_config.ts",
  "src/crypto/keyset.ts",
  "src/crypto/suite_ids.ts",
  "src/crypto/token_keyset.ts",
  "src/protocol/bhttp.ts",
  "src/protocol/bhttp_stream.ts",
  "src/protocol/device_proof.ts",
  "src/protocol/errors.ts",
  "src/protocol/inner_request.ts",
  "src/protocol/padding.ts",
  "src/protocol/proof_of_work_solver.ts",
  "src/protocol/response_integrity_error.ts",
  "src/protocol/response_reader.ts",
  "src/protocol/varint.ts",
  "src/tokens/base64url.ts",
  "src/tokens/blinding.ts",
  "src/tokens/token_error.ts",
  "src/tokens/wallet.ts",
  "src/tokens/wire.ts",
]);

Deno.test("packages/client bundle reaches only the SDK and pure shared modules, never server code", async () => {
  await buildPackage();
  const meta = JSON.parse(await Deno.readTextFile(`${PACKAGE_DIR}/dist/meta.json`));
  const inputs = Object.keys(meta.inputs).map((p) => p.replace(/^(\.\.\/)+/, ""));
  const sources = inputs.filter((p) => p.startsWith("src/"));
  const stray = sources.filter((p) => !p.startsWith("src/client/") && !_ALLOWED_SOURCES.has(p));
  assert.deepEqual(stray, []);
  const packages = inputs.filter((p) => p.includes("node_modules/"));
  assert.deepEqual(
    packages.filter((p) => /node_modules\/(zod|hono|@hpke|redis|prom-client|@opentelemetry)\//.test(p)),
    [],
  );
  const bundle = await Deno.readTextFile(BUNDLE_PATH);
  assert.ok(!bundle.includes("node:"), "the bundle imports no Node built-in");
  assert.ok(!/\bDeno\.\w+\(/.test(bundle.replaceAll("deno?.unrefTimer", "")), "the bundle calls no Deno API");
});

Deno.test("ISSUANCE_PROOF_LABEL of the SDK equals the gateway attester's", () => {
  assert.equal(SDK_LABEL, GATEWAY_LABEL);
});

Deno.test("npm pack of packages/client holds the bundle, declarations and package.json only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pg-sdk-pack-" });
  try {
    const { files, size } = await packPackage(dir);
    assert.ok(files.includes("dist/client.js"));
    // The bundled libraries' licence notices (MIT, Apache-2.0, BSD) travel with the bundle that cites them.
    assert.ok(files.includes("dist/client.js.LEGAL.txt"));
    assert.ok(files.includes("dist/types/client/mod.d.ts"));
    assert.ok(files.includes("package.json"));
    assert.deepEqual(
      files.filter((f) => !f.startsWith("dist/") && f !== "package.json" && f !== "README.md"),
      [],
    );
    assert.ok(!files.includes("dist/meta.json"));
    assert.ok(size < 400_000, `packed size ${size} B`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const backend of ["webcrypto", "noble"]) {
  Deno.test(`Built bundle in Deno (${backend}) streams an answer from a live gateway`, async () => {
    await buildPackage();
    await using gateway = await startGateway();
    const sdk = await import(BUNDLE_PATH);
    const result = await sdkRoundTrip(sdk, {
      baseUrl: gateway.url,
      pin: gateway.fingerprint,
      backend,
      message: "hello from deno",
    });
    assert.deepEqual(result, {
      text: "echo: hello from deno",
      crypto: backend,
      events: [...result.events.filter((e) => e !== "done"), "done"],
    });
    assert.ok(result.events.includes("text"));
  });
}

Deno.test("Built bundle in Deno streams an answer from a gateway in token mode (the product default)", async () => {
  await buildPackage();
  await using gateway = await startGateway({ PG_AUTH: "token" });
  const sdk = await import(BUNDLE_PATH);
  const result = await sdkRoundTrip(sdk, {
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    backend: "detect",
    message: "token mode",
  });
  assert.equal(result.text, "echo: token mode");
});

Deno.test("The installed package's declarations type-check in a consumer with skipLibCheck off (no undeclared imports)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pg-sdk-types-" });
  try {
    const { tarball } = await packPackage(dir);
    await Deno.writeTextFile(`${dir}/package.json`, JSON.stringify({ name: "consumer", type: "module" }));
    await run("npm", ["install", "--no-audit", "--no-fund", "--offline", tarball], dir);
    await Deno.writeTextFile(
      `${dir}/app.ts`,
      `import { errorKind, GatewayClient, type ChatEvent } from "@privacy-gateway/client";
const client = new GatewayClient({ baseUrl: "https://gateway.example", pin: "x", auth: "token" });
export async function run(): Promise<string> {
  try {
    let text = "";
    for await (const event of client.chat({ messages: [{ role: "user", content: "hi" }] })) {
      const e: ChatEvent = event;
      if (e.type === "text") text += e.delta;
    }
    return text;
  } catch (error) {
    return errorKind(error);
  }
}
`,
    );
    for (const resolution of [["bundler", "esnext"], ["nodenext", "nodenext"]]) {
      await run(`${PACKAGE_DIR}/node_modules/.bin/tsc`, [
        "--noEmit",
        "--strict",
        "--skipLibCheck",
        "false",
        "--moduleResolution",
        resolution[0],
        "--module",
        resolution[1],
        "--target",
        "es2022",
        "--lib",
        "es2022,dom",
        `${dir}/app.ts`,
      ], dir);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Installed npm package in Node 20 streams an answer with and without WebCrypto, in device and token mode", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pg-sdk-node-" });
  try {
    const { tarball } = await packPackage(dir);
    await Deno.writeTextFile(`${dir}/package.json`, JSON.stringify({ name: "consumer", type: "module" }));
    await run("npm", ["install", "--no-audit", "--no-fund", "--offline", tarball], dir);
    for (const file of ["sdk_round_trip.mjs", "sdk_node_main.mjs"]) {
      await Deno.copyFile(new URL(`./helpers/${file}`, import.meta.url), `${dir}/${file}`);
    }
    await using gateway = await startGateway();
    const node = (backend: string, ...flags: string[]) =>
      run("node", [`${dir}/sdk_node_main.mjs`, gateway.url, gateway.fingerprint, backend, ...flags], dir);
    const withWebCrypto = JSON.parse(await node("detect"));
    assert.equal(withWebCrypto.text, "echo: hello from node");
    assert.equal(withWebCrypto.crypto, "webcrypto");
    const without = JSON.parse(await node("detect", "--no-webcrypto"));
    assert.equal(without.text, "echo: hello from node");
    assert.equal(without.crypto, "noble");
    // Token mode (the product default): privacypass-ts blinds on WebCrypto; without WebCrypto (Hermes) the
    // SDK's pure-JS blinding (blind_rsa.ts) takes over, and issuance and redemption both succeed.
    await using tokenGateway = await startGateway({ PG_AUTH: "token" });
    const tokenNode = (...flags: string[]) =>
      run("node", [
        `${dir}/sdk_node_main.mjs`,
        tokenGateway.url,
        tokenGateway.fingerprint,
        "detect",
        ...flags,
      ], dir);
    assert.equal(JSON.parse(await tokenNode()).text, "echo: hello from node");
    const tokensWithout = JSON.parse(await tokenNode("--no-webcrypto"));
    assert.equal(tokensWithout.text, "echo: hello from node");
    assert.equal(tokensWithout.crypto, "noble");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
