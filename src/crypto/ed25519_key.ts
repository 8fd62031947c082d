/**
 * Ed25519 public keys that must never be accepted. RFC 8032 §5.1.3 decodes `y` from the low 255 bits and
 * takes the sign of `x` from the top bit; WebCrypto's verify accepts any point that decodes, including:
 *
 *   - the eight points of small order (orders 1, 2, 4, 8): with A of small order, [k]A ranges over at
 *     most eight values, so one signature (R = A, S = 0 for the identity) verifies every message;
 *   - non-canonical encodings, `y ≥ p` (p = 2^255 − 19), which give a second spelling of a key and so a
 *     second identity for the same device.
 *
 * The list below is libsodium's `ge25519_has_small_order` blacklist (the small-order `y` values, compared
 * with the sign bit cleared so both signs of `x` are caught) and the canonical check is
 * `sodium's ge25519_is_canonical`: the 255-bit `y` must be below p.
 */

/** The small-order `y` encodings (sign bit cleared), libsodium crypto_core/ed25519/ref10/ed25519_ref10.c. */
const _SMALL_ORDER_Y: readonly string[] = [
  // 0 (order 4)
  "0000000000000000000000000000000000000000000000000000000000000000",
  // 1 (order 1, the identity)
  "0100000000000000000000000000000000000000000000000000000000000000",
  // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  // p − 1 (order 2)
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  // p (= 0, non-canonical; order 4)
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  // p + 1 (= 1, non-canonical; order 1)
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

/** Length of an Ed25519 public key (RFC 8032 §5.1.5). */
export const ED25519_PUBLIC_KEY_LENGTH = 32;

/**
 * Whether `key` is a 32-byte, canonically encoded Ed25519 public key that is not of small order. Public
 * keys are not secret, so the comparisons need not be constant-time.
 */
export function isAcceptableEd25519PublicKey(key: Uint8Array): boolean {
  if (key.byteLength !== ED25519_PUBLIC_KEY_LENGTH) return false;
  if (!_isCanonicalY(key)) return false;
  const masked = Array.from(key, (b, i) => (i === 31 ? b & 0x7f : b).toString(16).padStart(2, "0")).join("");
  return !_SMALL_ORDER_Y.includes(masked);
}

/** `y` (little-endian, top bit masked) < p = 2^255 − 19, i.e. not in [p, 2^255). */
function _isCanonicalY(key: Uint8Array): boolean {
  if ((key[31] & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (key[i] !== 0xff) return true;
  return key[0] < 0xed;
}
