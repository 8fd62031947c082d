/**
 * X-Wing decapsulation for the gateway (draft-connolly-cfrg-xwing-kem §5.4), the same function as
 * `@hpke/hybridkem-x-wing`'s, with three costs taken out of every request:
 *
 *   expand(sk)  = SHAKE256(sk, 96) → (sk_M, pk_M) = ML-KEM-768.KeyGen_internal(d ‖ z), sk_X, pk_X = X25519(sk_X, 9)
 *   Decaps(sk, ct) = SHA3-256(ML-KEM-768.Decaps(sk_M, ct_M) ‖ X25519(sk_X, ct_X) ‖ ct_X ‖ pk_X ‖ XWingLabel)
 *   ML-KEM-768.Decaps(dk, c): m' = K-PKE.Decrypt(dk_PKE, c); (K', r') = G(m' ‖ h);
 *                             K' if c = K-PKE.Encrypt(ek, m', r') (uses Â = SampleNTT(XOF(ρ, j, i))), else J(z ‖ c)
 *
 * 1. The library expands the 32-byte seed on every decapsulation (an ML-KEM key generation and an X25519
 *    base-point multiplication). Here each key's expansion is computed once and kept beside the key for
 *    the key's lifetime (it is as secret as the seed it comes from, and is dropped with the key: the cache
 *    is keyed weakly by the key's own buffer, and its bytes are checked on every use).
 * 2. The library computes X25519 in pure TypeScript (BigInt arithmetic, not constant-time). Here the
 *    decapsulation's X25519 is the runtime's native one (node:crypto: constant-time, synchronous), with sk_X
 *    imported once as a key object. Both reject an all-zero shared secret (RFC 7748 §6.1). Until issue 15's
 *    fourth session this was WebCrypto's, whose asynchronous deriveBits is a hop to the runtime's thread
 *    pool: ~90 µs per import + derive against ~50 here, and milliseconds while llama-server kept both cores
 *    busy (docs/benchmarks.md).
 * 3. ML-KEM's implicit-rejection check re-encrypts, and `mlkem` (2.7.0, pinned by deno.lock) samples the
 *    matrix Â from ρ again each time: 9 SHAKE128 squeezes with rejection sampling, about a third of its
 *    decapsulation. Â is public (a function of ρ, part of pk_M) and fixed per key, so here it is sampled
 *    once per expanded key and copied into the library's matrix slot on each decapsulation; everything
 *    that depends on the secret or the ciphertext still runs in the library, unchanged (the same
 *    constant-time properties: the comparison of c with the re-encryption and the choice of K' or J(z ‖ c)
 *    are the library's). The hook is the library's one method `_sampleMatrix(seed, transposed)` on this
 *    instance's own ML-KEM object, taken only for ρ inside a cached sk_M, transposed as Encrypt uses it,
 *    and the cached ρ bytes are compared on every use; if the method or slot is not there (another
 *    version), decapsulation stays the library's.
 *    `@noble/post-quantum` 0.7.1 was measured for the same step and is slower here. One core, µs of CPU
 *    per ML-KEM-768 decapsulation with the 2,400-byte dk, two runs (all four give the same shared secrets,
 *    tampered ciphertexts included): `mlkem` 163–172 (~6,000/s), `mlkem` with Â kept 111–114 (~8,900/s),
 *    noble `ml_kem768.decapsulate` 374–398 (~2,600/s), noble `prepare(ek).decapsulate` (its own Â cache,
 *    marked experimental) 276–285 (~3,600/s).
 *
 * Measured on one core (bench/throughput_bench.ts, docs/benchmarks.md): decapsulation + HPKE key schedule
 * 829 µs before 1. and 2., 318–333 before 3., 263–266 after it; `openRequest()` 356–361 → 287–305 µs
 * (2,770–2,810 → 3,280–3,480 opens/s). What remained of a decapsulation then (~195 µs): ML-KEM ~115,
 * WebCrypto X25519 ~68, the combiner and promises the rest. Encapsulation (the client's side) is the library's,
 * unchanged.
 */
import { Buffer } from "node:buffer";
import * as nodeCrypto from "node:crypto";
import { XWing } from "@hpke/hybridkem-x-wing";
import { constantTimeEqual, fromHex } from "./bytes.ts";

/** What the library's X-Wing keeps private but this subclass reuses (pinned version, see deno.json). */
interface _Internals {
  _expandDecapsulationKey(sk: Uint8Array): Promise<[Uint8Array, Uint8Array, Uint8Array, Uint8Array]>;
  _m: _MlKemInternals;
}

/** What `mlkem` 2.7.0's ML-KEM keeps private but this subclass reuses: Â's sampler and its k × k slot. */
interface _MlKemInternals {
  _sampleMatrix?: (seed: Uint8Array, transposed: boolean) => Int16Array[][];
  _matrixA?: Int16Array[][];
}

/** ML-KEM-768: k = 3, polynomials of n = 256 coefficients. */
const _K = 3;
const _N = 256;

const _isMatrixSlot = (a: unknown): a is Int16Array[][] =>
  Array.isArray(a) && a.length === _K &&
  a.every((row) =>
    Array.isArray(row) && row.length === _K && row.every((p) => p instanceof Int16Array && p.length === _N)
  );

/** RFC 8410 PKCS#8 prefix of a 32-byte X25519 private key: SEQUENCE { version 0, id-X25519, OCTET STRING }. */
const _PKCS8_X25519_PREFIX = fromHex("302e020100300506032b656e04220420");
/** RFC 8410 SubjectPublicKeyInfo prefix of a 32-byte X25519 public key: SEQUENCE { id-X25519, BIT STRING }. */
const _SPKI_X25519_PREFIX = fromHex("302a300506032b656e032100");
const _ZEROS = new Uint8Array(32);

/** DER of a raw key (node:crypto takes a Buffer; Buffer.alloc never hands out the shared pool). */
function _withPrefix(prefix: Uint8Array, key: Uint8Array): Buffer {
  const out = Buffer.alloc(prefix.byteLength + key.byteLength);
  out.set(prefix);
  out.set(key, prefix.byteLength);
  return out;
}

interface _Expansion {
  seed: Uint8Array;
  expanded: Promise<[Uint8Array, Uint8Array, Uint8Array, Uint8Array]>;
}

/** X-Wing whose decapsulation keeps each private key's expansion and uses the runtime's native X25519. */
export class XWingRecipient extends XWing {
  constructor() {
    super();
    const internals = this as unknown as _Internals;
    const expand = internals._expandDecapsulationKey.bind(this);
    const expansions = new WeakMap<ArrayBufferLike, _Expansion>();
    // sk_X of each cached expansion: only these take the native path below.
    const ours = new WeakSet<Uint8Array>();
    // Buffers of the sk_M of cached expansions (each its own buffer): only their ρ has Â kept (3. above).
    const oursM = new WeakSet<ArrayBufferLike>();
    internals._expandDecapsulationKey = (sk) => {
      let found = expansions.get(sk.buffer);
      // The buffer is the key object's own; a key wiped or rewritten in place is expanded anew.
      if (!found || !constantTimeEqual(found.seed, sk)) {
        const expanded = expand(sk).then((parts) => {
          ours.add(parts[1]);
          oursM.add(parts[0].buffer);
          return parts;
        });
        found = { seed: sk.slice(), expanded };
        found.expanded.catch(() => expansions.delete(sk.buffer));
        expansions.set(sk.buffer, found);
      }
      return found.expanded;
    };
    // sk_X of a cached expansion → its native key; any other scalar (the expansion's own base-point
    // multiplication, an encapsulation's ephemeral key) goes to the library's X25519.
    const native = new WeakMap<Uint8Array, nodeCrypto.KeyObject>();
    const library = this._x25519;
    const derive = library.derive.bind(library);
    library.derive = async (sk: Uint8Array, pk: Uint8Array) => {
      if (!ours.has(sk)) return await derive(sk, pk);
      let key = native.get(sk);
      if (!key) {
        const pkcs8 = _withPrefix(_PKCS8_X25519_PREFIX, sk);
        try {
          key = nodeCrypto.createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
        } finally {
          pkcs8.fill(0);
        }
        native.set(sk, key);
      }
      const peer = nodeCrypto.createPublicKey({
        key: _withPrefix(_SPKI_X25519_PREFIX, pk),
        format: "der",
        type: "spki",
      });
      // The library's combiner takes a Uint8Array. The runtime refuses a low-order point (all-zero result);
      // checked here too, so that the rule does not rest on the runtime's version (RFC 7748 §6.1).
      const shared = new Uint8Array(nodeCrypto.diffieHellman({ privateKey: key, publicKey: peer }));
      if (constantTimeEqual(shared, _ZEROS)) {
        throw new Error("Cannot decapsulate: X25519 result is all zeros");
      }
      return shared;
    };
    // Â of each cached sk_M, sampled once: the decapsulation's re-encryption passes ρ as a view of sk_M
    // (dk = dk_PKE ‖ ek ‖ H(ek) ‖ z, ek = t̂ ‖ ρ). Anything else (key generation's Â, an encapsulation to
    // some public key) is sampled by the library as before.
    const mlkem = internals._m;
    const slot = mlkem._matrixA;
    if (typeof mlkem._sampleMatrix === "function" && _isMatrixSlot(slot)) {
      const sample = mlkem._sampleMatrix.bind(mlkem);
      const matrices = new WeakMap<ArrayBufferLike, { rho: Uint8Array; a: Int16Array[][] }>();
      mlkem._sampleMatrix = (seed, transposed) => {
        if (!transposed || !oursM.has(seed.buffer)) return sample(seed, transposed);
        const kept = matrices.get(seed.buffer);
        if (!kept || !constantTimeEqual(kept.rho, seed)) {
          const a = sample(seed, transposed);
          matrices.set(seed.buffer, { rho: seed.slice(), a: a.map((row) => row.map((p) => p.slice())) });
          return a;
        }
        // Copied, not shared: the library wipes its slot after each operation.
        for (let i = 0; i < _K; i++) for (let j = 0; j < _K; j++) slot[i][j].set(kept.a[i][j]);
        return slot;
      };
    }
  }
}
