/**
 * The no-leak proof. Prompts carrying unique canaries go through every path — success, decryption
 * failure, validation error, rate limit, proof-of-work challenge, upstream crash, timeout, client
 * disconnect, shutdown — to a gateway process running with the product's permission flags and the real
 * llama-server. Then everything observable is searched for every canary, in plain text, base64, base64url
 * and hex: all stdout/stderr of the gateway (llama-server's own output goes only to the supervisor, which
 * never prints it), the /metrics text, the spans exported over OTLP to a collector in this test, and every
 * file under the test's directories.
 */
import assert from "node:assert/strict";
import { type ChatEvent, GatewayClient, GatewayRequestError } from "../src/client/mod.ts";
import { decodeKeyConfig, fromBase64Url, type KeyRing, toBase64Url, toHex, utf8 } from "../src/crypto/mod.ts";
import { llamaServerBin, privateTempDir } from "./helpers/gateway.ts";
import { freePort, spawnGateway } from "./helpers/gateway_process.ts";
import { chat, flipBit, post, readAnswer, sealFor } from "./helpers/raw_client.ts";

function canary(path: string): string {
  return `CANARY-${path}-${crypto.randomUUID().replaceAll("-", "")}`;
}

/** Every form in which a canary could leak: plain, base64 and base64url at each alignment, hex. */
function encodings(secret: string): string[] {
  const forms = [secret, toHex(utf8(secret)), toHex(utf8(secret)).toUpperCase()];
  for (let shift = 0; shift < 3; shift++) {
    const bytes = utf8("x".repeat(shift) + secret);
    const b64url = toBase64Url(bytes);
    // Drop the characters that mix in the shifted prefix or the unknown suffix.
    const start = Math.ceil((shift * 4) / 3) + 1;
    const core = b64url.slice(start, b64url.length - 2);
    forms.push(core, core.replaceAll("-", "+").replaceAll("_", "/"));
  }
  return forms;
}

async function collect(iterable: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const events: ChatEvent[] = [];
  for await (const event of iterable) events.push(event);
  return events;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await filesUnder(path));
    else if (entry.isFile) out.push(path);
  }
  return out;
}

Deno.test("No canary from any path reaches logs, metrics, spans or files", async () => {
  const dir = await privateTempDir("pg-noleak-");
  const spans: string[] = [];
  const collectorPort = freePort();
  const collector = Deno.serve(
    { hostname: "127.0.0.1", port: collectorPort, onListen() {} },
    async (request) => {
      spans.push(new TextDecoder("latin1").decode(await request.arrayBuffer()));
      return new Response("{}", { headers: { "content-type": "application/json" } });
    },
  );
  const gateway = await spawnGateway({
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: `${dir}/run`,
    PG_LOG_LEVEL: "debug",
    PG_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}/v1/traces`,
    PG_POW_FOR_NEW_DEVICES: "true",
    PG_POW_BASE_BITS: "4",
    PG_DEVICE_BURST: "2",
    PG_DEVICE_RATE_PER_MINUTE: "6",
    PG_REQUEST_TIMEOUT_SECONDS: "2",
    // Room for a generation that outlasts the request deadline.
    PG_LLAMA_CTX: "16384",
    PG_MAX_TOKENS_CAP: "16000",
    PG_DRAIN_SECONDS: "0",
    PG_STREAM_TICK_MS: "10",
  });
  const canaries: string[] = [];
  const client = () => new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  const say = (path: string) => {
    const secret = canary(path);
    canaries.push(secret);
    return secret;
  };
  try {
    const deadline = Date.now() + 20_000;
    while (!gateway.logs().some((l) => l.event === "supervisor.ready")) {
      if (Date.now() > deadline) assert.fail("llama-server never became ready");
      await new Promise((r) => setTimeout(r, 50));
    }
    const llamaPid = Number(gateway.logs().find((l) => l.event === "supervisor.ready")?.pid);

    // Success (after a transparent proof-of-work challenge: the challenge path).
    const ok = await collect(
      client().chat({
        messages: [{ role: "system", content: say("system") }, { role: "user", content: say("success") }],
        max_tokens: 16,
      }),
    );
    assert.equal(ok.at(-1)?.type, "done", JSON.stringify(ok.at(-1)));

    // Decryption failure: a sealed request with one flipped ciphertext bit.
    // The raw helper seals to the first published key (the gateway runs in another process).
    const published = decodeKeyConfig(
      fromBase64Url((await (await fetch(`${gateway.url}/api/pubkey`)).json()).keys[0].config)!,
    )!;
    const ring = {
      keys: [{ keyId: published.keyId, kemId: published.kemId, publicKey: published.publicKey }],
    } as unknown as KeyRing;
    const sealed = await sealFor(ring, { json: chat(say("decryption")) });
    const broken = await post(gateway.url, flipBit(sealed.body, sealed.body.byteLength - 5));
    assert.equal((await broken.json()).error.code, "decryption_failed");

    // Validation error: an unknown field whose name and value are canaries.
    const invalidSealed = await sealFor(ring, {
      json: { ...chat(say("invalid")), [say("field")]: say("value") },
    });
    const invalid = await post(gateway.url, invalidSealed.body);
    // Uniform outside: 200 with the encapsulated 422 inside.
    assert.equal(invalid.status, 200);
    const { head } = await readAnswer(invalidSealed, new Uint8Array(await invalid.arrayBuffer()));
    assert.equal(head.status, 422);

    // Rate limit: one device beyond its burst.
    const limited = client();
    let refused = false;
    for (let i = 0; i < 6 && !refused; i++) {
      try {
        await collect(
          limited.chat({ messages: [{ role: "user", content: say("ratelimited") }], max_tokens: 4 }),
        );
      } catch (error) {
        refused = error instanceof GatewayRequestError && error.code === "rate_limited";
      }
    }
    assert.ok(refused, "the rate limit was reached");

    // Timeout: a long generation past the 2 s request deadline.
    const slow = await collect(
      client().chat({ messages: [{ role: "user", content: say("timeout") }], max_tokens: 3900 }),
    );
    assert.equal(slow.at(-1)?.type, "error");

    // Client disconnect mid-stream.
    const abort = new AbortController();
    try {
      for await (
        const _ of client().chat({
          messages: [{ role: "user", content: say("disconnect") }],
          max_tokens: 3000,
        }, abort.signal)
      ) {
        abort.abort();
      }
    } catch { /* aborted */ }

    // Upstream crash: kill -9 llama-server mid-stream.
    const crashed: ChatEvent[] = [];
    for await (
      const event of client().chat({ messages: [{ role: "user", content: say("crash") }], max_tokens: 3000 })
    ) {
      if (crashed.length === 0) Deno.kill(llamaPid, "SIGKILL");
      crashed.push(event);
    }
    assert.equal(crashed.at(-1)?.type, "error");

    // Metrics, then shutdown with a stream in flight.
    const restartDeadline = Date.now() + 20_000;
    while (gateway.logs().filter((l) => l.event === "supervisor.ready").length < 2) {
      if (Date.now() > restartDeadline) assert.fail("llama-server was not restarted");
      await new Promise((r) => setTimeout(r, 50));
    }
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    // A stream in flight: shut down only once its first event has arrived (a condition, not a sleep).
    const iterator = client().chat({
      messages: [{ role: "user", content: say("shutdown") }],
      max_tokens: 3000,
    })[
      Symbol.asyncIterator
    ]();
    const first = await iterator.next();
    assert.equal(first.done, false, "the stream started before shutdown");
    const inFlight = (async () => {
      while (!(await iterator.next()).done) { /* drain */ }
    })().catch(() => {});
    const status = await gateway.stop("SIGTERM");
    assert.equal(status.code, 0);
    await inFlight;
    // No wait for spans: the gateway flushes its exporter before it exits, and the collector records a
    // batch before answering it, so every span is in `spans` once the process has exited.

    const haystacks: [string, string][] = [["gateway output", gateway.output()], ["metrics", metrics], [
      "spans",
      spans.join("\n"),
    ]];
    for (const file of await filesUnder(dir)) {
      haystacks.push([file, new TextDecoder("latin1").decode(await Deno.readFile(file))]);
    }
    assert.ok(spans.length > 0, "spans were exported, so the search covers them");
    // With tracing on, chat spans carry the keyed hash of the request id (computed only when recording).
    assert.ok(spans.some((s) => s.includes("privacy_gateway.request_id_hash")), "request id hash in spans");
    assert.ok(
      gateway.output().includes("request.finished"),
      "requests were logged, so the search covers logs",
    );
    for (const secret of canaries) {
      for (const form of encodings(secret)) {
        for (const [where, text] of haystacks) {
          assert.equal(text.includes(form), false, `${secret} leaked into ${where}`);
        }
      }
    }
  } finally {
    await gateway.stop("SIGKILL").catch(() => {});
    await collector.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
