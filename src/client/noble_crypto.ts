/**
 * The pure-JS {@link ClientCrypto} on the audited noble libraries (@noble/curves, @noble/hashes,
 * @noble/ciphers, @noble/post-quantum), for engines without WebCrypto such as React Native's Hermes. It
 * needs BigInt (Hermes has it) and a random source: `crypto.getRandomValues` (React Native: the
 * `expo-crypto` or `react-native-get-random-values` polyfill) unless `randomBytes` is passed in.
 */
import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { sha3_256 } from "@noble/hashes/sha3.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { isAcceptableEd25519PublicKey } from "../crypto/ed25519_key.ts";
import type { Aead, ClientCrypto } from "./platform_crypto.ts";

function _b(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(data);
}

/** What WebCrypto has nowhere: ChaCha20-Poly1305, AES-GCM when asked, ML-KEM-768, SHA3-256. */
export function nobleExtras(): Pick<ClientCrypto, "aead" | "mlKem768Encapsulate" | "sha3_256"> {
  return {
    sha3_256: (data) => _b(sha3_256(data)),
    mlKem768Encapsulate: (publicKey, m) => ml_kem768.encapsulate(publicKey, m),
    aead: (aeadId, key): Aead => {
      const make = aeadId === 0x0003
        ? (nonce: Uint8Array, aad: Uint8Array) => chacha20poly1305(key, nonce, aad)
        : aeadId === 0x0001
        ? (nonce: Uint8Array, aad: Uint8Array) => gcm(key, nonce, aad)
        : undefined;
      if (!make) throw new RangeError("Unsupported AEAD");
      return {
        seal: (nonce, plaintext, aad) => Promise.resolve(_b(make(nonce, aad).encrypt(plaintext))),
        open: (nonce, ciphertext, aad) => {
          try {
            return Promise.resolve(_b(make(nonce, aad).decrypt(ciphertext)));
          } catch (error) {
            return Promise.reject(error);
          }
        },
      };
    },
  };
}

/** All primitives in pure JS. `randomBytes` defaults to `crypto.getRandomValues`. */
export function nobleCrypto(randomBytes?: (length: number) => Uint8Array<ArrayBuffer>): ClientCrypto {
  const random = randomBytes ?? ((length: number) => {
    if (typeof globalThis.crypto?.getRandomValues !== "function") {
      throw new Error("Install a crypto.getRandomValues polyfill or pass randomBytes to nobleCrypto()");
    }
    return globalThis.crypto.getRandomValues(new Uint8Array(length));
  });
  return {
    name: "noble",
    ...nobleExtras(),
    randomBytes: random,
    sha256: (data) => Promise.resolve(_b(sha256(data))),
    hmacSha256: (key, data) => Promise.resolve(_b(hmac(sha256, key, data))),
    ed25519PublicKey: (seed) => Promise.resolve(_b(ed25519.getPublicKey(seed))),
    ed25519Sign: (seed, message) => Promise.resolve(_b(ed25519.sign(message, seed))),
    ed25519Verify: (publicKey, signature, message) => {
      if (!isAcceptableEd25519PublicKey(publicKey)) return Promise.resolve(false);
      try {
        // zip215: false is RFC 8032's strict verification, as WebCrypto does.
        return Promise.resolve(ed25519.verify(signature, message, publicKey, { zip215: false }));
      } catch {
        return Promise.resolve(false);
      }
    },
    x25519PublicKey: (secret) => Promise.resolve(_b(x25519.getPublicKey(secret))),
    x25519: (secret, publicKey) => Promise.resolve(_b(x25519.getSharedSecret(secret, publicKey))),
  };
}
