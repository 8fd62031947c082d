/**
 * Micro-benchmarks of the per-request and per-chunk crypto (`deno task bench`): opening a request,
 * sealing and opening a response chunk, verifying a signed key set, verifying a proof of work. Results: docs/benchmarks.md.
 */
import {
  ChunkCipher,
  createSuite,
  encodeKeySet,
  generateIdentity,
  KeyRing,
  signKeySet,
  toBase64Url,
  utf8,
} from "../src/crypto/mod.ts";
import { verifyPubkeyDocument } from "../src/client/mod.ts";
import { openRequest, padRequest, sealRequest, solveChallenge, splitRequest } from "../src/protocol/mod.ts";
import { ProofOfWork } from "../src/limits/mod.ts";

const suite = createSuite();
const now = Math.floor(Date.now() / 1000);
const ring = await KeyRing.generate(suite, now, 3600);
const key = ring.keys[0];
const payload = padRequest(utf8(JSON.stringify({ messages: [{ role: "user", content: "x".repeat(500) }] })));
const sealedBodies: Uint8Array<ArrayBuffer>[] = [];
for (let i = 0; i < 2000; i++) {
  sealedBodies.push(
    (await sealRequest(suite, key, payload, {
      timestamp: now,
      requestId: crypto.getRandomValues(new Uint8Array(16)),
    })).body,
  );
}
let next = 0;

Deno.bench("openRequest(): split, HPKE open of a 1 KiB request", { group: "request" }, async () => {
  await openRequest(suite, ring, splitRequest(sealedBodies[next++ % sealedBodies.length]), now);
});

Deno.bench("sealRequest(): HPKE seal of a 1 KiB request (client)", { group: "request" }, async () => {
  await sealRequest(suite, key, payload, {
    timestamp: now,
    requestId: crypto.getRandomValues(new Uint8Array(16)),
  });
});

const secret = crypto.getRandomValues(new Uint8Array(32));
const enc = crypto.getRandomValues(new Uint8Array(32));
const nonce = crypto.getRandomValues(new Uint8Array(32));
const chunk = new Uint8Array(512);
const sealer = await ChunkCipher.derive(secret, enc, nonce);
const sealedChunks: Uint8Array<ArrayBuffer>[] = [];
for (let i = 0; i < 20_000; i++) sealedChunks.push(await sealer.seal(chunk, false));
let opener = await ChunkCipher.derive(secret, enc, nonce);
let opened = 0;

Deno.bench("ChunkCipher.seal(): 100 chunks of 512 bytes (derive included)", { group: "chunk" }, async (b) => {
  const c = await ChunkCipher.derive(secret, enc, nonce);
  b.start();
  for (let i = 0; i < 100; i++) await c.seal(chunk, false);
  b.end();
});

Deno.bench("ChunkCipher.open(): one 512-byte chunk", { group: "chunk" }, async () => {
  if (opened === sealedChunks.length) {
    opener = await ChunkCipher.derive(secret, enc, nonce);
    opened = 0;
  }
  await opener.open(sealedChunks[opened++], false);
});

const { identity } = await generateIdentity();
const keyset = encodeKeySet(now, ring.published());
const document = {
  identity_key: toBase64Url(identity.publicKey),
  keyset: toBase64Url(keyset),
  signature: toBase64Url(await signKeySet(identity, keyset)),
};

Deno.bench("verifyPubkeyDocument(): pin, Ed25519 signature, decode (client)", async () => {
  await verifyPubkeyDocument(document, identity.fingerprint, now);
});

const pow = await ProofOfWork.fromSecret(crypto.getRandomValues(new Uint8Array(32)));
const powChallenge = await pow.issue("dev", "net", 8, now, 3600);
const powSolution = await solveChallenge(powChallenge);

Deno.bench("ProofOfWork.verify(): one HMAC and one SHA-256 (gateway)", async () => {
  await pow.verify(powChallenge.token, powSolution, "dev", "net", now, () => Promise.resolve(true));
});
