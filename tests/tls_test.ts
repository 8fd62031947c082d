/**
 * HTTPS served by the gateway itself, and certificate renewal under load: streams in flight finish on the
 * old certificate, new connections get the new one, and no stream fails.
 */
import assert from "node:assert/strict";
import { GatewayClient } from "../src/client/mod.ts";
import { llamaServerBin, privateTempDir, startGateway } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/process.ts";

async function makeCa(dir: string): Promise<void> {
  const script = new URL("../scripts/make-test-ca.sh", import.meta.url).pathname;
  const result = await new Deno.Command("bash", { args: [script, dir], stderr: "piped" }).output();
  assert.ok(result.success, `make-test-ca.sh failed: ${new TextDecoder().decode(result.stderr)}`);
}

function clientTrusting(caPem: string, url: string, fingerprint: string) {
  const http = Deno.createHttpClient({ caCerts: [caPem] });
  const client = new GatewayClient({
    baseUrl: url,
    pin: fingerprint,
    maxAttempts: 1,
    fetch: (input, init) => fetch(input, { ...init, client: http }),
  });
  return { client, close: () => http.close() };
}

Deno.test("The gateway serves HTTPS and reloads a renewed certificate without failing in-flight streams", async () => {
  const dir = await privateTempDir("pg-tls-");
  await makeCa(`${dir}/old`);
  await makeCa(`${dir}/new`);
  await Deno.copyFile(`${dir}/old/node.pem`, `${dir}/cert.pem`);
  await Deno.copyFile(`${dir}/old/node-key.pem`, `${dir}/key.pem`);
  const gateway = await startGateway({
    PG_BACKEND: "llama",
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: `${dir}/run`,
    PG_HOST: "127.0.0.1",
    PG_TLS_CERT_FILE: `${dir}/cert.pem`,
    PG_TLS_KEY_FILE: `${dir}/key.pem`,
    PG_STREAM_TICK_MS: "20",
  }, { tlsReloadIntervalMs: 100 });
  try {
    assert.match(gateway.url, /^https:\/\//);
    await gateway.supervisor!.ensureReady(AbortSignal.timeout(20_000));
    const oldCa = await Deno.readTextFile(`${dir}/old/ca.pem`);
    const newCa = await Deno.readTextFile(`${dir}/new/ca.pem`);
    const before = clientTrusting(oldCa, gateway.url, gateway.fingerprint);
    // Streams in flight while the certificate changes.
    let generating = 0;
    const streams = Array.from({ length: 4 }, async (_, i) => {
      const events = [];
      for await (
        const event of before.client.chat({
          messages: [{ role: "user", content: `s${i}` }],
          max_tokens: 1500,
        })
      ) {
        if (events.push(event) === 1) generating++;
      }
      return events.at(-1)?.type;
    });
    // Renew only once all four streams are generating (a condition, not a sleep).
    assert.ok(await waitFor(() => generating === 4, 10_000), "four streams are generating");
    await Deno.copyFile(`${dir}/new/node.pem`, `${dir}/cert.pem`);
    await Deno.copyFile(`${dir}/new/node-key.pem`, `${dir}/key.pem`);
    assert.deepEqual(await Promise.all(streams), ["done", "done", "done", "done"]);
    before.close();
    // New connections see the new certificate.
    const deadline = Date.now() + 5000;
    let served = false;
    while (!served && Date.now() < deadline) {
      const after = clientTrusting(newCa, gateway.url, gateway.fingerprint);
      try {
        const events = [];
        for await (
          const event of after.client.chat({ messages: [{ role: "user", content: "new" }], max_tokens: 5 })
        ) events.push(event);
        served = events.at(-1)?.type === "done";
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        after.close();
      }
    }
    assert.ok(served, "a client trusting only the new CA is served after renewal");
    assert.ok(gateway.logs.some((l) => l.includes('"tls.reloaded"')));
  } finally {
    await gateway.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
