/**
 * Test helper: the RFC 9458 Appendix A and chunked-OHTTP (-08) example exchanges as loaded keys, so tests
 * run them through the gateway's and the SDK's real code. Sources: tests/testdata/README.md.
 */
import {
  decodeKeyConfig,
  fromHex,
  type HpkeKey,
  KEM_X25519,
  kemSuite,
  makeHpkeKey,
} from "../../src/crypto/mod.ts";

/** The fields both examples share (hex). */
export interface OhttpExample {
  skR: string;
  keyConfig: string;
  request: string;
  skE: string;
  pkE: string;
  encapsulatedRequest: string;
  response: string;
  responseNonce: string;
  encapsulatedResponse: string;
  requestChunkSizes?: number[];
  responseChunkSizes?: number[];
}

async function _load(name: string): Promise<OhttpExample> {
  return JSON.parse(await Deno.readTextFile(new URL(`../testdata/${name}`, import.meta.url)));
}

/** RFC 9458 Appendix A. */
export const RFC9458_EXAMPLE = await _load("rfc9458-appendix-a.json");
/** draft-ietf-ohai-chunked-ohttp-08, section "Example". */
export const CHUNKED_EXAMPLE = await _load("chunked-ohttp-08-example.json");

/** The example's gateway key (private key and key id from the example), valid for ever. */
export async function exampleKey(example: OhttpExample): Promise<HpkeKey> {
  const suite = kemSuite(KEM_X25519);
  const config = decodeKeyConfig(fromHex(example.keyConfig))!;
  const pair = {
    privateKey: await suite.kem.importKey("raw", fromHex(example.skR).buffer, false),
    publicKey: await suite.kem.deserializePublicKey(config.publicKey.buffer),
  };
  return await makeHpkeKey(KEM_X25519, pair, config.keyId, 0, 2 ** 40);
}

/** The example's ephemeral (client) key pair. */
export async function exampleEphemeral(example: OhttpExample): Promise<CryptoKeyPair> {
  const suite = kemSuite(KEM_X25519);
  return {
    privateKey: await suite.kem.importKey("raw", fromHex(example.skE).buffer, false),
    publicKey: await suite.kem.deserializePublicKey(fromHex(example.pkE).buffer),
  };
}
