/**
 * The SDK's injectable crypto: the few primitives the app side of protocol v2 needs, so one client runs on
 * WebCrypto (Deno, Node 20, browsers) or on audited pure-JS code (noble_crypto.ts: React Native's Hermes,
 * which has no `crypto.subtle`). HPKE itself is built on top (hpke.ts), never taken from the platform.
 *
 * What WebCrypto lacks everywhere (ChaCha20-Poly1305, ML-KEM-768, SHA3-256 for X-Wing) always comes from
 * noble; `webCrypto()` uses the platform for the rest (SHA-256, HMAC, Ed25519, X25519, AES-GCM).
 */
import { isAcceptableEd25519PublicKey } from "../crypto/ed25519_key.ts";
import { nobleCrypto, nobleExtras } from "./noble_crypto.ts";

/** One AEAD keyed once (RFC 9180 §5.2 Seal/Open with an explicit nonce). */
export interface Aead {
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
  /** Rejects when the tag does not authenticate. */
  open(nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
}

/** The primitives the client uses. Byte arrays in, fresh byte arrays out. */
export interface ClientCrypto {
  /** `webcrypto` or `noble` (shown in diagnostics and measurements). */
  readonly name: string;
  randomBytes(length: number): Uint8Array<ArrayBuffer>;
  sha256(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
  sha3_256(data: Uint8Array): Uint8Array<ArrayBuffer>;
  hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
  /** Ed25519 public key of a 32-byte seed (RFC 8032 §5.1.5). */
  ed25519PublicKey(seed: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
  /** False for a bad signature or an unacceptable (small-order, non-canonical) key; never throws. */
  ed25519Verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean>;
  /** X25519 public key of a 32-byte secret (RFC 7748 §6.1). */
  x25519PublicKey(secret: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
  x25519(secret: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array<ArrayBuffer>>;
  /** ML-KEM-768 encapsulation (FIPS 203) with the 32-byte message `m` given (X-Wing passes its own). */
  mlKem768Encapsulate(
    publicKey: Uint8Array,
    m: Uint8Array,
  ): { cipherText: Uint8Array; sharedSecret: Uint8Array };
  /** RFC 9180 AEAD ids: 0x0001 AES-128-GCM, 0x0003 ChaCha20-Poly1305. */
  aead(aeadId: number, key: Uint8Array): Aead;
}

/**
 * PKCS#8 prefix of a raw 32-byte RFC 8410 key (§7): SEQUENCE { version 0, AlgorithmIdentifier { OID
 * 1.3.101.`oid` }, OCTET STRING { OCTET STRING (32 bytes) } }; 112 is Ed25519, 110 is X25519.
 */
function _rfc8410Prefix(oid: number): number[] {
  return [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, oid, 0x04, 0x22, 0x04, 0x20];
}
const _ED25519_PKCS8 = _rfc8410Prefix(112);
const _X25519_PKCS8 = _rfc8410Prefix(110);

function _pkcs8(prefix: number[], secret: Uint8Array): Uint8Array<ArrayBuffer> {
  if (secret.byteLength !== 32) throw new RangeError("Pass a 32-byte private key");
  const out = new Uint8Array(48);
  out.set(prefix, 0);
  out.set(secret, 16);
  return out;
}

function _b(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(data);
}

/** The public half of a private key as WebCrypto exports it (JWK `x`). */
async function _publicOf(key: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const base64 = (jwk.x ?? "").replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/**
 * WebCrypto for what the platform has (Deno, Node ≥ 20, Chromium ≥ 133, Safari ≥ 17, Firefox ≥ 130 have
 * Ed25519 and X25519), noble for ChaCha20-Poly1305, ML-KEM and SHA3.
 */
export function webCrypto(subtle: SubtleCrypto = globalThis.crypto.subtle): ClientCrypto {
  const noble = nobleExtras();
  const importEd = (seed: Uint8Array) =>
    subtle.importKey("pkcs8", _pkcs8(_ED25519_PKCS8, seed), { name: "Ed25519" }, true, ["sign"]);
  const importX = (secret: Uint8Array) =>
    subtle.importKey("pkcs8", _pkcs8(_X25519_PKCS8, secret), { name: "X25519" }, true, ["deriveBits"]);
  return {
    name: "webcrypto",
    randomBytes: (length) => globalThis.crypto.getRandomValues(new Uint8Array(length)),
    sha256: async (data) => new Uint8Array(await subtle.digest("SHA-256", _b(data))),
    sha3_256: noble.sha3_256,
    hmacSha256: async (key, data) => {
      // A zero-length HMAC key is refused by WebCrypto; HMAC pads keys with zeros, so this is the same key.
      const raw = key.byteLength === 0 ? new Uint8Array(32) : _b(key);
      const k = await subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return new Uint8Array(await subtle.sign("HMAC", k, _b(data)));
    },
    ed25519PublicKey: async (seed) => _publicOf(await importEd(seed)),
    ed25519Sign: async (seed, message) =>
      new Uint8Array(await subtle.sign("Ed25519", await importEd(seed), _b(message))),
    ed25519Verify: async (publicKey, signature, message) => {
      // WebCrypto accepts small-order and non-canonical keys; such a key is never legitimate here.
      if (!isAcceptableEd25519PublicKey(publicKey)) return false;
      try {
        const key = await subtle.importKey("raw", _b(publicKey), { name: "Ed25519" }, false, ["verify"]);
        return await subtle.verify("Ed25519", key, _b(signature), _b(message));
      } catch {
        return false;
      }
    },
    x25519PublicKey: async (secret) => _publicOf(await importX(secret)),
    x25519: async (secret, publicKey) => {
      const peer = await subtle.importKey("raw", _b(publicKey), { name: "X25519" }, false, []);
      const bits = await subtle.deriveBits({ name: "X25519", public: peer }, await importX(secret), 256);
      return new Uint8Array(bits);
    },
    mlKem768Encapsulate: noble.mlKem768Encapsulate,
    aead: (aeadId, key) => {
      if (aeadId !== 0x0001) return noble.aead(aeadId, key);
      const imported = subtle.importKey("raw", _b(key), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
      return {
        seal: async (nonce, plaintext, aad) =>
          new Uint8Array(
            await subtle.encrypt(
              { name: "AES-GCM", iv: _b(nonce), additionalData: _b(aad) },
              await imported,
              _b(plaintext),
            ),
          ),
        open: async (nonce, ciphertext, aad) =>
          new Uint8Array(
            await subtle.decrypt(
              { name: "AES-GCM", iv: _b(nonce), additionalData: _b(aad) },
              await imported,
              _b(ciphertext),
            ),
          ),
      };
    },
  };
}

let _detected: Promise<ClientCrypto> | undefined;

/**
 * WebCrypto when it signs with Ed25519 and derives with X25519 here (probed once), otherwise noble. The
 * probe is a real operation: some engines list the algorithm names yet reject them (older Safari, Node 18).
 */
export function detectCrypto(): Promise<ClientCrypto> {
  _detected ??= (async () => {
    const subtle = globalThis.crypto?.subtle;
    if (!subtle || typeof globalThis.crypto.getRandomValues !== "function") return nobleCrypto();
    try {
      const candidate = webCrypto(subtle);
      const seed = new Uint8Array(32).fill(7);
      const message = new Uint8Array([1]);
      const ok = await candidate.ed25519Verify(
        await candidate.ed25519PublicKey(seed),
        await candidate.ed25519Sign(seed, message),
        message,
      );
      await candidate.x25519(seed, await candidate.x25519PublicKey(new Uint8Array(32).fill(9)));
      return ok ? candidate : nobleCrypto();
    } catch {
      return nobleCrypto();
    }
  })();
  return _detected;
}
