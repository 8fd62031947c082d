/**
 * HPKE base mode, sender side only (RFC 9180 §5.1, §5.2, §5.3), on the injectable {@link ClientCrypto}: all
 * the app needs to encapsulate an Oblivious HTTP request and export the response secret. Written here (about
 * 100 lines) rather than taken from hpke-js because hpke-js runs its KDF on `crypto.subtle`, which Hermes
 * does not have. Every RFC 9180 base-mode vector of tests/testdata passes (tests/unit/sdk_hpke_test.ts).
 *
 *   suite_id (KEM)   = "KEM" ‖ I2OSP(kem_id, 2)
 *   suite_id (HPKE)  = "HPKE" ‖ I2OSP(kem_id, 2) ‖ I2OSP(kdf_id, 2) ‖ I2OSP(aead_id, 2)
 *   LabeledExtract(salt, label, ikm)   = HKDF-Extract(salt, "HPKE-v1" ‖ suite_id ‖ label ‖ ikm)
 *   LabeledExpand(prk, label, info, L) = HKDF-Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite_id ‖ label ‖ info, L)
 *   DHKEM(X25519) Encap: dh = X25519(skE, pkR); enc = pkE
 *     shared_secret = LabeledExpand(LabeledExtract("", "eae_prk", dh), "shared_secret", enc ‖ pkR, 32)
 *   X-Wing Encap (draft-connolly-cfrg-xwing-kem-06 §5.4, used directly as the HPKE KEM):
 *     (ct_M, ss_M) = ML-KEM-768.Encaps(pk_M, eseed[0:32]); sk_E = eseed[32:64]; ct_X = X25519(sk_E, 9) (its public key)
 *     ss = SHA3-256(ss_M ‖ X25519(sk_E, pk_X) ‖ ct_X ‖ pk_X ‖ "\.//^\"); enc = ct_M ‖ ct_X
 *   KeySchedule (mode 0, no PSK): key, base_nonce, exporter_secret from
 *     secret = LabeledExtract(shared_secret, "secret", ""), ks_context = 0x00 ‖ psk_id_hash ‖ info_hash
 *   Seal: nonce = base_nonce XOR I2OSP(seq, Nn); Export(ctx, L) = LabeledExpand(exporter_secret, "sec", ctx, L)
 */
import { concat, uintBE, utf8 } from "../crypto/bytes.ts";
import { aeadInfo, KDF_HKDF_SHA256, KEM_X25519, KEM_XWING } from "../crypto/suite_ids.ts";
import type { Aead, ClientCrypto } from "./platform_crypto.ts";

const _HPKE_V1 = utf8("HPKE-v1");
const _XWING_LABEL = new Uint8Array([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);
const _EMPTY = new Uint8Array(0);
const _NH = 32;

/** A sender context: seals in sequence and exports secrets (RFC 9180 §5.2–5.3). */
export interface SenderContext {
  enc: Uint8Array<ArrayBuffer>;
  seal(plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
  export(exporterContext: Uint8Array, length: number): Promise<Uint8Array<ArrayBuffer>>;
}

async function _hkdfExpand(c: ClientCrypto, prk: Uint8Array, info: Uint8Array, length: number) {
  const out = new Uint8Array(length);
  let previous: Uint8Array = _EMPTY;
  for (let i = 1, offset = 0; offset < length; i++) {
    previous = await c.hmacSha256(prk, concat(previous, info, new Uint8Array([i])));
    out.set(previous.subarray(0, Math.min(_NH, length - offset)), offset);
    offset += _NH;
  }
  return out;
}

function _labeledExtract(
  c: ClientCrypto,
  suiteId: Uint8Array,
  salt: Uint8Array,
  label: string,
  ikm: Uint8Array,
) {
  return c.hmacSha256(salt, concat(_HPKE_V1, suiteId, utf8(label), ikm));
}

function _labeledExpand(
  c: ClientCrypto,
  suiteId: Uint8Array,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
) {
  return _hkdfExpand(c, prk, concat(uintBE(length, 2), _HPKE_V1, suiteId, utf8(label), info), length);
}

/**
 * Encap of the KEM. `ikm` is the ephemeral randomness (32 bytes for X25519: the secret key itself, as
 * hpke-js and the RFC 9458 example use it; 64 for X-Wing: eseed); tests and the Hermes bridge pass it.
 */
async function _encap(c: ClientCrypto, kemId: number, pkR: Uint8Array, ikm?: Uint8Array) {
  if (kemId === KEM_X25519) {
    const skE = ikm ?? c.randomBytes(32);
    const enc = await c.x25519PublicKey(skE);
    const dh = await c.x25519(skE, pkR);
    const suiteId = concat(utf8("KEM"), uintBE(kemId, 2));
    const prk = await _labeledExtract(c, suiteId, _EMPTY, "eae_prk", dh);
    return {
      enc,
      sharedSecret: await _labeledExpand(c, suiteId, prk, "shared_secret", concat(enc, pkR), 32),
    };
  }
  if (kemId === KEM_XWING) {
    if (pkR.byteLength !== 1216) throw new RangeError("X-Wing public keys are 1216 bytes");
    const eseed = ikm ?? c.randomBytes(64);
    const pkM = pkR.subarray(0, 1184);
    const pkX = pkR.subarray(1184);
    const { cipherText: ctM, sharedSecret: ssM } = c.mlKem768Encapsulate(pkM, eseed.subarray(0, 32));
    const skE = eseed.subarray(32, 64);
    const ctX = await c.x25519PublicKey(skE);
    const ssX = await c.x25519(skE, pkX);
    return { enc: concat(ctM, ctX), sharedSecret: c.sha3_256(concat(ssM, ssX, ctX, pkX, _XWING_LABEL)) };
  }
  throw new RangeError("Unsupported KEM");
}

/** SetupBaseS(pkR, info) (RFC 9180 §5.1.1) for a supported suite; `ikm` fixes the ephemeral key (tests). */
export async function setupBaseSender(
  c: ClientCrypto,
  suite: { kemId: number; kdfId: number; aeadId: number },
  pkR: Uint8Array,
  info: Uint8Array,
  ikm?: Uint8Array,
): Promise<SenderContext> {
  const aead = aeadInfo(suite.aeadId);
  if (!aead || suite.kdfId !== KDF_HKDF_SHA256) throw new RangeError("Unsupported HPKE suite");
  const { enc, sharedSecret } = await _encap(c, suite.kemId, pkR, ikm);
  const suiteId = concat(
    utf8("HPKE"),
    uintBE(suite.kemId, 2),
    uintBE(suite.kdfId, 2),
    uintBE(suite.aeadId, 2),
  );
  const pskIdHash = await _labeledExtract(c, suiteId, _EMPTY, "psk_id_hash", _EMPTY);
  const infoHash = await _labeledExtract(c, suiteId, _EMPTY, "info_hash", info);
  const context = concat(new Uint8Array([0]), pskIdHash, infoHash);
  const secret = await _labeledExtract(c, suiteId, sharedSecret, "secret", _EMPTY);
  sharedSecret.fill(0);
  const key = await _labeledExpand(c, suiteId, secret, "key", context, aead.keyLength);
  const baseNonce = await _labeledExpand(c, suiteId, secret, "base_nonce", context, aead.nonceLength);
  const exporterSecret = await _labeledExpand(c, suiteId, secret, "exp", context, _NH);
  secret.fill(0);
  const cipher: Aead = c.aead(suite.aeadId, key);
  let seq = 0;
  return {
    enc,
    seal: (plaintext, aad = _EMPTY) => cipher.seal(xorCounter(baseNonce, seq++), plaintext, aad),
    export: (exporterContext, length) =>
      _labeledExpand(c, suiteId, exporterSecret, "sec", exporterContext, length),
  };
}

/** nonce XOR I2OSP(counter, Nn), for HPKE sequence numbers and OHTTP response chunks alike. */
export function xorCounter(baseNonce: Uint8Array, counter: number): Uint8Array<ArrayBuffer> {
  const nonce = new Uint8Array(baseNonce);
  for (let i = nonce.byteLength - 1, c = counter; c > 0 && i >= 0; i--) {
    nonce[i] ^= c & 0xff;
    c = Math.floor(c / 256);
  }
  return nonce;
}

/** HKDF-Extract and HKDF-Expand (RFC 5869) on the injected HMAC, for the OHTTP response keys. */
export const hkdf = {
  extract: (c: ClientCrypto, salt: Uint8Array, ikm: Uint8Array) => c.hmacSha256(salt, ikm),
  expand: _hkdfExpand,
};
