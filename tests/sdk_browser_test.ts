/**
 * The SDK bundle in a real headless browser: Debian's Chromium loads a page that imports the package's
 * dist/client.js and runs tests/helpers/sdk_round_trip.mjs against a live gateway, with WebCrypto (what
 * `detectCrypto()` picks in Chromium) and with noble; the page POSTs its result back.
 *
 * The gateway sends no CORS headers, so the page is served from one origin that also forwards `/api/*` to
 * the gateway (streaming the answer through), as a web app behind its own reverse proxy would be
 * (docs/native-clients.md, "Browsers").
 */
import assert from "node:assert/strict";
import { startGateway } from "./helpers/gateway.ts";
import { buildPackage, BUNDLE_PATH } from "./helpers/sdk_package.ts";

/** A cold Chromium start plus two round trips takes ~3 s here; this bounds a hung browser. */
const _BROWSER_TIMEOUT_MS = 60_000;

function _chromium(): string | undefined {
  for (const path of ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]) {
    try {
      Deno.statSync(path);
      return path;
    } catch { /* next */ }
  }
  return undefined;
}

const _PAGE = (pin: string) =>
  `<!doctype html><meta charset="utf-8"><title>sdk</title>
<script type="module">
import * as sdk from "/client.js";
import { sdkRoundTrip } from "/sdk_round_trip.mjs";
const results = {};
for (const backend of ["detect", "noble"]) {
  try {
    results[backend] = await sdkRoundTrip(sdk, { baseUrl: location.origin, pin: ${
    JSON.stringify(pin)
  }, backend,
      message: "hello from chromium" });
  } catch (error) {
    results[backend] = { error: String(error && (error.code || error.reason || error.message)) };
  }
}
await fetch("/result", { method: "POST", body: JSON.stringify(results) });
</script>`;

Deno.test({
  name: "Built bundle in headless Chromium streams an answer from a live gateway (WebCrypto and noble)",
  ignore: _chromium() === undefined && !Deno.env.get("CI"),
  async fn() {
    await buildPackage();
    await using gateway = await startGateway();
    const { promise: result, resolve } = Promise.withResolvers<Record<string, Record<string, unknown>>>();
    const bundle = await Deno.readTextFile(BUNDLE_PATH);
    const roundTrip = await Deno.readTextFile(new URL("./helpers/sdk_round_trip.mjs", import.meta.url));
    await using server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
      const url = new URL(request.url);
      const js = { "content-type": "text/javascript" };
      if (url.pathname === "/") {
        return new Response(_PAGE(gateway.fingerprint), { headers: { "content-type": "text/html" } });
      }
      if (url.pathname === "/client.js") return new Response(bundle, { headers: js });
      if (url.pathname === "/sdk_round_trip.mjs") return new Response(roundTrip, { headers: js });
      if (url.pathname === "/result") {
        resolve(await request.json());
        return new Response("ok");
      }
      if (url.pathname.startsWith("/api/")) {
        const upstream = await fetch(`${gateway.url}${url.pathname}`, {
          method: request.method,
          headers: request.headers,
          body: request.method === "POST" ? await request.arrayBuffer() : undefined,
        });
        return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
      }
      return new Response("not found", { status: 404 });
    });
    const profile = await Deno.makeTempDir({ prefix: "pg-chromium-" });
    const browser = new Deno.Command(_chromium()!, {
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        `--user-data-dir=${profile}`,
        `http://127.0.0.1:${server.addr.port}/`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const results = await Promise.race([
        result,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("Chromium gave no result in time")), _BROWSER_TIMEOUT_MS);
        }),
      ]);
      assert.deepEqual(results.detect, {
        text: "echo: hello from chromium",
        crypto: "webcrypto",
        events: results.detect.events,
      });
      assert.equal(results.noble.text, "echo: hello from chromium");
      assert.equal(results.noble.crypto, "noble");
    } finally {
      clearTimeout(timer);
      browser.kill("SIGKILL");
      await browser.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
