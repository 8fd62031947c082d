/**
 * Privacy Pass issuance, client side, in pure JS (for engines without WebCrypto such as Hermes; elsewhere
 * the SDK uses src/tokens/blinding.ts on @cloudflare/privacypass-ts). RFC 9578 §6.1/§6.3 with
 * RSABSSA-SHA384-PSS-Deterministic (RFC 9474 §4–5, §6: no message preparation):
 *
 *   token_key_id = SHA-256(pkI as SPKI with the RSASSA-PSS OID);  nonce = random(32)
 *   token_input  = 0x0002 ‖ nonce ‖ SHA-256(challenge) ‖ token_key_id
 *   Blind:    EM = EMSA-PSS-ENCODE(token_input, modBits − 1; SHA-384, MGF1-SHA-384, salt = random(48))
 *             r = random in [1, n); blinded_msg = I2OSP(OS2IP(EM) · r^e mod n, kLen);  inv = r⁻¹ mod n
 *   TokenRequest  = 0x0002 ‖ token_key_id[31] ‖ blinded_msg
 *   Finalize: sig = I2OSP(OS2IP(blind_sig) · inv mod n, kLen), verified with RSASSA-PSS-VERIFY (RFC 8017
 *             §8.1.2) before use;  Token = token_input ‖ sig
 *
 * Only public-key operations happen here (e = 65537), so plain BigInt arithmetic is fast enough on Hermes.
 * Randomness is drawn in the order nonce, salt, r, as privacypass-ts does, so the RFC 9578 vectors apply
 * (tests/unit/sdk_blind_rsa_test.ts).
 */
import { sha256, sha384 } from "@noble/hashes/sha2.js";
import { concat, constantTimeEqual } from "../crypto/bytes.ts";
import type { PendingToken } from "../tokens/blinding.ts";
import { tokenIntegrityError } from "../tokens/token_error.ts";
import type { ClientCrypto } from "./platform_crypto.ts";

const _TOKEN_TYPE = new Uint8Array([0x00, 0x02]);
const _HASH_LENGTH = 48;
const _SALT_LENGTH = 48;
const _MAX_RANDOM_TRIES = 128;

/** Blinds one token for `challenge` under the issuer key `pssSpki` (the wallet's `blind`). */
export function nobleBlindTokenRequest(
  crypto: ClientCrypto,
): (challenge: Uint8Array, pssSpki: Uint8Array) => Promise<PendingToken> {
  return (challenge, pssSpki) => {
    try {
      return Promise.resolve(_blind(crypto, challenge, pssSpki));
    } catch (error) {
      return Promise.reject(error);
    }
  };
}

function _blind(crypto: ClientCrypto, challenge: Uint8Array, pssSpki: Uint8Array): PendingToken {
  const { n, e, kLen, modBits } = _rsaPublicKey(pssSpki);
  const tokenKeyId = sha256(pssSpki);
  const tokenInput = concat(_TOKEN_TYPE, crypto.randomBytes(32), sha256(challenge), tokenKeyId);
  const em = _emsaPssEncode(tokenInput, modBits - 1, crypto.randomBytes(_SALT_LENGTH));
  const m = _os2ip(em);
  if (_gcd(m, n) !== 1n) throw new Error("Cannot blind the token: invalid input");
  let r = 0n;
  for (let i = 0; i < _MAX_RANDOM_TRIES && (r === 0n || r >= n); i++) r = _os2ip(crypto.randomBytes(kLen));
  if (r === 0n || r >= n) throw new Error("Cannot blind the token: no random integer below n");
  const inv = _inverseMod(r, n);
  const blinded = _i2osp((m * _modPow(r, e, n)) % n, kLen);
  return {
    request: concat(_TOKEN_TYPE, new Uint8Array([tokenKeyId[31]]), blinded),
    finalize(response: Uint8Array) {
      if (response.byteLength !== kLen) {
        return Promise.reject(new Error("Cannot finalize the token: the response is not Nk bytes"));
      }
      const signature = _i2osp((_os2ip(response) * inv) % n, kLen);
      if (!_pssVerify(tokenInput, signature, n, e, modBits)) {
        return Promise.reject(tokenIntegrityError("the issuer's signature does not verify"));
      }
      return Promise.resolve(concat(tokenInput, signature));
    },
  };
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with SHA-384 and MGF1-SHA-384. */
function _emsaPssEncode(message: Uint8Array, emBits: number, salt: Uint8Array): Uint8Array<ArrayBuffer> {
  const emLen = Math.ceil(emBits / 8);
  const h = sha384(concat(new Uint8Array(8), sha384(message), salt));
  const db = new Uint8Array(emLen - _HASH_LENGTH - 1);
  db[db.length - salt.length - 1] = 0x01;
  db.set(salt, db.length - salt.length);
  const mask = _mgf1(h, db.length);
  for (let i = 0; i < db.length; i++) db[i] ^= mask[i];
  db[0] &= 0xff >> (8 * emLen - emBits);
  return concat(db, h, new Uint8Array([0xbc]));
}

/** RSASSA-PSS-VERIFY (RFC 8017 §8.1.2 and §9.1.2), salt length 48. */
function _pssVerify(
  message: Uint8Array,
  signature: Uint8Array,
  n: bigint,
  e: bigint,
  modBits: number,
): boolean {
  const s = _os2ip(signature);
  if (s >= n) return false;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const em = _i2osp(_modPow(s, e, n), emLen);
  if (em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - _HASH_LENGTH - 1);
  const h = em.subarray(emLen - _HASH_LENGTH - 1, emLen - 1);
  if ((maskedDb[0] & ~(0xff >> (8 * emLen - emBits))) !== 0) return false;
  const mask = _mgf1(h, maskedDb.length);
  const db = maskedDb.map((b, i) => b ^ mask[i]);
  db[0] &= 0xff >> (8 * emLen - emBits);
  const zeros = db.length - _SALT_LENGTH - 1;
  for (let i = 0; i < zeros; i++) if (db[i] !== 0) return false;
  if (db[zeros] !== 0x01) return false;
  const salt = db.subarray(db.length - _SALT_LENGTH);
  return constantTimeEqual(sha384(concat(new Uint8Array(8), sha384(message), salt)), h);
}

/** MGF1 with SHA-384 (RFC 8017 §B.2.1). */
function _mgf1(seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let counter = 0, offset = 0; offset < length; counter++, offset += _HASH_LENGTH) {
    const block = sha384(
      concat(seed, new Uint8Array([counter >>> 24, counter >>> 16, counter >>> 8, counter])),
    );
    out.set(block.subarray(0, Math.min(_HASH_LENGTH, length - offset)), offset);
  }
  return out;
}

/**
 * n and e from the RFC 9578 §6.5 key encoding: SubjectPublicKeyInfo { AlgorithmIdentifier (RSASSA-PSS),
 * BIT STRING { RSAPublicKey { INTEGER n, INTEGER e } } } (DER).
 */
function _rsaPublicKey(spki: Uint8Array): { n: bigint; e: bigint; kLen: number; modBits: number } {
  const outer = _der(spki, 0, 0x30);
  const algorithm = _der(spki, outer.start, 0x30);
  const bits = _der(spki, algorithm.end, 0x03);
  if (spki[bits.start] !== 0) throw new Error("Cannot read the issuer key: unused bits in its key");
  const sequence = _der(spki, bits.start + 1, 0x30);
  const modulus = _der(spki, sequence.start, 0x02);
  const exponent = _der(spki, modulus.end, 0x02);
  const n = _os2ip(spki.subarray(modulus.start, modulus.end));
  const e = _os2ip(spki.subarray(exponent.start, exponent.end));
  const modBits = n.toString(2).length;
  return { n, e, kLen: Math.ceil(modBits / 8), modBits };
}

/** One DER element of the expected tag at `offset`: where its content starts and ends. */
function _der(bytes: Uint8Array, offset: number, tag: number): { start: number; end: number } {
  if (bytes[offset] !== tag) throw new Error("Cannot read the issuer key: unexpected DER structure");
  let length = bytes[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count < 1 || count > 3) throw new Error("Cannot read the issuer key: unexpected DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i];
    start += count;
  }
  if (start + length > bytes.byteLength) throw new Error("Cannot read the issuer key: truncated DER");
  return { start, end: start + length };
}

function _os2ip(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function _i2osp(value: bigint, length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  if (value !== 0n) throw new RangeError("Integer too large");
  return out;
}

function _modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  base %= modulus;
  for (; exponent > 0n; exponent >>= 1n) {
    if (exponent & 1n) result = (result * base) % modulus;
    base = (base * base) % modulus;
  }
  return result;
}

function _gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** r⁻¹ mod n by the extended Euclidean algorithm; throws when r and n are not coprime. */
function _inverseMod(r: bigint, n: bigint): bigint {
  let [oldR, rem] = [r, n];
  let [oldS, s] = [1n, 0n];
  while (rem !== 0n) {
    const q = oldR / rem;
    [oldR, rem] = [rem, oldR - q * rem];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new Error("Cannot blind the token: blinding error");
  return ((oldS % n) + n) % n;
}
