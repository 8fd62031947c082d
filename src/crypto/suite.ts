/**
 * The HPKE suites of protocol v2 (RFC 9180 §7, X-Wing: draft-connolly-cfrg-xwing-kem):
 *
 *   kem_id  0x0020 DHKEM(X25519, HKDF-SHA256)   Npk = Nenc = 32
 *           0x647a X-Wing (ML-KEM-768 + X25519)  Npk = 1216, Nenc = 1120
 *   kdf_id  0x0001 HKDF-SHA256
 *   aead_id 0x0003 ChaCha20-Poly1305 (Nk 32, Nn 12, Nt 16), 0x0001 AES-128-GCM (Nk 16, Nn 12, Nt 16)
 *
 * The gateway publishes X25519 keys offering ChaCha20-Poly1305 and AES-128-GCM, and X-Wing keys offering
 * ChaCha20-Poly1305; the SDK prefers X-Wing (prompts recorded today stay unreadable to a future quantum
 * adversary) and ChaCha20-Poly1305 (phones without AES instructions). AES-128-GCM is here because RFC 9458
 * Appendix A and the chunked-OHTTP example use it, and standard OHTTP clients commonly pick it.
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { XWing } from "@hpke/hybridkem-x-wing";
import { SyncHkdfSha256 } from "./hpke_kdf.ts";
import { NativeAead } from "./native_aead.ts";
import { XWingRecipient } from "./xwing_recipient.ts";
import {
  AEAD_AES_128_GCM,
  AEAD_CHACHA20_POLY1305,
  aeadInfo,
  KDF_HKDF_SHA256,
  KEM_XWING,
  kemInfo,
  type SuiteIds,
} from "./suite_ids.ts";

export * from "./suite_ids.ts";

const _suites = new Map<string, CipherSuite>();

/** The hpke-js suite object for supported identifiers (cached: suites are stateless). */
export function createSuite(ids: SuiteIds): CipherSuite {
  if (!kemInfo(ids.kemId) || ids.kdfId !== KDF_HKDF_SHA256 || !aeadInfo(ids.aeadId)) {
    throw new RangeError("Unsupported HPKE suite");
  }
  const name = `${ids.kemId}/${ids.kdfId}/${ids.aeadId}`;
  let suite = _suites.get(name);
  if (!suite) {
    suite = new CipherSuite({
      kem: ids.kemId === KEM_XWING ? new XWing() : new DhkemX25519HkdfSha256(),
      kdf: new HkdfSha256(),
      aead: createAead(ids.aeadId),
    });
    _suites.set(name, suite);
  }
  return suite;
}

const _recipientSuites = new Map<string, CipherSuite>();

/**
 * The suite the gateway opens requests with: {@link createSuite}'s, computing the same results faster:
 * the key schedule and exporter on synchronous HMAC (hpke_kdf.ts), X-Wing decapsulation with each key's
 * expansion kept and the runtime's native X25519 (xwing_recipient.ts), and the runtime's native AEADs
 * (native_aead.ts).
 */
export function createRecipientSuite(ids: SuiteIds): CipherSuite {
  const name = `${ids.kemId}/${ids.kdfId}/${ids.aeadId}`;
  let suite = _recipientSuites.get(name);
  if (!suite) {
    createSuite(ids); // validates the identifiers
    suite = new CipherSuite({
      kem: ids.kemId === KEM_XWING ? new XWingRecipient() : new DhkemX25519HkdfSha256(),
      kdf: new SyncHkdfSha256(),
      aead: new NativeAead(ids.aeadId),
    });
    _recipientSuites.set(name, suite);
  }
  return suite;
}

/** A suite object for a KEM alone (key generation, derivation, (de)serialisation). */
export function kemSuite(kemId: number): CipherSuite {
  return createSuite({ kemId, kdfId: KDF_HKDF_SHA256, aeadId: AEAD_CHACHA20_POLY1305 });
}

/** The AEAD primitive alone, used for response chunks keyed from the HPKE exporter. */
export function createAead(aeadId: number): Aes128Gcm | Chacha20Poly1305 {
  if (aeadId === AEAD_AES_128_GCM) return new Aes128Gcm();
  if (aeadId === AEAD_CHACHA20_POLY1305) return new Chacha20Poly1305();
  throw new RangeError("Unsupported AEAD");
}
