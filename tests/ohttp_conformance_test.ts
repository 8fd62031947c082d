/**
 * The RFC 9458 Appendix A and chunked-OHTTP example requests, byte for byte as printed, sent to a running
 * gateway that holds the example's private key: it opens them and answers as an Oblivious Gateway must,
 * and the SDK's reader opens the answers with the example's client keys. (The examples ask for
 * `GET https://example.com/`, which this gateway does not serve: the encapsulated answer is a 404.)
 */
import assert from "node:assert/strict";
import { decodeKeyConfig, fromHex, KeyRing } from "../src/crypto/mod.ts";
import {
  OHTTP_CHUNKED_REQUEST_TYPE,
  OHTTP_REQUEST_TYPE,
  readWholeResponse,
  responseCipher,
  ResponseReader,
  sealRequest,
} from "../src/protocol/mod.ts";
import { startGateway } from "./helpers/gateway.ts";
import {
  CHUNKED_EXAMPLE,
  exampleEphemeral,
  exampleKey,
  type OhttpExample,
  RFC9458_EXAMPLE,
} from "./helpers/ohttp_examples.ts";
import { post } from "./helpers/raw_client.ts";

async function clientSide(example: OhttpExample, chunked: boolean) {
  const config = decodeKeyConfig(fromHex(example.keyConfig))!;
  const sealed = await sealRequest(
    { keyId: config.keyId, kemId: config.kemId, publicKey: config.publicKey },
    fromHex(example.request),
    { chunked, aeadId: 1, ephemeral: await exampleEphemeral(example), chunkSizes: example.requestChunkSizes },
  );
  assert.equal(
    [...sealed.body].map((b) => b.toString(16).padStart(2, "0")).join(""),
    example.encapsulatedRequest,
  );
  return sealed;
}

Deno.test("POST /api/chat opens the RFC 9458 Appendix A request and answers 200 message/ohttp-res", async () => {
  const ring = KeyRing.fixed([await exampleKey(RFC9458_EXAMPLE)]);
  await using gateway = await startGateway({}, { keyRing: ring });
  const sealed = await clientSide(RFC9458_EXAMPLE, false);
  const response = await post(gateway.url, fromHex(RFC9458_EXAMPLE.encapsulatedRequest), OHTTP_REQUEST_TYPE);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "message/ohttp-res");
  const { head, events } = await readWholeResponse(
    new Uint8Array(await response.arrayBuffer()),
    16,
    async (nonce) => (await responseCipher(sealed, nonce)).cipher,
  );
  assert.equal(head.status, 404);
  assert.equal(events[0].type === "error" && events[0].code, "not_found");
});

Deno.test("POST /api/chat opens the chunked-OHTTP example request and answers 200 message/ohttp-chunked-res", async () => {
  const ring = KeyRing.fixed([await exampleKey(CHUNKED_EXAMPLE)]);
  await using gateway = await startGateway({}, { keyRing: ring });
  const sealed = await clientSide(CHUNKED_EXAMPLE, true);
  const response = await post(
    gateway.url,
    fromHex(CHUNKED_EXAMPLE.encapsulatedRequest),
    OHTTP_CHUNKED_REQUEST_TYPE,
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "message/ohttp-chunked-res");
  assert.equal(response.headers.get("incremental"), "?1");
  const reader = new ResponseReader(16, async (nonce) => (await responseCipher(sealed, nonce)).cipher);
  const events = await reader.push(new Uint8Array(await response.arrayBuffer()));
  events.push(...await reader.end());
  assert.equal(reader.head?.status, 404);
  assert.equal(events[0].type === "error" && events[0].code, "not_found");
});
