/** The keyed-hash and proof-of-work secrets, derived from the identity so every instance agrees. */
import { type Identity, utf8 } from "../crypto/mod.ts";
import { KeyHasher, ProofOfWork } from "../limits/mod.ts";

/** Domain-separation label of the identity signature the secrets come from. */
const _LABEL = "privacy-gateway limits secret v1";

/** The secrets the abuse limits need. */
export interface LimitSecrets {
  hasher: KeyHasher;
  pow: ProofOfWork;
}

/**
 * Ed25519 signatures are deterministic (RFC 8032 §5.1.6), so every gateway that shares the identity (and
 * the Redis store) derives the same 64 bytes: the first half keys client hashes, the second challenges.
 */
export async function deriveLimitSecrets(identity: Identity): Promise<LimitSecrets> {
  const derived = await identity.sign(utf8(_LABEL));
  try {
    return {
      hasher: await KeyHasher.fromSecret(derived.slice(0, 32)),
      pow: await ProofOfWork.fromSecret(derived.slice(32, 64)),
    };
  } finally {
    derived.fill(0);
  }
}
