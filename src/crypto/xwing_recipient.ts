/**
 * X-Wing decapsulation for the gateway (draft-connolly-cfrg-xwing-kem §5.4), the same function as
 * `@hpke/hybridkem-x-wing`'s, with two costs taken out of every request:
 *
 *   expand(sk)  = SHAKE256(sk, 96) → (sk_M, pk_M) = ML-KEM-768.KeyGen_internal(d ‖ z), sk_X, pk_X = X25519(sk_X, 9)
 *   Decaps(sk, ct) = SHA3-256(ML-KEM-768.Decaps(sk_M, ct_M) ‖ X25519(sk_X, ct_X) ‖ ct_X ‖ pk_X ‖ XWingLabel)
 *
 * 1. The library expands the 32-byte seed on every decapsulation (an ML-KEM key generation and an X25519
 *    base-point multiplication). Here each key's expansion is computed once and kept beside the key for
 *    the key's lifetime (it is as secret as the seed it comes from, and is dropped with the key: the cache
 *    is keyed weakly by the key's own buffer, and its bytes are checked on every use).
 * 2. The library computes X25519 in pure TypeScript (BigInt arithmetic, not constant-time). Here the
 *    decapsulation's X25519 runs in WebCrypto (native, constant-time), with sk_X imported once as a
 *    non-extractable key. Both reject an all-zero shared secret (RFC 7748 §6.1).
 *
 * Measured on one core (bench/throughput_bench.ts): decapsulation + HPKE key schedule 829 → see
 * docs/benchmarks.md. Encapsulation (the client's side) is the library's, unchanged.
 */
import { XWing } from "@hpke/hybridkem-x-wing";
import { constantTimeEqual } from "./bytes.ts";

/** What the library's X-Wing keeps private but this subclass reuses (pinned version, see deno.json). */
interface _Internals {
  _expandDecapsulationKey(sk: Uint8Array): Promise<[Uint8Array, Uint8Array, Uint8Array, Uint8Array]>;
}

/** RFC 8410 PKCS#8 prefix of a 32-byte X25519 private key. */
const _PKCS8_X25519_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
]);
const _X25519 = { name: "X25519" };

interface _Expansion {
  seed: Uint8Array;
  expanded: Promise<[Uint8Array, Uint8Array, Uint8Array, Uint8Array]>;
}

/** X-Wing whose decapsulation keeps each private key's expansion and uses WebCrypto's X25519. */
export class XWingRecipient extends XWing {
  constructor() {
    super();
    const internals = this as unknown as _Internals;
    const expand = internals._expandDecapsulationKey.bind(this);
    const expansions = new WeakMap<ArrayBufferLike, _Expansion>();
    // sk_X of each cached expansion: only these take the WebCrypto path below.
    const ours = new WeakSet<Uint8Array>();
    internals._expandDecapsulationKey = (sk) => {
      let found = expansions.get(sk.buffer);
      // The buffer is the key object's own; a key wiped or rewritten in place is expanded anew.
      if (!found || !constantTimeEqual(found.seed, sk)) {
        const expanded = expand(sk).then((parts) => {
          ours.add(parts[1]);
          return parts;
        });
        found = { seed: sk.slice(), expanded };
        found.expanded.catch(() => expansions.delete(sk.buffer));
        expansions.set(sk.buffer, found);
      }
      return found.expanded;
    };
    // sk_X of a cached expansion → its WebCrypto key; any other scalar (the expansion's own base-point
    // multiplication, an encapsulation's ephemeral key) goes to the library's X25519.
    const native = new WeakMap<Uint8Array, Promise<CryptoKey>>();
    const library = this._x25519;
    const derive = library.derive.bind(library);
    library.derive = async (sk: Uint8Array, pk: Uint8Array) => {
      if (!ours.has(sk)) return await derive(sk, pk);
      let key = native.get(sk);
      if (!key) {
        const pkcs8 = new Uint8Array(_PKCS8_X25519_PREFIX.byteLength + 32);
        pkcs8.set(_PKCS8_X25519_PREFIX);
        pkcs8.set(sk, _PKCS8_X25519_PREFIX.byteLength);
        key = crypto.subtle.importKey("pkcs8", pkcs8, _X25519, false, ["deriveBits"]);
        key.finally(() => pkcs8.fill(0)).catch(() => {});
        native.set(sk, key);
      }
      const peer = await crypto.subtle.importKey("raw", new Uint8Array(pk), _X25519, true, []);
      // The library's combiner takes a Uint8Array.
      return new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: peer }, await key, 256));
    };
  }
}
