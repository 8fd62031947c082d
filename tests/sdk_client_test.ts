/**
 * The SDK's behaviour an app relies on (issue #16): cancellation with an AbortSignal, no retry once output
 * was delivered, error kinds an app can act on, and a device key kept as a 32-byte seed. That the gateway
 * stops generating when the client goes away is proven against llama-server in llama_integration_test.ts.
 */
import assert from "node:assert/strict";
import { tokenIntegrityError } from "../src/tokens/token_error.ts";
import { errorKind, GatewayClient, GatewayRequestError, KeyVerificationError } from "../src/client/mod.ts";
import { deviceSigner } from "../src/client/device_key.ts";
import { nobleCrypto } from "../src/client/noble_crypto.ts";
import { webCrypto } from "../src/client/platform_crypto.ts";
import { loadDeviceKey, MemorySecretStore } from "../src/client/stores.ts";
import { ResponseIntegrityError } from "../src/protocol/response_integrity_error.ts";
import { startGateway } from "./helpers/gateway.ts";

/** A fetch that counts chat posts and can rewrite the answer's body. */
function countingFetch(rewrite?: (body: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>) {
  const calls = { chat: 0 };
  const wrapped: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (!String(input).endsWith("/api/chat")) return response;
    calls.chat++;
    if (!rewrite || !response.body) return response;
    return new Response(rewrite(response.body), { status: response.status, headers: response.headers });
  };
  return { calls, fetch: wrapped };
}

Deno.test("GatewayClient.chat() stops on AbortSignal with an AbortError and sends no second request", async () => {
  await using gateway = await startGateway({ PG_STREAM_TICK_MS: "0" });
  const { calls, fetch } = countingFetch();
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, fetch });
  const controller = new AbortController();
  const seen: string[] = [];
  const error = await (async () => {
    try {
      const long = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");
      for await (
        const event of client.chat({ messages: [{ role: "user", content: long }] }, controller.signal)
      ) {
        seen.push(event.type);
        controller.abort();
      }
    } catch (error) {
      return error;
    }
  })();
  assert.equal((error as Error)?.name, "AbortError");
  assert.equal(errorKind(error), "aborted");
  assert.deepEqual(seen, ["text"]);
  assert.equal(calls.chat, 1);
});

Deno.test("GatewayClient.chat() does not retry a connection lost after output was delivered", async () => {
  await using gateway = await startGateway({ PG_STREAM_TICK_MS: "0" });
  // Forwards every chunk of the answer, then fails the connection instead of ending it.
  const { calls, fetch } = countingFetch((body) => {
    const reader = body.getReader();
    return new ReadableStream({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.error(new TypeError("connection reset"));
        else controller.enqueue(value);
      },
    });
  });
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, fetch });
  let text = "";
  await assert.rejects(
    async () => {
      for await (
        const event of client.chat({ messages: [{ role: "user", content: "one two three four" }] })
      ) {
        if (event.type === "text") text += event.delta;
      }
    },
    (error) => error instanceof GatewayRequestError && error.code === "network_error",
  );
  assert.ok(text.length > 0, "some output was delivered before the failure");
  assert.equal(calls.chat, 1);
});

Deno.test("GatewayClient.chat() reports a truncated answer as integrity, never retried", async () => {
  await using gateway = await startGateway();
  // Drops the final chunk: the stream ends without its authenticated end.
  const { calls, fetch } = countingFetch((body) => {
    const reader = body.getReader();
    const parts: Uint8Array[] = [];
    return new ReadableStream({
      async start(controller) {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value);
        }
        const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
        let offset = 0;
        for (const p of parts) all.set(p, (offset += p.byteLength) - p.byteLength);
        controller.enqueue(all.subarray(0, all.byteLength - 20));
        controller.close();
      },
    });
  });
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, fetch });
  const error = await (async () => {
    try {
      for await (const _ of client.chat({ messages: [{ role: "user", content: "hi" }] }));
    } catch (error) {
      return error;
    }
  })();
  assert.ok(error instanceof ResponseIntegrityError);
  assert.equal(errorKind(error), "integrity");
  assert.equal(calls.chat, 1);
});

Deno.test("errorKind() maps the gateway's codes to what an app does about them", () => {
  assert.equal(errorKind(new GatewayRequestError("rate_limited", 429, 7)), "rate_limited");
  assert.equal(new GatewayRequestError("rate_limited", 429, 7).retryAfter, 7);
  assert.equal(errorKind(new GatewayRequestError("unknown_key_id", 422)), "key_rotation");
  assert.equal(errorKind(new GatewayRequestError("challenge_required", 428)), "challenge");
  assert.equal(errorKind(new GatewayRequestError("network_error", 0)), "network");
  assert.equal(errorKind(new GatewayRequestError("upstream_timeout", 504)), "server");
  assert.equal(errorKind(new GatewayRequestError("context_too_long", 422)), "refused");
  assert.equal(errorKind(new ResponseIntegrityError("tampered")), "integrity");
  assert.equal(errorKind(new KeyVerificationError("pin_mismatch")), "pin_mismatch");
  // Under the right pin, a key set that fails its signature or its format is forged or broken.
  assert.equal(errorKind(new KeyVerificationError("bad_signature")), "integrity");
  assert.equal(errorKind(new KeyVerificationError("malformed")), "integrity");
  assert.equal(errorKind(new KeyVerificationError("expired")), "key_rotation");
  assert.equal(errorKind(tokenIntegrityError("the issuer's signature does not verify")), "integrity");
  assert.equal(errorKind(new GatewayRequestError("decryption_failed", 400)), "integrity");
  assert.equal(errorKind(new GatewayRequestError("token_spent", 401)), "refused");
});

Deno.test("GatewayClient refuses to start without a pin unless allowUnpinned, and unpinned only on loopback", () => {
  assert.throws(() => new GatewayClient({ baseUrl: "http://127.0.0.1:1" }), /identity fingerprint/);
  assert.throws(
    () => new GatewayClient({ baseUrl: "https://gateway.example", allowUnpinned: true }),
    /only a gateway on this machine/,
  );
  for (const baseUrl of ["http://127.0.0.1:1", "http://localhost:8000", "http://[::1]:8000"]) {
    new GatewayClient({ baseUrl, allowUnpinned: true });
  }
});

Deno.test("GatewayClient checks the pin and the key set's signature with the crypto the app injected", async () => {
  await using gateway = await startGateway();
  const calls: string[] = [];
  const noble = nobleCrypto();
  const counting = (verdict?: boolean) => ({
    ...noble,
    sha256: (data: Uint8Array) => (calls.push("sha256"), noble.sha256(data)),
    ed25519Verify: async (key: Uint8Array, signature: Uint8Array, message: Uint8Array) => {
      calls.push("ed25519Verify");
      return verdict ?? await noble.ed25519Verify(key, signature, message);
    },
  });
  await new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, crypto: counting() }).keys();
  assert.ok(calls.includes("sha256") && calls.includes("ed25519Verify"), calls.join());
  // The injected backend decides: one that refuses every signature makes the key set unusable.
  await assert.rejects(
    new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, crypto: counting(false) }).keys(),
    (e) => e instanceof KeyVerificationError && e.reason === "bad_signature",
  );
});

Deno.test("deviceSigner() derives the same device from a stored seed on noble and WebCrypto", async () => {
  const store = new MemorySecretStore();
  const seed = await loadDeviceKey(store, nobleCrypto());
  assert.deepEqual(await loadDeviceKey(store, webCrypto()), seed);
  const noble = await deviceSigner(nobleCrypto(), seed);
  const web = await deviceSigner(webCrypto(), seed);
  assert.equal(noble.publicKey, web.publicKey);
  const message = new TextEncoder().encode("device proof");
  // Ed25519 is deterministic (RFC 8032): both backends make the same signature.
  assert.deepEqual(await noble.sign(message), await web.sign(message));
});

Deno.test("GatewayClient with a seed device key completes a round trip on noble", async () => {
  await using gateway = await startGateway();
  const crypto = nobleCrypto();
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    crypto,
    deviceKey: crypto.randomBytes(32),
  });
  const events = await client.complete({ messages: [{ role: "user", content: "whole" }] });
  assert.deepEqual(
    events.filter((e) => e.type === "text").map((e) => e.type === "text" && e.delta).join(""),
    "echo: whole",
  );
});

Deno.test("GatewayClient on injected noble crypto blinds its tokens in pure JS and chats in token mode", async () => {
  await using gateway = await startGateway({ PG_AUTH: "token" });
  const crypto = nobleCrypto();
  let drawn = 0;
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    // Counts the randomness drawn from the injected backend: the pure-JS blinding takes r from it.
    crypto: { ...crypto, randomBytes: (n: number) => (drawn += n, crypto.randomBytes(n)) },
    tokenBatchSize: 2,
    tokenLowWater: 1,
  });
  assert.equal(await client.prefetchTokens(), 2);
  assert.ok(drawn >= 2 * 256, `only ${drawn} random bytes from the injected crypto: blinding used another`);
  const events = await client.complete({ messages: [{ role: "user", content: "noble tokens" }] });
  assert.equal(
    events.filter((e) => e.type === "text").map((e) => e.type === "text" && e.delta).join(""),
    "echo: noble tokens",
  );
  assert.equal(client.tokenMode, true);
});

Deno.test("GatewayClient encapsulates the next request ahead (after keys and after each request), never twice with one context", async () => {
  await using gateway = await startGateway({ PG_STREAM_TICK_MS: "0" });
  const base = webCrypto();
  const encapsulations: number[] = [];
  const counted = {
    ...base,
    mlKem768Encapsulate: (publicKey: Uint8Array, m: Uint8Array) => {
      encapsulations.push(performance.now());
      return base.mlKem768Encapsulate(publicKey, m);
    },
  };
  const posted: { at: number; enc: string }[] = [];
  const fetchSpy: typeof fetch = async (input, init) => {
    if (String(input).endsWith("/api/chat")) {
      const body = new Uint8Array(init!.body as Uint8Array);
      // hdr (7 bytes), then X-Wing's 1,120-byte enc.
      posted.push({ at: performance.now(), enc: body.subarray(7, 7 + 1120).join(",") });
    }
    return await fetch(input, init);
  };
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    crypto: counted,
    fetch: fetchSpy,
  });
  await client.keys();
  const chat = async () => {
    const startedAt = performance.now();
    for await (const _ of client.chat({ messages: [{ role: "user", content: "hi" }], max_tokens: 4 }));
    return startedAt;
  };
  for (let i = 0; i < 3; i++) {
    // Let the encapsulation prepared after the keys (or the last answer) finish.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const startedAt = await chat();
    const sentAt = posted[i].at;
    assert.equal(
      encapsulations.filter((t) => t >= startedAt && t <= sentAt).length,
      0,
      `request ${i} encapsulated on its own path`,
    );
  }
  // Every request a fresh encapsulation: a prepared context is used once.
  assert.equal(new Set(posted.map((p) => p.enc)).size, 3);
  // And the option turns it off.
  const plain = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    crypto: counted,
    fetch: fetchSpy,
    prepareAhead: false,
  });
  await plain.keys();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const before = encapsulations.length;
  for await (const _ of plain.chat({ messages: [{ role: "user", content: "hi" }], max_tokens: 4 }));
  assert.equal(encapsulations.length, before + 1);
});
