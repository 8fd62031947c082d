/** The keyed-hash and proof-of-work secrets, derived from the identity so every instance agrees. */
import { type Identity, utf8 } from "../crypto/mod.ts";
import { KeyHasher, ProofOfWork } from "../limits/mod.ts";

/** Domain-separation label of the identity signature the secrets come from. */
const _LABEL = "privacy-gateway limits secret v1";
/** Each secret is 32 bytes: HMAC-SHA-256's block-size-independent sweet spot (RFC 2104 §3, L = 32). */
const _SECRET_LENGTH = 32;

/** The secrets the abuse limits need. */
export interface LimitSecrets {
  hasher: KeyHasher;
  pow: ProofOfWork;
}

/**
 * Ed25519 signatures are deterministic (RFC 8032 §5.1.6), so every gateway that shares the identity (and
 * the Redis store) derives the same 64 bytes: the first half keys client hashes, the second challenges.
 *
 * Without a shared store (`shared: false`) the spent-challenge set dies with the process, so a solved
 * challenge would be accepted again after a restart (review item 2). There the challenge key is random
 * per process instead: a challenge issued before the restart no longer verifies at all.
 */
export async function deriveLimitSecrets(
  identity: Identity,
  options: { shared: boolean },
): Promise<LimitSecrets> {
  const derived = await identity.sign(utf8(_LABEL));
  const challengeSecret = options.shared
    ? derived.slice(32, 64)
    : crypto.getRandomValues(new Uint8Array(_SECRET_LENGTH));
  try {
    return {
      hasher: KeyHasher.fromSecret(derived.subarray(0, _SECRET_LENGTH)),
      pow: await ProofOfWork.fromSecret(challengeSecret),
    };
  } finally {
    derived.fill(0);
    challengeSecret.fill(0);
  }
}
