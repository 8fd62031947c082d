/**
 * Micro-benchmarks of the per-request and per-chunk crypto (`deno task bench`): opening a request per
 * suite (X25519 with ChaCha20-Poly1305 and AES-128-GCM, X-Wing with ChaCha20-Poly1305: X-Wing's
 * decapsulation is ML-KEM-768 + X25519), sealing one on the client, sealing and opening response chunks,
 * verifying a signed key set, verifying a proof of work. Results: docs/benchmarks.md.
 */
import {
  AEAD_AES_128_GCM,
  AEAD_CHACHA20_POLY1305,
  ChunkCipher,
  createSuite,
  encodeKeySet,
  generateIdentity,
  KEM_X25519,
  KEM_XWING,
  KeyRing,
  signKeySet,
  toBase64Url,
  utf8,
} from "../src/crypto/mod.ts";
import { verifyPubkeyDocument } from "../src/client/mod.ts";
import {
  encodeChatRequest,
  openRequest,
  sealRequest,
  solveChallenge,
  splitRequest,
} from "../src/protocol/mod.ts";
import { ProofOfWork } from "../src/limits/mod.ts";

const now = Math.floor(Date.now() / 1000);
const ring = await KeyRing.generate(now, 3600);
const message = encodeChatRequest(
  utf8(JSON.stringify({ messages: [{ role: "user", content: "x".repeat(500) }] })),
  { nowSeconds: now },
);

const SUITES = [
  { name: "X25519 + ChaCha20-Poly1305", kemId: KEM_X25519, aeadId: AEAD_CHACHA20_POLY1305 },
  { name: "X25519 + AES-128-GCM", kemId: KEM_X25519, aeadId: AEAD_AES_128_GCM },
  { name: "X-Wing + ChaCha20-Poly1305", kemId: KEM_XWING, aeadId: AEAD_CHACHA20_POLY1305 },
];

for (const suite of SUITES) {
  const key = ring.keys.find((k) => k.kemId === suite.kemId)!;
  const bodies: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < 500; i++) {
    bodies.push((await sealRequest(key, message, { chunked: true, aeadId: suite.aeadId })).body);
  }
  let next = 0;
  Deno.bench(`openRequest(): ${suite.name}, 1 KiB chunked request (gateway)`, { group: "open" }, async () => {
    await openRequest(ring, splitRequest(bodies[next++ % bodies.length], true), now);
  });
  const hpke = createSuite({ kemId: suite.kemId, kdfId: 1, aeadId: suite.aeadId });
  const encs = bodies.map((b) => splitRequest(b, true).enc);
  Deno.bench(
    `createRecipientContext(): ${suite.name}, KEM decapsulation + key schedule`,
    { group: "decap" },
    async () => {
      await hpke.createRecipientContext({ recipientKey: key.pair, enc: encs[next++ % encs.length].buffer });
    },
  );
  Deno.bench(`sealRequest(): ${suite.name}, 1 KiB chunked request (client)`, { group: "seal" }, async () => {
    await sealRequest(key, message, { chunked: true, aeadId: suite.aeadId });
  });
}

const secret = crypto.getRandomValues(new Uint8Array(32));
const enc = crypto.getRandomValues(new Uint8Array(32));
const nonce = crypto.getRandomValues(new Uint8Array(32));
const chunk = new Uint8Array(512);
for (const aeadId of [AEAD_CHACHA20_POLY1305, AEAD_AES_128_GCM]) {
  const name = aeadId === AEAD_AES_128_GCM ? "AES-128-GCM" : "ChaCha20-Poly1305";
  Deno.bench(
    `ChunkCipher.seal(): 100 chunks of 512 bytes, ${name} (derive included)`,
    { group: "chunk" },
    async (b) => {
      const c = await ChunkCipher.derive(aeadId, secret, enc, nonce);
      b.start();
      for (let i = 0; i < 100; i++) await c.seal(chunk, false);
      b.end();
    },
  );
}

const sealer = await ChunkCipher.derive(AEAD_CHACHA20_POLY1305, secret, enc, nonce);
const sealedChunks: Uint8Array<ArrayBuffer>[] = [];
for (let i = 0; i < 20_000; i++) sealedChunks.push(await sealer.seal(chunk, false));
let opener = await ChunkCipher.derive(AEAD_CHACHA20_POLY1305, secret, enc, nonce);
let opened = 0;

Deno.bench("ChunkCipher.open(): one 512-byte chunk, ChaCha20-Poly1305", { group: "chunk" }, async () => {
  if (opened === sealedChunks.length) {
    opener = await ChunkCipher.derive(AEAD_CHACHA20_POLY1305, secret, enc, nonce);
    opened = 0;
  }
  await opener.open(sealedChunks[opened++], false);
});

const { identity } = await generateIdentity();
const keyset = encodeKeySet(now, ring.published(), "device");
const document = {
  identity_key: toBase64Url(identity.publicKey),
  keyset: toBase64Url(keyset),
  signature: toBase64Url(await signKeySet(identity, keyset)),
};

Deno.bench("verifyPubkeyDocument(): pin, Ed25519 signature, decode 4 keys (client)", async () => {
  await verifyPubkeyDocument(document, identity.fingerprint, now);
});

const pow = await ProofOfWork.fromSecret(crypto.getRandomValues(new Uint8Array(32)));
const powChallenge = await pow.issue("dev", "net", 8, now, 3600);
const powSolution = await solveChallenge(powChallenge);

Deno.bench("ProofOfWork.verify(): one HMAC and one SHA-256 (gateway)", async () => {
  await pow.verify(powChallenge.token, powSolution, "dev", "net", now, () => Promise.resolve(true));
});
