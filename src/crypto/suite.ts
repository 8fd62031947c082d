/**
 * The single HPKE suite of protocol v1 (RFC 9180 §7): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
 * ChaCha20-Poly1305. ChaCha20-Poly1305 is chosen for phones without AES acceleration.
 */
import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";

/** RFC 9180 §7.1: DHKEM(X25519, HKDF-SHA256). */
export const KEM_ID = 0x0020;
/** RFC 9180 §7.2: HKDF-SHA256. */
export const KDF_ID = 0x0001;
/** RFC 9180 §7.3: ChaCha20Poly1305. */
export const AEAD_ID = 0x0003;
/** Npk and Nenc of X25519 (RFC 9180 §7.1). */
export const PUBLIC_KEY_LENGTH = 32;
/** Nk of ChaCha20-Poly1305. */
export const AEAD_KEY_LENGTH = 32;
/** Nn of ChaCha20-Poly1305. */
export const AEAD_NONCE_LENGTH = 12;
/** Nt of ChaCha20-Poly1305. */
export const AEAD_TAG_LENGTH = 16;

/** Builds the HPKE cipher suite object (hpke-js over WebCrypto). */
export function createSuite(): CipherSuite {
  return new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Chacha20Poly1305(),
  });
}

/** The AEAD primitive alone, used for response chunks keyed from the HPKE exporter. */
export function createAead(): Chacha20Poly1305 {
  return new Chacha20Poly1305();
}
