/**
 * Issue #10, findings 6–8: what reaches the model is bounded, one user's content never breaks the backend
 * for others, and garbage spread over many networks cannot buy unlimited X25519 work. Against the gateway
 * started with the product's own permission flags and the real llama-server, plus a FAKE llama-server for
 * the one fault the real one no longer sees (a 500 caused by content).
 */
import assert from "node:assert/strict";
import { GatewayClient, GatewayRequestError } from "../src/client/mod.ts";
import type { ChatInput } from "../src/client/mod.ts";
import { failover, LlamaClient, Router } from "../src/inference/mod.ts";
import { decodeKeyConfig, fromBase64Url, type KeyRing, utf8 } from "../src/crypto/mod.ts";
import { encodeChatRequest, GatewayError } from "../src/protocol/mod.ts";
import { post, readAnswer, sealFor } from "./helpers/raw_client.ts";
import { llamaServerBin, privateTempDir } from "./helpers/gateway.ts";
import { spawnGateway } from "./helpers/gateway_process.ts";
import { waitFor } from "./helpers/process.ts";

async function refusal(client: GatewayClient, input: ChatInput): Promise<string> {
  try {
    for await (const event of client.chat(input)) {
      // Once the stream has started, a failure arrives as an error event (status 200 on the wire).
      if (event.type === "error") return `stream ${event.code}`;
    }
    return "ok";
  } catch (error) {
    return error instanceof GatewayRequestError ? `${error.status} ${error.code}` : String(error);
  }
}

function nested(depth: number): Record<string, unknown> {
  let schema: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < depth; i++) schema = { type: "object", properties: { a: schema } };
  return schema;
}

Deno.test("edge: hostile content is refused before the backend and never makes another user wait", async () => {
  const dir = await privateTempDir("pg-edge-content-");
  const gateway = await spawnGateway({
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: dir,
    PG_MAX_TOTAL_CHARS: "20000",
    PG_MAX_MESSAGE_CHARS: "20000",
    PG_LLAMA_CTX: "1024",
    PG_LLAMA_PARALLEL: "1",
  });
  try {
    assert.ok(await waitFor(() => gateway.logs().some((l) => l.event === "supervisor.ready"), 30_000));
    const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
    const tool = (parameters: Record<string, unknown>) => ({
      type: "function" as const,
      function: { name: "f", parameters },
    });
    const attacks: [string, ChatInput, string][] = [
      ["lone surrogate", { messages: [{ role: "user", content: "a\ud800b" }] }, "422 invalid_request"],
      [
        "nested 40 deep",
        { messages: [{ role: "user", content: "x" }], tools: [tool(nested(40))] },
        "422 invalid_request",
      ],
      // 36 KiB of tool schema escaped the size limits and became a 4 MB /tokenize call.
      [
        "36 KiB of tools",
        {
          messages: [{ role: "user", content: "x" }],
          tools: Array.from({ length: 8 }, (_, i) => ({
            type: "function" as const,
            function: { name: `f${i}`, description: "d".repeat(4096), parameters: nested(20) },
          })),
        },
        "422 invalid_request",
      ],
      // Fits the character limits but not the 1024-token context.
      [
        "over the context",
        { messages: [{ role: "user", content: "lorem ipsum ".repeat(1500) }] },
        "stream context_too_long",
      ],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [name, input, expected] of attacks) {
        assert.equal(await refusal(client, input), expected, name);
      }
    }
    // ~3,400 deep overflowed the renderer's recursion (a 500) before the fix. The SDK's own JSON.stringify
    // cannot build it, so this one is sealed by hand.
    const published = decodeKeyConfig(
      fromBase64Url((await (await fetch(`${gateway.url}/api/pubkey`)).json()).keys[0].config)!,
    )!;
    const ring = {
      keys: [{ keyId: published.keyId, kemId: published.kemId, publicKey: published.publicKey }],
    } as unknown as KeyRing;
    const deep = '{"type":"object","properties":{"a":'.repeat(3400) + '{"type":"string"}' + "}}".repeat(3400);
    const text = `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function",` +
      `"function":{"name":"f","parameters":${deep}}}]}`;
    const message = encodeChatRequest(utf8(text), { nowSeconds: Date.now() / 1000 });
    const sealed = await sealFor(ring, { message, kemId: published.kemId });
    const response = await post(gateway.url, sealed.body);
    assert.equal(response.status, 200);
    const { head, events } = await readAnswer(sealed, new Uint8Array(await response.arrayBuffer()));
    assert.equal(head.status, 422);
    assert.deepEqual(events.map((e) => e.type === "error" ? e.code : e.type), ["invalid_request"]);
    // Sixteen hostile requests later the backend's circuit is closed and a legitimate user is served at once.
    const started = performance.now();
    assert.equal(await refusal(client, { messages: [{ role: "user", content: "hi" }], max_tokens: 4 }), "ok");
    const waited = performance.now() - started;
    assert.ok(waited < 3_000, `legitimate request took ${waited} ms`);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    assert.match(metrics, /privacy_gateway_backend_circuit_state\{backend="local"\} 0/);
    assert.doesNotMatch(metrics, /code="internal_error"/);
  } finally {
    const status = await gateway.stop();
    assert.equal(status.code, 0, gateway.output());
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LlamaClient maps a backend's 500 to upstream_rejected, which never opens the circuit (FAKE backend)", async () => {
  const dir = await privateTempDir("pg-fake500-");
  const socketPath = `${dir}/fake.sock`;
  let completions = 0;
  // FAKE llama-server: answers every /completion with the 500 its JSON parser gives a lone surrogate.
  const fake = Deno.serve({ path: socketPath, onListen() {} }, async (request) => {
    await request.body?.cancel();
    if (new URL(request.url).pathname === "/completion") completions++;
    return new Response('{"error":{"code":500,"message":"parse error"}}', { status: 500 });
  });
  try {
    const client = LlamaClient.forSocket("fake", socketPath);
    const router = new Router(
      [{ name: "fake", client, healthy: () => true }],
      { failureThreshold: 3, openMs: 10_000 },
      { log() {} },
    );
    for (let i = 0; i < 6; i++) {
      const attempt = failover(
        router,
        { readyWaitMs: 0, maxAttempts: 2 },
        new AbortController().signal,
        async function* () {
          for await (
            const _ of client.completion({ prompt: [1] }, new AbortController().signal, {
              connectMs: 1000,
              firstTokenMs: 1000,
              idleMs: 1000,
            })
          ) { /* drain */ }
          yield* [];
        },
      );
      await assert.rejects(
        async () => {
          for await (const _ of attempt) { /* drain */ }
        },
        (error) => error instanceof GatewayError && error.code === "upstream_rejected",
      );
    }
    // Six content failures: one attempt each (no failover retry), and the circuit stays closed.
    assert.equal(completions, 6);
    assert.deepEqual(router.circuits(), { fake: "closed" });
    client.close();
  } finally {
    await fake.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("edge: garbage from 150 networks draws on a global decapsulation budget; a network in good standing still gets through", async () => {
  const dir = await privateTempDir("pg-edge-decap-");
  const gateway = await spawnGateway({
    PG_BACKEND: "echo",
    PG_RUNTIME_DIR: dir,
    PG_BEHIND_TLS_PROXY: "true",
    PG_DECAPSULATIONS_PER_SECOND: "20",
    PG_DECAPSULATION_RESERVED_PERCENT: "50",
  });
  try {
    const from = (address: string) =>
      ((input: string | URL | Request, init?: RequestInit) =>
        fetch(input, {
          ...init,
          headers: { ...(init?.headers as Record<string, string>), "x-forwarded-for": address },
        })) as typeof fetch;
    // A regular user: one request that decrypts puts its network in good standing.
    const regular = new GatewayClient({
      baseUrl: gateway.url,
      pin: gateway.fingerprint,
      maxAttempts: 1,
      fetch: from("198.51.100.7"),
    });
    assert.equal(await refusal(regular, { messages: [{ role: "user", content: "hi" }] }), "ok");
    // Well-formed envelopes with a broken ciphertext from 150 networks, as fast as possible.
    const sealed = await captureSealed(gateway.url, gateway.fingerprint);
    sealed[sealed.length - 5] ^= 1;
    const codes = await Promise.all(Array.from({ length: 150 }, async (_, i) => {
      const response = await fetch(`${gateway.url}/api/chat`, {
        method: "POST",
        headers: {
          "content-type": "message/ohttp-chunked-req",
          "x-forwarded-for": `203.0.${i}.9`,
        },
        body: sealed,
      });
      return (await response.json()).error.code as string;
    }));
    const decapsulated = codes.filter((c) => c === "decryption_failed").length;
    const refused = codes.filter((c) => c === "overloaded").length;
    // The open pool holds 10/s with a burst of 10: a few more may pass while the flood lasts.
    assert.ok(decapsulated <= 20, `decapsulated ${decapsulated} of 150`);
    assert.equal(decapsulated + refused, 150, codes.join(","));
    // During the flood the regular network still gets through (the reserved pool).
    assert.equal(await refusal(regular, { messages: [{ role: "user", content: "again" }] }), "ok");
  } finally {
    const status = await gateway.stop();
    assert.equal(status.code, 0, gateway.output());
    await Deno.remove(dir, { recursive: true });
  }
});

/** A sealed request body from the real SDK (captured, not sent). */
async function captureSealed(url: string, pin: string): Promise<Uint8Array<ArrayBuffer>> {
  const { captureChat } = await import("./helpers/edge_client.ts");
  const captured = await captureChat(url, pin, { messages: [{ role: "user", content: "garbage" }] });
  return new Uint8Array(captured.body);
}
