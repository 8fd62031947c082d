/**
 * The gateway's HPKE private keys: previous, current and next generation, each with a validity window. A
 * generation is one key per KEM (X25519 and X-Wing, each with its own key id and RFC 9458 key
 * configuration). Keys rotate on a fixed interval; a request may use any key the ring still holds, so a
 * client that fetched keys just before a rotation keeps working for a whole interval. Retired keys are
 * dropped from memory.
 *
 * Validity (interval I, rotation at t): current = [t, t + 2I], next = [t + I, t + 3I]; the previous
 * generation stays until its own not_after passes.
 */
import { encodeKeyConfig } from "./key_config.ts";
import type { KeySetEntry } from "./keyset.ts";
import { KEM_X25519, KEM_XWING, kemSuite, OFFERED_ALGORITHMS } from "./suite.ts";

/** One HPKE key pair held by the gateway. */
export interface HpkeKey {
  keyId: number;
  /** The KEM of this key (suite.ts); its config offers that KEM's OFFERED_ALGORITHMS. */
  kemId: number;
  /**
   * The key pair handed to hpke-js as the recipient key. The private key is not extractable: given the
   * pair, hpke-js never needs to re-derive the public key (which it does by exporting the private key as
   * a JWK, `d` included, on every request when given the private key alone). X-Wing keys are hpke-js
   * key objects holding the 32-byte seed (ML-KEM has no WebCrypto key type to make non-extractable).
   */
  pair: CryptoKeyPair;
  publicKey: Uint8Array<ArrayBuffer>;
  config: Uint8Array<ArrayBuffer>;
  notBefore: number;
  notAfter: number;
}

/** WebCrypto's name and usages for an X25519 private key used for HPKE decapsulation (DH). */
const _X25519 = { name: "X25519" };
const _DH_USAGES: KeyUsage[] = ["deriveBits"];

/**
 * Builds an {@link HpkeKey} from a key pair. hpke-js generates and derives extractable keys; the private
 * key is re-imported non-extractable here (one PKCS#8 export, wiped at once) and the extractable original
 * is dropped.
 */
export async function makeHpkeKey(
  kemId: number,
  pair: CryptoKeyPair,
  keyId: number,
  notBefore: number,
  notAfter: number,
): Promise<HpkeKey> {
  const publicKey = new Uint8Array(await kemSuite(kemId).kem.serializePublicKey(pair.publicKey));
  const privateKey = kemId === KEM_X25519 ? await _nonExtractable(pair.privateKey) : pair.privateKey;
  return {
    keyId,
    kemId,
    pair: { publicKey: pair.publicKey, privateKey },
    publicKey,
    config: encodeKeyConfig({ keyId, kemId, publicKey, algorithms: [...OFFERED_ALGORITHMS[kemId]] }),
    notBefore,
    notAfter,
  };
}

async function _nonExtractable(privateKey: CryptoKey): Promise<CryptoKey> {
  if (!privateKey.extractable) return privateKey;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", privateKey));
  try {
    return await crypto.subtle.importKey("pkcs8", pkcs8, _X25519, false, _DH_USAGES);
  } finally {
    pkcs8.fill(0);
  }
}

/** Holds the keys that requests may be sealed to, and rotates them. */
export class KeyRing {
  #keys: HpkeKey[];
  #nextKeyId: number;
  #version = 0;

  private constructor(keys: HpkeKey[], nextKeyId: number) {
    this.#keys = keys;
    this.#nextKeyId = nextKeyId;
  }

  /** A ring with fixed keys (loaded from a file shared by several instances); it never rotates itself. */
  static fixed(keys: HpkeKey[]): KeyRing {
    if (new Set(keys.map((k) => k.keyId)).size !== keys.length) throw new Error("Key ids must be unique");
    return new KeyRing(keys, -1);
  }

  /** A ring of in-memory keys: a current and a next generation, rotated by {@link rotateIfDue}. */
  static async generate(nowSeconds: number, intervalSeconds: number): Promise<KeyRing> {
    const firstId = crypto.getRandomValues(new Uint8Array(1))[0];
    const ring = new KeyRing([], firstId);
    ring.#keys.push(...await ring.#newGeneration(nowSeconds, nowSeconds + 2 * intervalSeconds));
    ring.#keys.push(
      ...await ring.#newGeneration(nowSeconds + intervalSeconds, nowSeconds + 3 * intervalSeconds),
    );
    return ring;
  }

  /** Replaces the keys of a fixed ring (a shared keys file changed). */
  replaceFixed(keys: HpkeKey[]): void {
    if (this.#nextKeyId >= 0) throw new Error("Only a fixed ring takes keys from outside");
    if (new Set(keys.map((k) => k.keyId)).size !== keys.length) throw new Error("Key ids must be unique");
    this.#keys = keys;
    this.#version++;
  }

  /** Increments whenever the set of keys changes, so callers can cache what they derive from it. */
  get version(): number {
    return this.#version;
  }

  /** Keys currently held, oldest first. */
  get keys(): readonly HpkeKey[] {
    return this.#keys;
  }

  /** The key a request names, if the ring still holds it and it has not expired. */
  lookup(keyId: number, nowSeconds: number): HpkeKey | undefined {
    return this.#keys.find((k) => k.keyId === keyId && nowSeconds <= k.notAfter);
  }

  /** Entries for the signed key set. */
  published(): KeySetEntry[] {
    return this.#keys.map((k) => ({ notBefore: k.notBefore, notAfter: k.notAfter, config: k.config }));
  }

  /**
   * Promotes next to current and creates a new next once the newest key's window has started; drops keys
   * whose window has ended. Returns whether anything changed. A fixed ring only drops expired keys.
   */
  async rotateIfDue(nowSeconds: number, intervalSeconds: number): Promise<boolean> {
    const before = this.#keys.length;
    this.#keys = this.#keys.filter((k) => nowSeconds <= k.notAfter);
    let changed = this.#keys.length !== before;
    const newest = this.#keys.at(-1);
    if (this.#nextKeyId >= 0 && (!newest || newest.notBefore <= nowSeconds)) {
      const start = newest ? newest.notBefore + intervalSeconds : nowSeconds;
      this.#keys.push(...await this.#newGeneration(start, start + 2 * intervalSeconds));
      if (!newest) {
        this.#keys.push(...await this.#newGeneration(start + intervalSeconds, start + 3 * intervalSeconds));
      }
      changed = true;
    }
    if (changed) this.#version++;
    return changed;
  }

  async #newGeneration(notBefore: number, notAfter: number): Promise<HpkeKey[]> {
    // Key ids cycle through 0..255; a ring holds at most three generations of two keys, so ids never collide.
    const out = [];
    for (const kemId of [KEM_X25519, KEM_XWING]) {
      const keyId = this.#nextKeyId;
      this.#nextKeyId = (this.#nextKeyId + 1) % 256;
      out.push(
        await makeHpkeKey(kemId, await kemSuite(kemId).kem.generateKeyPair(), keyId, notBefore, notAfter),
      );
    }
    return out;
  }
}
