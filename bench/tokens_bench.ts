/**
 * Privacy Pass costs per token (`deno bench bench/tokens_bench.ts`, no permissions): the issuer's blind
 * signature (node:crypto raw RSA, and the library's sjcl path it replaces), issuance through the limits,
 * redemption (parse, challenge digest, RSA-PSS verify, seen-set key), and the client's blind + finalize.
 * Results: docs/benchmarks.md.
 */
import { publicVerif, TokenChallenge } from "@cloudflare/privacypass-ts";
import { MemoryStore, ProofOfWork } from "../src/limits/mod.ts";
import {
  blindTokenRequest,
  fromBase64Url,
  gatewayChallenge,
  Issuer,
  IssuerKeys,
  Redeemer,
} from "../src/tokens/mod.ts";

const NOW = Date.now();
const NAME = "gateway.example";
const keys = await IssuerKeys.generate({ lifetimeMs: 86_400_000, overlapMs: 3_600_000 }, NOW);
const key = keys.current(NOW)!;
const spki = fromBase64Url(keys.publicKeys(NOW)[0].spki)!;
const challenge = gatewayChallenge(NAME);
const pending = await Promise.all(Array.from({ length: 20 }, () => blindTokenRequest(challenge, spki)));
const requests = pending.map((p) => p.request);
const token = await pending[0].finalize(key.blindSign(requests[0].subarray(3))!);

const issuer = new Issuer({
  keys,
  store: new MemoryStore(),
  attester: { verify: () => Promise.resolve({ deviceId: "bench" }) },
  limits: {
    maxBatch: 20,
    tokensPerWindow: 1e9,
    windowSeconds: 1,
    newDevicesPerNetworkPerHour: 1e9,
    powLoadThreshold: 2,
    powBits: 1,
    powTtlSeconds: 60,
  },
  pow: await ProofOfWork.fromSecret(new Uint8Array(32)),
  nowMs: () => NOW,
});
// The seen-set always says "first spend", so one token can be redeemed repeatedly: this measures the checks.
const redeemer = new Redeemer({
  keys,
  // Every token fresh: the store's checks answer at once (the redemption's own cost is what is measured).
  spent: {
    addIfAbsent: () => Promise.resolve(true),
    has: () => Promise.resolve(false),
    acquire: () => Promise.resolve(true),
    release: () => Promise.resolve(),
  },
  issuerName: NAME,
  nowMs: () => NOW,
});

// The library's own issuer (sjcl big numbers, no CRT) for comparison; needs an extractable WebCrypto key.
const libraryKeys = await publicVerif.Issuer.generateKey(publicVerif.BlindRSAMode.PSS, {
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
});
const libraryIssuer = new publicVerif.Issuer(
  publicVerif.BlindRSAMode.PSS,
  NAME,
  libraryKeys.privateKey,
  libraryKeys.publicKey,
);
const libraryRequest = await new publicVerif.Client(publicVerif.BlindRSAMode.PSS).createTokenRequest(
  new TokenChallenge(2, NAME, new Uint8Array(0)),
  await publicVerif.getPublicKeyBytes(libraryKeys.publicKey),
);

Deno.bench("IssuerKey.blindSign(): RSASP1 + RSAVP1 check via node:crypto (one token)", {
  group: "sign",
  baseline: true,
}, () => {
  key.blindSign(requests[0].subarray(3));
});

Deno.bench(
  "blindrsa-ts blindSign (sjcl, the path replaced; one token)",
  { group: "sign", n: 10, warmup: 1 },
  async () => {
    await libraryIssuer.issue(libraryRequest);
  },
);

Deno.bench("Issuer.issue(): batch of 20 through attester + limits (memory store)", async () => {
  await issuer.issue(requests, { network: "n", evidence: null });
});

Deno.bench("Redeemer.redeem(): parse, digest, RSA-PSS verify, seen-set key (one token)", async () => {
  await redeemer.redeem(token);
});

Deno.bench("blindTokenRequest() + finalize(): the client's cost per token", async () => {
  const p = await blindTokenRequest(challenge, spki);
  await p.finalize(key.blindSign(p.request.subarray(3))!);
});

Deno.bench("IssuerKeys.generate(): one RSA-2048 key", { n: 5, warmup: 0 }, async () => {
  await IssuerKeys.generate({ lifetimeMs: 86_400_000, overlapMs: 3_600_000 }, NOW);
});
