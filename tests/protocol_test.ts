/**
 * Protocol v1 against a real gateway on loopback (echo backend: this suite is about the envelope, not
 * the model). Every tampering gets its documented code, and the gateway keeps serving afterwards.
 */
import assert from "node:assert/strict";
import {
  GatewayClient,
  GatewayRequestError,
  KeyVerificationError,
  ResponseIntegrityError,
} from "../src/client/mod.ts";
import { fromBase64Url, toBase64Url, utf8 } from "../src/crypto/mod.ts";
import { padRequest } from "../src/protocol/mod.ts";
import { startGateway, type TestGateway } from "./helpers/gateway.ts";
import { chat, flipBit, parseSse, post, readSse, sealFor } from "./helpers/raw_client.ts";

const RID_OFFSET = 17;
const ENC_OFFSET = RID_OFFSET + 16;

async function expectClearError(response: Response, status: number, code: string): Promise<void> {
  assert.equal(response.headers.get("content-type")?.startsWith("application/json"), true);
  const body = await response.json();
  assert.equal(response.status, status);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, "string");
}

async function expectSealedError(
  gateway: TestGateway,
  sealed: Awaited<ReturnType<typeof sealFor>>,
  status: number,
  code: string,
) {
  const response = await post(gateway.url, sealed.body);
  assert.equal(response.status, status);
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  const events = await readSse(sealed, parseSse(await response.text()));
  assert.deepEqual(events.map((e) => e.type), ["error"]);
  assert.equal(events[0].type === "error" && events[0].code, code);
}

async function stillServes(gateway: TestGateway): Promise<void> {
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  let text = "";
  for await (const event of client.chat({ messages: [{ role: "user", content: "still there" }] })) {
    if (event.type === "text") text += event.delta;
  }
  assert.equal(text, "echo: still there");
}

Deno.test("GatewayClient.chat() streams a decrypted answer from a real gateway", async () => {
  await using gateway = await startGateway();
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  const events = [];
  for await (const event of client.chat({ messages: [{ role: "user", content: "hello there" }] })) {
    events.push(event);
  }
  assert.equal(
    events.filter((e) => e.type === "text").map((e) => e.type === "text" ? e.delta : "").join(""),
    "echo: hello there",
  );
  assert.equal(events.at(-1)?.type, "done");
});

Deno.test("GatewayClient.complete() returns a sealed non-streaming answer", async () => {
  await using gateway = await startGateway();
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  const events = await client.complete({ messages: [{ role: "user", content: "one shot" }] });
  assert.equal(events.map((e) => e.type === "text" ? e.delta : "").join(""), "echo: one shot");
  assert.equal(events.at(-1)?.type, "done");
});

Deno.test("GET /api/pubkey serves a signed key set with cache headers, and ohttp-keys", async () => {
  await using gateway = await startGateway();
  const response = await fetch(`${gateway.url}/api/pubkey`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("cache-control") ?? "", /^public, max-age=\d+$/);
  const doc = await response.json();
  assert.equal(doc.fingerprint, gateway.fingerprint);
  assert.equal(doc.keys.length, 2);
  const ohttp = await fetch(`${gateway.url}/.well-known/ohttp-gateway`);
  assert.equal(ohttp.headers.get("content-type"), "application/ohttp-keys");
  const bytes = new Uint8Array(await ohttp.arrayBuffer());
  // Two configs, each 2-byte length prefixed, each 41 bytes (RFC 9458 §3 with one suite).
  assert.equal(bytes.byteLength, 2 * (2 + 41));
  assert.equal((bytes[0] << 8) | bytes[1], 41);
  assert.equal(toBase64Url(bytes.slice(2, 43)), doc.keys[0].config);
});

Deno.test("openRequest() rejects a flipped bit in enc as decryption_failed", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(
    await post(gateway.url, flipBit(sealed.body, ENC_OFFSET + 5)),
    400,
    "decryption_failed",
  );
  await stillServes(gateway);
});

Deno.test("openRequest() rejects a flipped bit in the ciphertext as decryption_failed", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(
    await post(gateway.url, flipBit(sealed.body, sealed.body.byteLength - 20)),
    400,
    "decryption_failed",
  );
});

Deno.test("splitRequest() rejects a changed version byte as unsupported_version", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(await post(gateway.url, flipBit(sealed.body, 0, 1)), 400, "unsupported_version");
});

Deno.test("openRequest() rejects a key id changed to the other live key as decryption_failed", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  const body = sealed.body.slice();
  body[1] = gateway.keyRing.keys[1].keyId;
  await expectClearError(await post(gateway.url, body), 400, "decryption_failed");
});

for (const [field, offset] of [["kem_id", 3], ["kdf_id", 5], ["aead_id", 7]] as const) {
  Deno.test(`splitRequest() rejects a changed ${field} as unsupported_suite`, async () => {
    await using gateway = await startGateway();
    const sealed = await sealFor(gateway.keyRing);
    await expectClearError(
      await post(gateway.url, flipBit(sealed.body, offset, 1)),
      400,
      "unsupported_suite",
    );
  });
}

Deno.test("openRequest() rejects a timestamp changed inside the window as decryption_failed", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  const body = sealed.body.slice();
  body[15] = (body[15] + 1) & 0xff;
  await expectClearError(await post(gateway.url, body), 400, "decryption_failed");
});

Deno.test("openRequest() rejects a flipped bit in the request id as decryption_failed", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(
    await post(gateway.url, flipBit(sealed.body, RID_OFFSET + 3)),
    400,
    "decryption_failed",
  );
});

Deno.test("splitRequest() rejects a request id longer than 32 bytes as invalid_request_id", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing, { requestId: new Uint8Array(200) });
  await expectClearError(await post(gateway.url, sealed.body), 400, "invalid_request_id");
});

Deno.test("splitRequest() rejects a truncated envelope as malformed_request", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(await post(gateway.url, sealed.body.slice(0, 40)), 400, "malformed_request");
  await expectClearError(await post(gateway.url, new Uint8Array(0)), 400, "malformed_request");
});

Deno.test("ReplayGuard refuses a replayed request inside the window as replayed_request", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  const first = await post(gateway.url, sealed.body);
  assert.equal(first.status, 200);
  await first.body?.cancel();
  await expectClearError(await post(gateway.url, sealed.body), 409, "replayed_request");
});

Deno.test("ReplayGuard refuses a reused request id with a fresh enc as replayed_request", async () => {
  await using gateway = await startGateway();
  const requestId = crypto.getRandomValues(new Uint8Array(16));
  const first = await post(gateway.url, (await sealFor(gateway.keyRing, { requestId })).body);
  await first.body?.cancel();
  await expectClearError(
    await post(gateway.url, (await sealFor(gateway.keyRing, { requestId })).body),
    409,
    "replayed_request",
  );
});

Deno.test("ReplayGuard refuses stale and future timestamps as stale_request", async () => {
  await using gateway = await startGateway();
  const now = Math.floor(Date.now() / 1000);
  await expectClearError(
    await post(gateway.url, (await sealFor(gateway.keyRing, { timestamp: now - 120 })).body),
    400,
    "stale_request",
  );
  await expectClearError(
    await post(gateway.url, (await sealFor(gateway.keyRing, { timestamp: now + 120 })).body),
    400,
    "stale_request",
  );
});

Deno.test("ReplayGuard serves at once a gateway whose keys were generated at start", async () => {
  // No process before this one held these keys, so no earlier process can have accepted a request sealed
  // to them; the restart rule (tests/unit/replay_guard_test.ts) applies only to keys from a file.
  await using gateway = await startGateway();
  const before = Math.floor(Date.now() / 1000) - 5;
  const response = await post(gateway.url, (await sealFor(gateway.keyRing, { timestamp: before })).body);
  await response.body?.cancel();
  assert.equal(response.status, 200);
});

Deno.test("openRequest() answers an unknown key id with unknown_key_id", async () => {
  await using gateway = await startGateway();
  const unknown = (gateway.keyRing.keys[1].keyId + 7) % 256;
  await expectClearError(
    await post(gateway.url, (await sealFor(gateway.keyRing, { keyId: unknown })).body),
    400,
    "unknown_key_id",
  );
});

Deno.test("POST /api/chat refuses an oversized body with request_too_large", async () => {
  await using gateway = await startGateway({ PG_MAX_BODY_BYTES: "4096" });
  await expectClearError(await post(gateway.url, new Uint8Array(5000)), 413, "request_too_large");
});

Deno.test("POST /api/chat refuses other media types with unsupported_media_type", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(
    await post(gateway.url, sealed.body, "application/json"),
    415,
    "unsupported_media_type",
  );
});

Deno.test("parseChatRequest() reports invalid JSON inside the encryption as invalid_json", async () => {
  await using gateway = await startGateway();
  await expectSealedError(
    gateway,
    await sealFor(gateway.keyRing, { payload: padRequest(utf8("{not json")) }),
    400,
    "invalid_json",
  );
});

Deno.test("parseChatRequest() reports invalid UTF-8 inside the encryption as invalid_utf8", async () => {
  await using gateway = await startGateway();
  const payload = padRequest(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
  await expectSealedError(gateway, await sealFor(gateway.keyRing, { payload }), 400, "invalid_utf8");
});

Deno.test("unpadRequest() reports non-zero padding as invalid_padding", async () => {
  await using gateway = await startGateway();
  const payload = padRequest(utf8(JSON.stringify(chat("x"))));
  payload[payload.byteLength - 1] = 1;
  await expectSealedError(gateway, await sealFor(gateway.keyRing, { payload }), 400, "invalid_padding");
});

Deno.test("unpadRequest() reports a plaintext that is not a bucket size as invalid_padding", async () => {
  await using gateway = await startGateway();
  await expectSealedError(
    gateway,
    await sealFor(gateway.keyRing, { payload: new Uint8Array(1000) }),
    400,
    "invalid_padding",
  );
});

for (
  const [name, json] of [
    ["missing messages", { max_tokens: 5 }],
    ["an extra field", { ...chat("x"), surprise: true }],
    ["an extra message field", { messages: [{ role: "user", content: "x", extra: 1 }] }],
    [
      "a __proto__ key",
      JSON.parse('{"messages":[{"role":"user","content":"x"}],"__proto__":{"polluted":true}}'),
    ],
    ["a constructor key", { ...chat("x"), constructor: { prototype: {} } }],
    ["a wrong type", { messages: "hello" }],
    ["an out-of-range temperature", { ...chat("x"), temperature: 50 }],
  ] as const
) {
  Deno.test(`parseChatRequest() rejects ${name} as invalid_request`, async () => {
    await using gateway = await startGateway();
    await expectSealedError(gateway, await sealFor(gateway.keyRing, { json }), 422, "invalid_request");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
}

async function multiChunkResponse(gateway: TestGateway) {
  const sealed = await sealFor(gateway.keyRing, { json: chat("word ".repeat(300)) });
  const response = await post(gateway.url, sealed.body);
  assert.equal(response.status, 200);
  const events = parseSse(await response.text());
  assert.ok(events.length >= 5, `expected several chunks, got ${events.length}`);
  return { sealed, events };
}

Deno.test("ResponseReader reads an untouched multi-chunk response", async () => {
  await using gateway = await startGateway();
  const { sealed, events } = await multiChunkResponse(gateway);
  const chatEvents = await readSse(sealed, events);
  assert.equal(chatEvents.at(-1)?.type, "done");
});

Deno.test("ResponseReader detects a flipped bit in every chunk", async () => {
  await using gateway = await startGateway();
  const { sealed, events } = await multiChunkResponse(gateway);
  for (let i = 1; i < events.length; i++) {
    const tampered = events.map(([n, d]) => [n, d] as [string, string]);
    const bytes = fromBase64Url(tampered[i][1])!;
    bytes[3] ^= 0x01;
    tampered[i][1] = toBase64Url(bytes);
    await assert.rejects(
      readSse(sealed, tampered),
      (e) => e instanceof ResponseIntegrityError && e.reason === "tampered",
      `chunk ${i}`,
    );
  }
});

Deno.test("ResponseReader detects truncation (final chunk dropped)", async () => {
  await using gateway = await startGateway();
  const { sealed, events } = await multiChunkResponse(gateway);
  await assert.rejects(
    readSse(sealed, events.slice(0, -1)),
    (e) => e instanceof ResponseIntegrityError && e.reason === "truncated",
  );
});

Deno.test("ResponseReader detects a final chunk relabelled as an ordinary chunk", async () => {
  await using gateway = await startGateway();
  const { sealed, events } = await multiChunkResponse(gateway);
  const relabelled = [...events.slice(0, -1), ["chunk", events.at(-1)![1]] as [string, string]];
  await assert.rejects(
    readSse(sealed, relabelled),
    (e) => e instanceof ResponseIntegrityError && e.reason === "tampered",
  );
});

Deno.test("ResponseReader detects reordered chunks", async () => {
  await using gateway = await startGateway();
  const { sealed, events } = await multiChunkResponse(gateway);
  const swapped = [events[0], events[2], events[1], ...events.slice(3)];
  await assert.rejects(
    readSse(sealed, swapped),
    (e) => e instanceof ResponseIntegrityError && e.reason === "tampered",
  );
});

Deno.test("ResponseReader detects a duplicated chunk", async () => {
  await using gateway = await startGateway();
  const { sealed, events } = await multiChunkResponse(gateway);
  const duplicated = [events[0], events[1], events[1], ...events.slice(2)];
  await assert.rejects(
    readSse(sealed, duplicated),
    (e) => e instanceof ResponseIntegrityError && e.reason === "tampered",
  );
});

Deno.test("ResponseReader detects a chunk spliced from another response", async () => {
  await using gateway = await startGateway();
  const a = await multiChunkResponse(gateway);
  const b = await multiChunkResponse(gateway);
  const spliced = [a.events[0], a.events[1], b.events[2], ...a.events.slice(3)];
  await assert.rejects(
    readSse(a.sealed, spliced),
    (e) => e instanceof ResponseIntegrityError && e.reason === "tampered",
  );
});

Deno.test("ResponseReader refuses data after the final chunk", async () => {
  await using gateway = await startGateway();
  const { sealed, events } = await multiChunkResponse(gateway);
  await assert.rejects(
    readSse(sealed, [...events, events.at(-1)!]),
    (e) => e instanceof ResponseIntegrityError && e.reason === "tampered",
  );
});

Deno.test("ResponseReader refuses chunk data that is not base64url", async () => {
  await using gateway = await startGateway();
  const { sealed, events } = await multiChunkResponse(gateway);
  const broken = [events[0], ["chunk", events[1][1] + "!"] as [string, string], ...events.slice(2)];
  await assert.rejects(
    readSse(sealed, broken),
    (e) => e instanceof ResponseIntegrityError && e.reason === "malformed",
  );
});

Deno.test("Response chunks all have the same size on the wire (padding to the chunk size)", async () => {
  await using gateway = await startGateway();
  const { events } = await multiChunkResponse(gateway);
  const sizes = new Set(events.slice(1).map(([, data]) => data.length));
  assert.equal(sizes.size, 1);
});

Deno.test("GatewayClient refuses keys whose identity does not match the pin", async () => {
  await using gateway = await startGateway();
  const client = new GatewayClient({ baseUrl: gateway.url, pin: "A".repeat(43) });
  await assert.rejects(
    client.keys(),
    (e) => e instanceof KeyVerificationError && e.reason === "pin_mismatch",
  );
});

Deno.test("verifyPubkeyDocument() refuses a key set whose signature does not cover it", async () => {
  await using gateway = await startGateway();
  const doc = await (await fetch(`${gateway.url}/api/pubkey`)).json();
  const keyset = fromBase64Url(doc.keyset)!;
  keyset[keyset.byteLength - 1] ^= 1;
  const { verifyPubkeyDocument } = await import("../src/client/mod.ts");
  await assert.rejects(
    verifyPubkeyDocument({ ...doc, keyset: toBase64Url(keyset) }, gateway.fingerprint, Date.now() / 1000),
    (e) => e instanceof KeyVerificationError && e.reason === "bad_signature",
  );
});

Deno.test("GatewayClient refetches keys after unknown_key_id and succeeds", async () => {
  let now = Date.now() / 1000;
  await using gateway = await startGateway({ PG_KEY_ROTATION_SECONDS: "60" }, { nowSeconds: () => now });
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, now: () => now });
  await client.keys();
  // Three intervals later every key the client knows is retired.
  now += 3 * 60 + 5;
  const { createSuite } = await import("../src/crypto/mod.ts");
  await gateway.keyRing.rotateIfDue(createSuite(), Math.floor(now), 60);
  await gateway.keyRing.rotateIfDue(createSuite(), Math.floor(now), 60);
  const events = [];
  for await (const event of client.chat({ messages: [{ role: "user", content: "after rotation" }] })) {
    events.push(event);
  }
  assert.equal(events.at(-1)?.type, "done");
});

Deno.test("GatewayClient surfaces a sealed invalid_request as GatewayRequestError", async () => {
  await using gateway = await startGateway();
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  await assert.rejects(
    async () => {
      for await (
        const _ of client.chat({ messages: [{ role: "user", content: "x" }], temperature: 9 })
      ) { /* none */ }
    },
    (e) => e instanceof GatewayRequestError && e.code === "invalid_request" && e.status === 422,
  );
});

Deno.test("Unknown routes and methods answer not_found and method_not_allowed as JSON", async () => {
  await using gateway = await startGateway();
  await expectClearError(await fetch(`${gateway.url}/nope`), 404, "not_found");
  await expectClearError(await fetch(`${gateway.url}/api/chat`), 405, "method_not_allowed");
});

Deno.test("parseChatRequest() enforces the configured message count and length limits", async () => {
  await using gateway = await startGateway({
    PG_MAX_MESSAGES: "2",
    PG_MAX_MESSAGE_CHARS: "10",
    PG_MAX_TOKENS_CAP: "50",
  });
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  const refused = async (input: Parameters<typeof client.chat>[0]) => {
    try {
      for await (const _ of client.chat(input)) { /* none */ }
    } catch (error) {
      return error instanceof GatewayRequestError ? `${error.status} ${error.code}` : String(error);
    }
    return "accepted";
  };
  const three = [1, 2, 3].map((i) => ({ role: "user" as const, content: `m${i}` }));
  assert.equal(await refused({ messages: three }), "422 invalid_request");
  assert.equal(
    await refused({ messages: [{ role: "user", content: "x".repeat(11) }] }),
    "422 invalid_request",
  );
  assert.equal(
    await refused({ messages: [{ role: "user", content: "ok" }], max_tokens: 51 }),
    "422 invalid_request",
  );
  assert.equal(await refused({ messages: [{ role: "user", content: "ok" }], max_tokens: 50 }), "accepted");
});
