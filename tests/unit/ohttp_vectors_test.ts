/**
 * Conformance from outside: the RFC 9458 Appendix A and chunked-OHTTP (-08) example exchanges, byte for
 * byte, through the SDK's sealing and reading code and the gateway's opening and sealing code; and the
 * RFC 9292 §5 Binary HTTP examples round-tripped byte for byte. Sources: tests/testdata/README.md.
 */
import assert from "node:assert/strict";
import {
  concat,
  createSuite,
  decodeKeyConfig,
  fromHex,
  KEM_X25519,
  KeyRing,
  toHex,
  utf8,
} from "../../src/crypto/mod.ts";
import {
  ChunkedResponseOpener,
  decodeRequest,
  decodeResponse,
  deviceProofMessage,
  encodeRequest,
  encodeRequestHeader,
  encodeResponse,
  frameChunk,
  GatewayError,
  MAX_REQUEST_CHUNKS,
  openRequest,
  readWholeResponse,
  requestInfo,
  responseCipher,
  ResponseReader,
  sealRequest,
  sealWholeResponse,
  splitRequest,
  verifyDeviceProof,
} from "../../src/protocol/mod.ts";
import {
  CHUNKED_EXAMPLE,
  exampleEphemeral,
  exampleKey,
  type OhttpExample,
  RFC9458_EXAMPLE,
} from "../helpers/ohttp_examples.ts";

const BHTTP = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/rfc9292-examples.json", import.meta.url)),
) as Record<string, string>;

const test = (name: string, fn: () => Promise<void> | void) => Deno.test({ name, permissions: "none", fn });

async function sdkSeal(example: OhttpExample, chunked: boolean) {
  const config = decodeKeyConfig(fromHex(example.keyConfig))!;
  const hdr = fromHex(example.encapsulatedRequest.slice(0, 14));
  return await sealRequest(
    { keyId: config.keyId, kemId: config.kemId, publicKey: config.publicKey },
    fromHex(example.request),
    {
      chunked,
      aeadId: (hdr[5] << 8) | hdr[6],
      ephemeral: await exampleEphemeral(example),
      chunkSizes: example.requestChunkSizes,
    },
  );
}

test("makeHpkeKey() reproduces the RFC 9458 Appendix A key configuration", async () => {
  assert.equal(toHex((await exampleKey(RFC9458_EXAMPLE)).config), RFC9458_EXAMPLE.keyConfig);
});

test("sealRequest() reproduces the RFC 9458 Appendix A encapsulated request", async () => {
  assert.equal(toHex((await sdkSeal(RFC9458_EXAMPLE, false)).body), RFC9458_EXAMPLE.encapsulatedRequest);
});

test("openRequest() opens the RFC 9458 Appendix A encapsulated request", async () => {
  const ring = KeyRing.fixed([await exampleKey(RFC9458_EXAMPLE)]);
  const split = splitRequest(fromHex(RFC9458_EXAMPLE.encapsulatedRequest), false);
  const opened = await openRequest(ring, split, Date.now() / 1000);
  assert.equal(toHex(opened.plaintext), RFC9458_EXAMPLE.request);
});

test("sealWholeResponse() reproduces the RFC 9458 Appendix A encapsulated response", async () => {
  const ring = KeyRing.fixed([await exampleKey(RFC9458_EXAMPLE)]);
  const opened = await openRequest(
    ring,
    splitRequest(fromHex(RFC9458_EXAMPLE.encapsulatedRequest), false),
    Date.now() / 1000,
  );
  const { responseNonce, cipher } = await responseCipher(opened, fromHex(RFC9458_EXAMPLE.responseNonce));
  const body = sealWholeResponse(cipher, responseNonce, fromHex(RFC9458_EXAMPLE.response));
  assert.equal(toHex(body), RFC9458_EXAMPLE.encapsulatedResponse);
});

test("readWholeResponse() reads the RFC 9458 Appendix A encapsulated response as 200", async () => {
  const sealed = await sdkSeal(RFC9458_EXAMPLE, false);
  const { head, events } = await readWholeResponse(
    fromHex(RFC9458_EXAMPLE.encapsulatedResponse),
    16,
    async (nonce) => (await responseCipher(sealed, nonce)).cipher,
  );
  assert.deepEqual(head, { status: 200, fields: [] });
  assert.deepEqual(events, []);
});

test("makeHpkeKey() reproduces the chunked-OHTTP example key configuration", async () => {
  assert.equal(toHex((await exampleKey(CHUNKED_EXAMPLE)).config), CHUNKED_EXAMPLE.keyConfig);
});

test("sealRequest() reproduces the chunked-OHTTP example request (chunks of 12, 13 and 0 bytes)", async () => {
  assert.equal(toHex((await sdkSeal(CHUNKED_EXAMPLE, true)).body), CHUNKED_EXAMPLE.encapsulatedRequest);
});

test("openRequest() opens the chunked-OHTTP example request", async () => {
  const ring = KeyRing.fixed([await exampleKey(CHUNKED_EXAMPLE)]);
  const split = splitRequest(fromHex(CHUNKED_EXAMPLE.encapsulatedRequest), true);
  const opened = await openRequest(ring, split, Date.now() / 1000);
  assert.equal(toHex(opened.plaintext), CHUNKED_EXAMPLE.request);
});

test("ChunkCipher reproduces the chunked-OHTTP example response (chunks of 1, 2 and 0 bytes)", async () => {
  const ring = KeyRing.fixed([await exampleKey(CHUNKED_EXAMPLE)]);
  const opened = await openRequest(
    ring,
    splitRequest(fromHex(CHUNKED_EXAMPLE.encapsulatedRequest), true),
    Date.now() / 1000,
  );
  const { responseNonce, cipher } = await responseCipher(opened, fromHex(CHUNKED_EXAMPLE.responseNonce));
  const response = fromHex(CHUNKED_EXAMPLE.response);
  const parts = [toHex(responseNonce)];
  parts.push(toHex(frameChunk(cipher.seal(response.slice(0, 1), false), false)));
  parts.push(toHex(frameChunk(cipher.seal(response.slice(1, 3), false), false)));
  parts.push(toHex(frameChunk(cipher.seal(new Uint8Array(0), true), true)));
  assert.equal(parts.join(""), CHUNKED_EXAMPLE.encapsulatedResponse);
});

test("ResponseReader reads the chunked-OHTTP example response as 200", async () => {
  const sealed = await sdkSeal(CHUNKED_EXAMPLE, true);
  const reader = new ResponseReader(16, async (nonce) => (await responseCipher(sealed, nonce)).cipher);
  const body = fromHex(CHUNKED_EXAMPLE.encapsulatedResponse);
  for (const byte of body) assert.deepEqual(await reader.push(new Uint8Array([byte])), []);
  assert.deepEqual(await reader.end(), []);
  assert.deepEqual(reader.head, { status: 200, fields: [] });
});

test("ChunkedResponseOpener treats an empty non-final chunk as a decryption error", async () => {
  const sealed = await sdkSeal(CHUNKED_EXAMPLE, true);
  const { responseNonce, cipher } = await responseCipher(sealed, fromHex(CHUNKED_EXAMPLE.responseNonce));
  const empty = frameChunk(cipher.seal(new Uint8Array(0), false), false);
  const opener = new ChunkedResponseOpener(16, async (nonce) => (await responseCipher(sealed, nonce)).cipher);
  await assert.rejects(
    opener.push(new Uint8Array([...responseNonce, ...empty])),
    (e) =>
      e instanceof Error && e.name === "ResponseIntegrityError" &&
      (e as { reason?: string }).reason === "tampered",
  );
});

for (const name of ["knownLengthRequest", "indeterminateLengthRequest"]) {
  test(`decodeRequest() and encodeRequest() round-trip RFC 9292 §5.1 ${name} byte for byte`, () => {
    const { message, framing } = decodeRequest(fromHex(BHTTP[name]));
    assert.equal(message.method, "GET");
    assert.equal(message.path, "/hello.txt");
    assert.deepEqual(message.fields.map(([n]) => n), ["user-agent", "host", "accept-language"]);
    assert.equal(toHex(encodeRequest(message, framing)), BHTTP[name]);
  });
}

for (const name of ["knownLengthResponse", "indeterminateLengthResponse"]) {
  test(`decodeResponse() and encodeResponse() round-trip RFC 9292 §5.2 ${name} byte for byte`, () => {
    const { message, framing } = decodeResponse(fromHex(BHTTP[name]));
    assert.equal(message.status, 200);
    assert.equal(toHex(encodeResponse(message, framing)), BHTTP[name]);
  });
}

test("decodeResponse() reads the interim 102 and 103 responses of RFC 9292 §5.2", () => {
  const { message } = decodeResponse(fromHex(BHTTP.indeterminateLengthResponse));
  assert.deepEqual(message.informational.map((i) => i.status), [102, 103]);
  assert.equal(
    new TextDecoder().decode(message.content),
    "Hello World! My content includes a trailing CRLF.\r\n",
  );
});

test("decodeRequest() reads the truncated RFC 9458 Appendix A request and re-encodes it exactly", () => {
  const { message, framing } = decodeRequest(fromHex(RFC9458_EXAMPLE.request));
  assert.deepEqual([message.method, message.scheme, message.authority, message.path], [
    "GET",
    "https",
    "example.com",
    "/",
  ]);
  assert.equal(framing.truncated, true);
  assert.equal(toHex(encodeRequest(message, framing)), RFC9458_EXAMPLE.request);
});

test("decodeRequest() refuses non-zero padding, uppercase field names and overruns as invalid_message", () => {
  const known = fromHex(BHTTP.knownLengthRequest);
  const invalid = (e: unknown) => (e as { code?: string }).code === "invalid_message";
  assert.throws(() => decodeRequest(new Uint8Array([...known, 0, 1])), invalid);
  const upper = known.slice();
  upper[known.indexOf(0x75)] = 0x55; // "user-agent" → "User-agent"
  assert.throws(() => decodeRequest(upper), invalid);
  assert.throws(() => decodeRequest(known.slice(0, 30)), invalid);
});

test("openRequest() refuses a request with an empty non-final chunk as decryption_failed", async () => {
  const key = await exampleKey(CHUNKED_EXAMPLE);
  const header = { keyId: key.keyId, kemId: KEM_X25519, kdfId: 1, aeadId: 1 };
  const hdr = encodeRequestHeader(header);
  const context = await createSuite(header).createSenderContext({
    recipientPublicKey: key.pair.publicKey,
    info: requestInfo(true, hdr).buffer,
  });
  const empty = new Uint8Array(await context.seal(new Uint8Array(0).buffer));
  const last = new Uint8Array(
    await context.seal(fromHex(CHUNKED_EXAMPLE.request).buffer, utf8("final").buffer),
  );
  const body = concat(hdr, new Uint8Array(context.enc), frameChunk(empty, false), frameChunk(last, true));
  await assert.rejects(
    openRequest(KeyRing.fixed([key]), splitRequest(body, true), Date.now() / 1000),
    (e) => (e as { code?: string }).code === "decryption_failed",
  );
});

test("verifyDeviceProof() refuses a device signature made for another request's enc", async () => {
  const device = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", device.publicKey));
  const hdr = fromHex("01002000010003");
  const [encA, encB] = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
  const signature = new Uint8Array(
    await crypto.subtle.sign("Ed25519", device.privateKey, deviceProofMessage(hdr, encA)),
  );
  assert.equal(await verifyDeviceProof(publicKey, signature, hdr, encA), true);
  assert.equal(await verifyDeviceProof(publicKey, signature, hdr, encB), false);
  assert.equal(await verifyDeviceProof(publicKey, signature, fromHex("02002000010003"), encA), false);
});

test("openRequest() opens up to MAX_REQUEST_CHUNKS chunks and refuses more as decryption_failed", async () => {
  const key = await exampleKey(CHUNKED_EXAMPLE);
  const ring = KeyRing.fixed([key]);
  const config = { keyId: key.keyId, kemId: KEM_X25519, publicKey: key.publicKey };
  const message = new Uint8Array(MAX_REQUEST_CHUNKS + 1).fill(7);
  const within = await sealRequest(config, message, {
    chunked: true,
    aeadId: 1,
    chunkSizes: Array(MAX_REQUEST_CHUNKS - 1).fill(1),
  });
  const opened = await openRequest(ring, splitRequest(within.body, true), Date.now() / 1000);
  assert.deepEqual(opened.plaintext, message);
  const beyond = await sealRequest(config, message, {
    chunked: true,
    aeadId: 1,
    chunkSizes: Array(MAX_REQUEST_CHUNKS).fill(1),
  });
  await assert.rejects(
    openRequest(ring, splitRequest(beyond.body, true), Date.now() / 1000),
    (e) => (e as { code?: string }).code === "decryption_failed",
  );
});

Deno.test({
  name: "decodeRequest() refuses a varint past 2^53 - 1 as invalid_message, not an internal error",
  permissions: "none",
  fn() {
    assert.throws(
      () => decodeRequest(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
      (e) => e instanceof GatewayError && e.code === "invalid_message",
    );
  },
});
