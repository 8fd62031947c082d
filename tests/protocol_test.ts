/**
 * Protocol v2 (RFC 9458 + chunked OHTTP + RFC 9292) against a real gateway on loopback (echo backend: this
 * suite is about the encapsulation, not the model). Every tampering gets its documented answer, every
 * decapsulated request is a 200 with an encapsulated answer, and the gateway keeps serving afterwards.
 */
import assert from "node:assert/strict";
import {
  GatewayClient,
  GatewayRequestError,
  KeyVerificationError,
  ResponseIntegrityError,
} from "../src/client/mod.ts";
import {
  AEAD_AES_128_GCM,
  decodeOhttpKeys,
  fromBase64Url,
  KEM_X25519,
  KEM_XWING,
  kemSuite,
  KeyRing,
  makeHpkeKey,
  toBase64Url,
  utf8,
} from "../src/crypto/mod.ts";
import {
  type ChatEvent,
  encodeChatRequest,
  encodeRequest,
  GatewayError,
  OHTTP_REQUEST_TYPE,
} from "../src/protocol/mod.ts";
import { startGateway, type TestGateway } from "./helpers/gateway.ts";
import {
  chat,
  flipBit,
  joinChunks,
  post,
  postSealed,
  readAnswer,
  sealFor,
  splitChunks,
  TAG_LENGTH,
} from "./helpers/raw_client.ts";

/** hdr (7 bytes) then enc. */
const ENC_OFFSET = 7;

async function expectClearError(response: Response, status: number, code: string): Promise<void> {
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
  const response = await postSealed(gateway.url, sealed);
  // Uniform outside (RFC 9458 §5.2): always 200 once decapsulated; the inner status says what happened.
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    sealed.chunked ? "message/ohttp-chunked-res" : "message/ohttp-res",
  );
  const { head, events } = await readAnswer(sealed, new Uint8Array(await response.arrayBuffer()));
  assert.equal(head.status, status);
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

Deno.test("GatewayClient.chat() streams a decrypted answer from a real gateway over X-Wing", async () => {
  await using gateway = await startGateway();
  const seen: { type: string; bytes: number }[] = [];
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    fetch: (async (target: string | URL | Request, init?: RequestInit) => {
      if (init?.method === "POST") {
        seen.push({
          type: String((init.headers as Record<string, string>)["content-type"]),
          bytes: (init.body as Uint8Array).byteLength,
        });
      }
      return await fetch(target, init);
    }) as typeof fetch,
  });
  const events = [];
  for await (const event of client.chat({ messages: [{ role: "user", content: "hello there" }] })) {
    events.push(event);
  }
  assert.equal(
    events.filter((e) => e.type === "text").map((e) => e.type === "text" ? e.delta : "").join(""),
    "echo: hello there",
  );
  assert.equal(events.at(-1)?.type, "done");
  // X-Wing by default: hdr 7 + enc 1120 + final indicator 1 + 1 KiB bucket + tag 16.
  assert.deepEqual(seen, [{ type: "message/ohttp-chunked-req", bytes: 7 + 1120 + 1 + 1024 + 16 }]);
  const [key] = await client.keys();
  assert.equal(key.kemId, KEM_XWING);
});

Deno.test("GatewayClient.chat() works with X25519 keys when told to use only those", async () => {
  await using gateway = await startGateway();
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, kems: [KEM_X25519] });
  const events = [];
  for await (const event of client.chat({ messages: [{ role: "user", content: "classic" }] })) {
    events.push(event);
  }
  assert.equal(events.at(-1)?.type, "done");
  assert.equal((await client.keys())[0].kemId, KEM_X25519);
});

Deno.test("GatewayClient.complete() returns a whole message/ohttp-res answer", async () => {
  await using gateway = await startGateway();
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  const events = await client.complete({ messages: [{ role: "user", content: "one shot" }] });
  assert.equal(events.map((e) => e.type === "text" ? e.delta : "").join(""), "echo: one shot");
  assert.equal(events.at(-1)?.type, "done");
});

Deno.test("POST /api/chat answers a plain RFC 9458 request sealed with AES-128-GCM", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing, { chunked: false, aeadId: AEAD_AES_128_GCM });
  const response = await postSealed(gateway.url, sealed);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "message/ohttp-res");
  const { head, events } = await readAnswer(sealed, new Uint8Array(await response.arrayBuffer()));
  assert.equal(head.status, 200);
  assert.equal(events.at(-1)?.type, "done");
});

Deno.test("GET /api/pubkey signs X25519 and X-Wing key configs; /.well-known/ohttp-gateway lists them", async () => {
  await using gateway = await startGateway();
  const response = await fetch(`${gateway.url}/api/pubkey`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("cache-control") ?? "", /^public, max-age=\d+$/);
  const doc = await response.json();
  assert.equal(doc.fingerprint, gateway.fingerprint);
  // Current and next generation, one key per KEM each.
  assert.equal(doc.keys.length, 4);
  const ohttp = await fetch(`${gateway.url}/.well-known/ohttp-gateway`);
  assert.equal(ohttp.headers.get("content-type"), "application/ohttp-keys");
  const configs = decodeOhttpKeys(new Uint8Array(await ohttp.arrayBuffer()))!;
  assert.deepEqual(configs.map((c) => c.kemId), [KEM_X25519, KEM_XWING, KEM_X25519, KEM_XWING]);
  // X25519 offers AES-128-GCM and ChaCha20-Poly1305 (as RFC 9458 Appendix A's config); X-Wing ChaCha.
  assert.deepEqual(configs[0].algorithms, [{ kdfId: 1, aeadId: 1 }, { kdfId: 1, aeadId: 3 }]);
  assert.deepEqual(configs[1].algorithms, [{ kdfId: 1, aeadId: 3 }]);
  assert.equal(toBase64Url(configs[1].publicKey).length, Math.ceil(1216 * 4 / 3));
});

Deno.test("openRequest() answers a flipped bit in enc with a clear 400 decryption_failed", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(
    await post(gateway.url, flipBit(sealed.body, ENC_OFFSET + 5)),
    400,
    "decryption_failed",
  );
  await stillServes(gateway);
});

Deno.test("openRequest() answers a flipped bit in the final chunk with a clear 400 decryption_failed", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(
    await post(gateway.url, flipBit(sealed.body, sealed.body.byteLength - 20)),
    400,
    "decryption_failed",
  );
});

Deno.test("openRequest() refuses a chunked request relabelled as message/ohttp-req (labels differ)", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(await post(gateway.url, sealed.body, OHTTP_REQUEST_TYPE), 400, "decryption_failed");
});

Deno.test("openRequest() rejects a key id changed to another live key of the KEM as decryption_failed", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  const other = gateway.keyRing.keys.filter((k) => k.kemId === KEM_X25519)[1];
  const body = sealed.body.slice();
  body[0] = other.keyId;
  await expectClearError(await post(gateway.url, body), 400, "decryption_failed");
});

Deno.test("openRequest() answers a key id used with another KEM as a 422 ohttp-key problem", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing, { kemId: KEM_XWING });
  const body = sealed.body.slice();
  body[0] = gateway.keyRing.keys.find((k) => k.kemId === KEM_X25519)!.keyId;
  const response = await post(gateway.url, body);
  assert.equal(response.status, 422);
  assert.equal((await response.json()).error.code, "unknown_key_id");
});

for (const [field, offset, bit] of [["kdf_id", 4, 1], ["aead_id", 6, 2]] as const) {
  Deno.test(`splitRequest() answers an unsupported ${field} as a 422 ohttp-key problem`, async () => {
    await using gateway = await startGateway();
    const sealed = await sealFor(gateway.keyRing);
    const response = await post(gateway.url, flipBit(sealed.body, offset, bit));
    assert.equal(response.status, 422);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    const body = await response.json();
    assert.equal(body.type, "https://iana.org/assignments/http-problem-types#ohttp-key");
    assert.equal(body.error.code, "unsupported_suite");
  });
}

Deno.test("splitRequest() rejects a truncated request as malformed_request", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(await post(gateway.url, sealed.body.slice(0, 40)), 400, "malformed_request");
  await expectClearError(await post(gateway.url, new Uint8Array(0)), 400, "malformed_request");
});

Deno.test("ReplayGuard refuses a replayed enc before decapsulation with a clear 400 replayed_request", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  const first = await postSealed(gateway.url, sealed);
  assert.equal(first.status, 200);
  await first.body?.cancel();
  await expectClearError(await postSealed(gateway.url, sealed), 400, "replayed_request");
  await stillServes(gateway);
});

Deno.test("ReplayGuard answers stale and future dates with an encapsulated 400 stale_request carrying Date", async () => {
  await using gateway = await startGateway();
  const now = Math.floor(Date.now() / 1000);
  for (const date of [now - 120, now + 120]) {
    const sealed = await sealFor(gateway.keyRing, { date });
    const response = await postSealed(gateway.url, sealed);
    assert.equal(response.status, 200);
    const { head, events } = await readAnswer(sealed, new Uint8Array(await response.arrayBuffer()));
    assert.equal(head.status, 400);
    assert.equal(events[0].type === "error" && events[0].code, "stale_request");
    const served = Date.parse(head.fields.find(([n]) => n === "date")![1]) / 1000;
    assert.ok(Math.abs(served - now) < 5);
  }
});

Deno.test("ReplayGuard refuses a request without a Date field as stale_request", async () => {
  await using gateway = await startGateway();
  const message = encodeRequest({
    method: "POST",
    scheme: "https",
    authority: "",
    path: "/api/chat",
    fields: [],
    content: utf8(JSON.stringify(chat("no date"))),
    trailers: [],
  });
  await expectSealedError(gateway, await sealFor(gateway.keyRing, { message }), 400, "stale_request");
});

Deno.test("ReplayGuard serves at once a gateway whose keys were generated at start", async () => {
  // In-memory keys cannot open anything sealed before this process started, so no restart window.
  await using gateway = await startGateway();
  const before = Math.floor(Date.now() / 1000) - 30;
  const sealed = await sealFor(gateway.keyRing, { date: before });
  const { head } = await readAnswer(
    sealed,
    new Uint8Array(await (await postSealed(gateway.url, sealed)).arrayBuffer()),
  );
  assert.equal(head.status, 200);
});

Deno.test("openRequest() answers an unknown key id with a 422 ohttp-key problem", async () => {
  await using gateway = await startGateway();
  const used = new Set(gateway.keyRing.keys.map((k) => k.keyId));
  const unknown = [...Array(256).keys()].find((id) => !used.has(id))!;
  const response = await post(gateway.url, (await sealFor(gateway.keyRing, { keyId: unknown })).body);
  assert.equal(response.status, 422);
  const body = await response.json();
  assert.equal(body.type, "https://iana.org/assignments/http-problem-types#ohttp-key");
  assert.equal(body.error.code, "unknown_key_id");
});

Deno.test("POST /api/chat refuses an oversized body with request_too_large", async () => {
  await using gateway = await startGateway({ PG_MAX_BODY_BYTES: "4096" });
  await expectClearError(await post(gateway.url, new Uint8Array(5000)), 413, "request_too_large");
});

Deno.test("POST /api/chat refuses other media types with 415 unsupported_media_type", async () => {
  await using gateway = await startGateway();
  const sealed = await sealFor(gateway.keyRing);
  await expectClearError(
    await post(gateway.url, sealed.body, "application/json"),
    415,
    "unsupported_media_type",
  );
});

Deno.test("readInnerRequest() answers another path with an encapsulated 404 not_found", async () => {
  await using gateway = await startGateway();
  const message = encodeRequest({
    method: "GET",
    scheme: "https",
    authority: "example.com",
    path: "/",
    fields: [],
    content: new Uint8Array(0),
    trailers: [],
  });
  await expectSealedError(gateway, await sealFor(gateway.keyRing, { message }), 404, "not_found");
});

Deno.test("decodeRequest() answers non-zero Binary HTTP padding with an encapsulated invalid_message", async () => {
  await using gateway = await startGateway();
  const message = encodeChatRequest(utf8(JSON.stringify(chat("x"))), { nowSeconds: Date.now() / 1000 });
  message[message.byteLength - 1] = 1;
  await expectSealedError(gateway, await sealFor(gateway.keyRing, { message }), 400, "invalid_message");
});

Deno.test("parseChatRequest() reports invalid JSON inside the encryption as invalid_json", async () => {
  await using gateway = await startGateway();
  const message = encodeChatRequest(utf8("{not json"), { nowSeconds: Date.now() / 1000 });
  await expectSealedError(gateway, await sealFor(gateway.keyRing, { message }), 400, "invalid_json");
});

Deno.test("parseChatRequest() reports invalid UTF-8 inside the encryption as invalid_utf8", async () => {
  await using gateway = await startGateway();
  const message = encodeChatRequest(new Uint8Array([0x7b, 0xff, 0x7d]), { nowSeconds: Date.now() / 1000 });
  await expectSealedError(gateway, await sealFor(gateway.keyRing, { message }), 400, "invalid_utf8");
});

const INVALID_REQUESTS: [string, unknown][] = [
  ["an unknown field", chat("x", { extra: 1 })],
  ["a __proto__ field", JSON.parse('{"messages":[{"role":"user","content":"x"}],"__proto__":{"a":1}}')],
  ["an empty message list", { messages: [] }],
  ["a bad role", { messages: [{ role: "root", content: "x" }] }],
  ["temperature out of range", chat("x", { temperature: 3 })],
  ["a last message from the assistant", { messages: [{ role: "assistant", content: "x" }] }],
];

for (const [name, json] of INVALID_REQUESTS) {
  Deno.test(`parseChatRequest() rejects ${name} as an encapsulated 422 invalid_request`, async () => {
    await using gateway = await startGateway();
    await expectSealedError(gateway, await sealFor(gateway.keyRing, { json }), 422, "invalid_request");
  });
}

async function multiChunkResponse(gateway: TestGateway) {
  const sealed = await sealFor(gateway.keyRing, { json: chat("word ".repeat(300)) });
  const response = await postSealed(gateway.url, sealed);
  assert.equal(response.status, 200);
  const body = new Uint8Array(await response.arrayBuffer());
  const { nonce, chunks } = splitChunks(body);
  assert.ok(chunks.length >= 4, `expected several chunks, got ${chunks.length}`);
  return { sealed, body, nonce, chunks };
}

function integrity(reason: string) {
  return (e: unknown) => e instanceof ResponseIntegrityError && e.reason === reason;
}

Deno.test("ResponseReader reads an untouched multi-chunk response, fed in any pieces", async () => {
  await using gateway = await startGateway();
  const { sealed, body } = await multiChunkResponse(gateway);
  for (const pieces of [1, 7, body.byteLength]) {
    const { head, events } = await readAnswer(sealed, body, pieces);
    assert.equal(head.status, 200);
    assert.equal(events.at(-1)?.type, "done");
  }
});

Deno.test("ResponseReader detects a flipped bit in every chunk and in the nonce", async () => {
  await using gateway = await startGateway();
  const { sealed, nonce, chunks } = await multiChunkResponse(gateway);
  for (let i = 0; i < chunks.length; i++) {
    const tampered = chunks.map((c, j) => j === i ? { ...c, sealed: flipBit(c.sealed, 3) } : c);
    await assert.rejects(
      readAnswer(sealed, joinChunks(nonce, tampered)),
      integrity("tampered"),
      `chunk ${i}`,
    );
  }
  await assert.rejects(readAnswer(sealed, joinChunks(flipBit(nonce, 0), chunks)), integrity("tampered"));
});

Deno.test("ResponseReader detects truncation (final chunk dropped)", async () => {
  await using gateway = await startGateway();
  const { sealed, nonce, chunks } = await multiChunkResponse(gateway);
  await assert.rejects(readAnswer(sealed, joinChunks(nonce, chunks.slice(0, -1))), integrity("truncated"));
});

Deno.test("ResponseReader detects a non-final chunk relabelled as final (early end)", async () => {
  await using gateway = await startGateway();
  const { sealed, nonce, chunks } = await multiChunkResponse(gateway);
  const early = [...chunks.slice(0, 1), { ...chunks[1], final: true }];
  await assert.rejects(readAnswer(sealed, joinChunks(nonce, early)), integrity("tampered"));
});

Deno.test("ResponseReader detects the final chunk relabelled as non-final", async () => {
  await using gateway = await startGateway();
  const { sealed, nonce, chunks } = await multiChunkResponse(gateway);
  const relabelled = [...chunks.slice(0, -1), { ...chunks.at(-1)!, final: false }];
  await assert.rejects(readAnswer(sealed, joinChunks(nonce, relabelled)), integrity("tampered"));
});

Deno.test("ResponseReader detects reordered chunks", async () => {
  await using gateway = await startGateway();
  const { sealed, nonce, chunks } = await multiChunkResponse(gateway);
  const swapped = [chunks[1], chunks[0], ...chunks.slice(2)];
  await assert.rejects(readAnswer(sealed, joinChunks(nonce, swapped)), integrity("tampered"));
});

Deno.test("ResponseReader detects a duplicated chunk", async () => {
  await using gateway = await startGateway();
  const { sealed, nonce, chunks } = await multiChunkResponse(gateway);
  const duplicated = [chunks[0], chunks[1], chunks[1], ...chunks.slice(2)];
  await assert.rejects(readAnswer(sealed, joinChunks(nonce, duplicated)), integrity("tampered"));
});

Deno.test("ResponseReader detects a chunk spliced from another response", async () => {
  await using gateway = await startGateway();
  const a = await multiChunkResponse(gateway);
  const b = await multiChunkResponse(gateway);
  const spliced = [a.chunks[0], b.chunks[1], ...a.chunks.slice(2)];
  await assert.rejects(readAnswer(a.sealed, joinChunks(a.nonce, spliced)), integrity("tampered"));
});

Deno.test("ResponseReader refuses data after the final chunk", async () => {
  await using gateway = await startGateway();
  const { sealed, body } = await multiChunkResponse(gateway);
  const extended = new Uint8Array(body.byteLength + 1);
  extended.set(body, 0);
  await assert.rejects(readAnswer(sealed, extended), integrity("tampered"));
});

Deno.test("Response chunks all have the same plaintext size (chunk size + AEAD tag on the wire)", async () => {
  await using gateway = await startGateway();
  const { chunks } = await multiChunkResponse(gateway);
  assert.deepEqual(new Set(chunks.map((c) => c.sealed.byteLength)), new Set([512 + TAG_LENGTH]));
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

Deno.test("GatewayClient refetches keys after a 422 ohttp-key problem and succeeds", async () => {
  let now = Date.now() / 1000;
  await using gateway = await startGateway({ PG_KEY_ROTATION_SECONDS: "60" }, { nowSeconds: () => now });
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, now: () => now });
  await client.keys();
  // Three intervals later every key the client knows is retired.
  now += 3 * 60 + 5;
  await gateway.keyRing.rotateIfDue(Math.floor(now), 60);
  await gateway.keyRing.rotateIfDue(Math.floor(now), 60);
  const events = [];
  for await (const event of client.chat({ messages: [{ role: "user", content: "after rotation" }] })) {
    events.push(event);
  }
  assert.equal(events.at(-1)?.type, "done");
});

Deno.test("GatewayClient surfaces an encapsulated invalid_request as GatewayRequestError", async () => {
  await using gateway = await startGateway();
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  await assert.rejects(
    async () => {
      for await (
        const _ of client.chat({ messages: [{ role: "user", content: "x" }], temperature: 9 })
      ) { /* none */ }
    },
    (e) =>
      e instanceof GatewayRequestError && e.code === "invalid_request" && e.status === 422 && e.encapsulated,
  );
  // Outside it was a 200; the gateway's own metrics still count the real outcome.
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  assert.match(
    metrics,
    /privacy_gateway_requests_total\{route="chat",status="422",code="invalid_request"\} 1/,
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

/** A fake backend for a fault: one word, then a failure (`throws`) or an end without `done` (`ends`). */
class FakeFailingGenerator {
  constructor(readonly mode: "throws" | "ends") {}
  ready(): boolean {
    return true;
  }
  async *generate(): AsyncIterable<ChatEvent> {
    yield { type: "text", delta: "partial" };
    await Promise.resolve();
    if (this.mode === "throws") throw new GatewayError("upstream_unavailable");
  }
}

Deno.test("A stream that fails after its first event ends with an encrypted error event, and its real outcome is counted", async () => {
  for (
    const [mode, code, status] of [["throws", "upstream_unavailable", 503], [
      "ends",
      "upstream_error",
      502,
    ]] as const
  ) {
    await using gateway = await startGateway({}, { generator: new FakeFailingGenerator(mode) });
    const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
    const events: ChatEvent[] = [];
    for await (const event of client.chat({ messages: [{ role: "user", content: "x" }] })) events.push(event);
    assert.deepEqual(events.map((e) => e.type), ["text", "error"], mode);
    assert.equal((events[1] as { code: string }).code, code);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`privacy_gateway_requests_total\\{route="chat",status="${status}",code="${code}"\\} 1`),
      mode,
    );
  }
});

/** A fake backend whose cleanup fails: words every 10 ms until the reader leaves, then its `finally` throws. */
class FakeFailingCleanupGenerator {
  ready(): boolean {
    return true;
  }
  async *generate(): AsyncIterable<ChatEvent> {
    try {
      for (let i = 0; i < 1000; i++) {
        yield { type: "text", delta: `w${i} ` };
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      // deno-lint-ignore no-unsafe-finally
      throw new Error("cleanup failed");
    }
  }
}

Deno.test("A client that leaves a stream whose backend cleanup fails still frees its slot and is counted", async () => {
  await using gateway = await startGateway(
    { PG_MAX_CONCURRENT_STREAMS: "1", PG_QUEUE_SIZE: "0", PG_STREAM_TICK_MS: "0" },
    { generator: new FakeFailingCleanupGenerator() },
  );
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  for (let round = 0; round < 3; round++) {
    const leave = new AbortController();
    let seen = 0;
    try {
      for await (const event of client.chat({ messages: [{ role: "user", content: "x" }] }, leave.signal)) {
        if (event.type === "text" && ++seen === 3) leave.abort();
      }
    } catch { /* left */ }
    assert.equal(seen, 3, `round ${round}: the stream was served (its one slot was free)`);
    // The edge notices the close and cancels the answer; the slot must come back.
    let metrics = "";
    for (let i = 0; i < 100; i++) {
      metrics = await (await fetch(`${gateway.url}/metrics`)).text();
      if (new RegExp(`privacy_gateway_requests_total\\{route="chat"[^}]*\\} ${round + 1}`).test(metrics)) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(metrics, new RegExp(`privacy_gateway_requests_total\\{route="chat"[^}]*\\} ${round + 1}`));
  }
});

/** The outcome of one SDK chat: the last event's type, or the refusal's status and code. */
async function chatResult(client: GatewayClient, content: string): Promise<string> {
  try {
    let last = "";
    for await (const event of client.chat({ messages: [{ role: "user", content }] })) last = event.type;
    return last;
  } catch (error) {
    return error instanceof GatewayRequestError ? `${error.status} ${error.code}` : String(error);
  }
}

Deno.test("After a restart that reuses a key id for a new key, the SDK refetches the signed keys and the chat succeeds", async () => {
  // A restarted gateway draws its key ids at random: the new X-Wing key can get the id of the old one, and
  // a request sealed to the old key then fails as decryption_failed (not unknown_key_id).
  const now = Math.floor(Date.now() / 1000);
  const make = async () =>
    await makeHpkeKey(KEM_XWING, await kemSuite(KEM_XWING).kem.generateKeyPair(), 7, now - 60, now + 3600);
  const ring = KeyRing.fixed([await make()]);
  await using gateway = await startGateway({}, { keyRing: ring });
  let posts = 0;
  let tamper = false;
  let keysDown = false;
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    maxAttempts: 3,
    fetch: async (input, init) => {
      if (keysDown && String(input).endsWith("/api/pubkey")) throw new TypeError("network down");
      if (init?.method === "POST") {
        posts++;
        if (tamper) {
          const body = new Uint8Array(init.body as Uint8Array);
          body[body.length - 1] ^= 1;
          return await fetch(input, { ...init, body });
        }
      }
      return await fetch(input, init);
    },
  });
  assert.equal(await chatResult(client, "before"), "done");
  ring.replaceFixed([await make()]);
  posts = 0;
  assert.equal(await chatResult(client, "after the restart"), "done");
  assert.equal(posts, 2, "one refused attempt, one retry to the new key");
  // Two calls at once after another such restart: the one whose retry finds the keys already refetched by
  // the other still retries (it compares with the key it sealed to, not with the cached set).
  ring.replaceFixed([await make()]);
  assert.deepEqual(await Promise.all([chatResult(client, "one"), chatResult(client, "two")]), [
    "done",
    "done",
  ]);
  // The same key, and a request that fails anyway (tampered): not retried, whatever maxAttempts allows.
  tamper = true;
  posts = 0;
  assert.equal(await chatResult(client, "tampered"), "400 decryption_failed");
  assert.equal(posts, 1);
  // A call that may not retry (one attempt) fails, but the stale key is not kept: the next call succeeds.
  tamper = false;
  const once = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  assert.equal(await chatResult(once, "cached"), "done");
  ring.replaceFixed([await make()]);
  assert.equal(await chatResult(once, "stale"), "400 decryption_failed");
  assert.equal(await chatResult(once, "next call"), "done");
  tamper = true;
  // A key set that cannot be fetched again leaves the call with its own error, not the fetch's.
  keysDown = true;
  assert.equal(await chatResult(client, "keys unreachable"), "400 decryption_failed");
});
