/**
 * Publishes the signed key set (`/api/pubkey`) and the RFC 9540 key list (`/.well-known/ohttp-gateway`).
 * The signature is computed once per key ring version and re-issued every KEYSET_REISSUE_SECONDS, with
 * `issued_at` on that grid, never per request. A fresh `issued_at` is what lets clients refuse rolled-back
 * key sets and correct their clocks from signed data (docs/protocol.md §2.2).
 */
import {
  encodeKeySet,
  encodeOhttpKeys,
  encodeTokenKeySet,
  type Identity,
  type KeyRing,
  KEYSET_REISSUE_SECONDS,
  signKeySet,
  signTokenKeySet,
  toBase64Url,
  type TokenKeySet,
} from "../crypto/mod.ts";

/** Token mode: where the publisher takes the issuer's public keys from. */
export interface TokenKeySource {
  issuerName: string;
  /** The redeemable token keys at `nowMs`, issuing key first. */
  publicKeys(nowMs: number): TokenKeySet["keys"];
}

/** JSON body of `GET /api/pubkey` (docs/protocol.md §2). */
export interface PubkeyDocument {
  version: 2;
  identity_key: string;
  fingerprint: string;
  keyset: string;
  signature: string;
  keys: { key_id: number; not_before: number; not_after: number; config: string }[];
  /** Token mode: the signed token key set (crypto/token_keyset.ts), both base64url. */
  token_keys?: { keyset: string; signature: string };
}

/** Caches what is published for the current ring version. */
export class KeyPublisher {
  #ring: KeyRing;
  #identity: Identity;
  #now: () => number;
  #tokens?: TokenKeySource;
  #cached?: {
    version: number;
    tokenKeys: string;
    issuedAt: number;
    document: PubkeyDocument;
    ohttpKeys: Uint8Array<ArrayBuffer>;
  };

  constructor(ring: KeyRing, identity: Identity, nowSeconds: () => number, tokens?: TokenKeySource) {
    this.#tokens = tokens;
    this.#ring = ring;
    this.#identity = identity;
    this.#now = nowSeconds;
  }

  /** The signed document and the ohttp-keys bytes for the current keys. */
  async current(): Promise<{ document: PubkeyDocument; ohttpKeys: Uint8Array<ArrayBuffer> }> {
    const issuedAt = Math.floor(this.#now() / KEYSET_REISSUE_SECONDS) * KEYSET_REISSUE_SECONDS;
    const tokenKeys = this.#tokens ? JSON.stringify(this.#tokens.publicKeys(this.#now() * 1000)) : "";
    if (
      this.#cached?.version === this.#ring.version && this.#cached.issuedAt === issuedAt &&
      this.#cached.tokenKeys === tokenKeys
    ) {
      return this.#cached;
    }
    const version = this.#ring.version;
    const entries = this.#ring.published();
    const keyset = encodeKeySet(issuedAt, entries, this.#tokens ? "token" : "device");
    const signature = await signKeySet(this.#identity, keyset);
    const document: PubkeyDocument = {
      version: 2,
      identity_key: toBase64Url(this.#identity.publicKey),
      fingerprint: this.#identity.fingerprint,
      keyset: toBase64Url(keyset),
      signature: toBase64Url(signature),
      keys: this.#ring.keys.map((k) => ({
        key_id: k.keyId,
        not_before: k.notBefore,
        not_after: k.notAfter,
        config: toBase64Url(k.config),
      })),
    };
    if (this.#tokens) {
      const bytes = encodeTokenKeySet({
        issuedAt,
        issuerName: this.#tokens.issuerName,
        keys: JSON.parse(tokenKeys),
      });
      const tokenSignature = await signTokenKeySet(this.#identity, bytes);
      document.token_keys = { keyset: toBase64Url(bytes), signature: toBase64Url(tokenSignature) };
    }
    this.#cached = {
      version,
      tokenKeys,
      issuedAt,
      document,
      ohttpKeys: encodeOhttpKeys(entries.map((e) => e.config)),
    };
    return this.#cached;
  }

  /**
   * Seconds caches may keep the key set: one re-issue period, so what a client fetches is fresh enough to
   * correct its clock from (and never outlives the next key's window opening).
   */
  maxAgeSeconds(): number {
    const now = this.#now();
    const upcoming = this.#ring.keys.map((k) => k.notBefore).filter((t) => t > now);
    const until = upcoming.length > 0 ? Math.min(...upcoming) - now : KEYSET_REISSUE_SECONDS;
    return Math.max(0, Math.min(KEYSET_REISSUE_SECONDS, Math.floor(until)));
  }
}
