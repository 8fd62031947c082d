/**
 * Identifiers and sizes of the HPKE suites of protocol v2 (the table is in suite.ts), without any crypto
 * code: the app SDK and the key-config codec import this file so they do not load hpke-js.
 */

/** RFC 9180 §7.1: DHKEM(X25519, HKDF-SHA256). */
export const KEM_X25519 = 0x0020;
/** X-Wing hybrid KEM (IANA HPKE KEM registry). */
export const KEM_XWING = 0x647a;
/** RFC 9180 §7.2: HKDF-SHA256, the only KDF offered. */
export const KDF_HKDF_SHA256 = 0x0001;
/** RFC 9180 §7.3: AES-128-GCM. */
export const AEAD_AES_128_GCM = 0x0001;
/** RFC 9180 §7.3: ChaCha20Poly1305. */
export const AEAD_CHACHA20_POLY1305 = 0x0003;
/** Nt of both AEADs. */
export const AEAD_TAG_LENGTH = 16;

/** Sizes of a KEM (RFC 9180 §7.1 table). */
export interface KemInfo {
  name: string;
  publicKeyLength: number;
  encLength: number;
}

/** Sizes of an AEAD (RFC 9180 §7.3 table). */
export interface AeadInfo {
  name: string;
  keyLength: number;
  nonceLength: number;
}

const _KEMS: Record<number, KemInfo> = {
  [KEM_X25519]: { name: "X25519", publicKeyLength: 32, encLength: 32 },
  [KEM_XWING]: { name: "X-Wing", publicKeyLength: 1216, encLength: 1120 },
};

const _AEADS: Record<number, AeadInfo> = {
  [AEAD_AES_128_GCM]: { name: "AES-128-GCM", keyLength: 16, nonceLength: 12 },
  [AEAD_CHACHA20_POLY1305]: { name: "ChaCha20-Poly1305", keyLength: 32, nonceLength: 12 },
};

/**
 * The (KDF, AEAD) pairs each KEM's key configuration offers, in the order of RFC 9458 Appendix A's
 * configuration (the order carries no preference; the SDK's is AEAD_PREFERENCE).
 */
export const OFFERED_ALGORITHMS: Readonly<Record<number, readonly { kdfId: number; aeadId: number }[]>> = {
  [KEM_XWING]: [{ kdfId: KDF_HKDF_SHA256, aeadId: AEAD_CHACHA20_POLY1305 }],
  [KEM_X25519]: [
    { kdfId: KDF_HKDF_SHA256, aeadId: AEAD_AES_128_GCM },
    { kdfId: KDF_HKDF_SHA256, aeadId: AEAD_CHACHA20_POLY1305 },
  ],
};

/** KEMs the SDK will seal to, most preferred first. */
export const KEM_PREFERENCE: readonly number[] = [KEM_XWING, KEM_X25519];
/** AEADs the SDK will use, most preferred first. */
export const AEAD_PREFERENCE: readonly number[] = [AEAD_CHACHA20_POLY1305, AEAD_AES_128_GCM];

/** The sizes of a supported KEM, or undefined. */
export function kemInfo(kemId: number): KemInfo | undefined {
  return _KEMS[kemId];
}

/** The sizes of a supported AEAD, or undefined. */
export function aeadInfo(aeadId: number): AeadInfo | undefined {
  return _AEADS[aeadId];
}

/** One HPKE suite by its three identifiers. */
export interface SuiteIds {
  kemId: number;
  kdfId: number;
  aeadId: number;
}

/** Whether this gateway supports the suite. */
export function isSupportedSuite(ids: SuiteIds): boolean {
  return (OFFERED_ALGORITHMS[ids.kemId] ?? []).some((a) => a.kdfId === ids.kdfId && a.aeadId === ids.aeadId);
}
