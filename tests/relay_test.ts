/**
 * Relay support (issue 13): the SDK talks to a plain Oblivious HTTP relay (tests/helpers/relay.ts), which
 * forwards the standard media types to the gateway. Everything works through it, and the gateway sees the
 * relay's address, never the app's: its per-network limits then apply per relay (docs/protocol.md §6).
 */
import assert from "node:assert/strict";
import { type ChatEvent, GatewayClient } from "../src/client/mod.ts";
import { startGateway } from "./helpers/gateway.ts";
import { chatOutcome, startRelay } from "./helpers/relay.ts";

function outcome(client: GatewayClient, content = "via relay"): Promise<string> {
  return chatOutcome(client, content);
}

Deno.test("GatewayClient chats over X-Wing through an OHTTP relay that forwards only the media type", async () => {
  await using gateway = await startGateway();
  await using relay = startRelay(`${gateway.url}/api/chat`);
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, relayUrl: relay.url });
  assert.equal(await outcome(client), "done echo: via relay");
  const events = await client.complete({ messages: [{ role: "user", content: "whole" }] });
  assert.equal(events.at(-1)?.type, "done");
  assert.deepEqual(relay.forwarded, [["content-type", "content-length"], ["content-type", "content-length"]]);
  assert.equal((await client.keys())[0].kemId, 0x647a);
});

Deno.test("The gateway sees the relay's address: its network limit counts the relay, not the app", async () => {
  await using gateway = await startGateway({ PG_IP_RATE_PER_MINUTE: "6", PG_IP_BURST: "1" });
  await using relay = startRelay(`${gateway.url}/api/chat`, "127.0.0.2");
  const viaRelay = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    relayUrl: relay.url,
    maxAttempts: 1,
  });
  const direct = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  assert.equal(await outcome(viaRelay), "done echo: via relay");
  assert.equal(await outcome(viaRelay), "done echo: via relay");
  // The relay's network (127.0.0.2) has spent its burst; the app's own address (127.0.0.1) has not.
  assert.equal(await outcome(viaRelay), "429 ip_rate_limited");
  assert.equal(await outcome(direct, "direct"), "done echo: direct");
});

Deno.test("GatewayClient fetches its signed keys from keysUrl and still checks them against the pin", async () => {
  await using gateway = await startGateway();
  await using relay = startRelay(`${gateway.url}/api/chat`);
  const fetched: string[] = [];
  const recording = (async (input: string | URL | Request, init?: RequestInit) => {
    fetched.push(new URL(String(input)).pathname);
    const target = String(input).endsWith("/mirror/keys") ? `${gateway.url}/api/pubkey` : input;
    return await fetch(target, init);
  }) as typeof fetch;
  const client = new GatewayClient({
    baseUrl: "http://gateway.invalid",
    keysUrl: "http://cdn.invalid/mirror/keys",
    pin: gateway.fingerprint,
    relayUrl: relay.url,
    fetch: recording,
  });
  assert.equal(await outcome(client), "done echo: via relay");
  assert.deepEqual(fetched, ["/mirror/keys", "/"]);
});

Deno.test("The test relay refuses anything but the OHTTP request media types", async () => {
  await using gateway = await startGateway();
  await using relay = startRelay(`${gateway.url}/api/chat`);
  const response = await fetch(relay.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(response.status, 415);
  await response.body?.cancel();
  assert.deepEqual(relay.forwarded, []);
});

Deno.test("As deployed: the gateway under its own permission flags, the real llama-server, X-Wing, through the relay", async () => {
  const { spawnGateway } = await import("./helpers/gateway_process.ts");
  const { llamaServerBin, privateTempDir } = await import("./helpers/gateway.ts");
  const dir = await privateTempDir("pg-relay-");
  const gateway = await spawnGateway({ PG_LLAMA_SERVER_BIN: llamaServerBin(), PG_RUNTIME_DIR: dir });
  try {
    await using relay = startRelay(`${gateway.url}/api/chat`, "127.0.0.2");
    const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, relayUrl: relay.url });
    const events: ChatEvent[] = [];
    for await (
      const event of client.chat({ messages: [{ role: "user", content: "hello" }], max_tokens: 8 })
    ) {
      events.push(event);
    }
    assert.equal(events.at(-1)?.type, "done");
    assert.ok(events.some((e) => e.type === "text"));
    assert.equal((await client.keys())[0].kemId, 0x647a);
    assert.deepEqual(relay.forwarded, [["content-type", "content-length"]]);
  } finally {
    const status = await gateway.stop();
    assert.equal(status.code, 0, gateway.output());
    await Deno.remove(dir, { recursive: true });
  }
});
