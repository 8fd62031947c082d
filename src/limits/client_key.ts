/**
 * Who is asking, as keyed hashes only. The network key is the client's IPv4 address or its IPv6 /64 (one
 * subscriber usually holds a whole /64), taken from the connection, or from X-Forwarded-For when the
 * connection comes from one of our own proxies (trusted_proxies.ts). Keys are HMAC-SHA-256 under a secret derived from the
 * identity key, so every gateway sharing an identity derives the same keys and none of them, nor Redis,
 * ever stores an address or a device key in clear.
 */
import { hmacSha256, toBase64Url, utf8 } from "../crypto/mod.ts";
import { parseIp, type TrustedProxies } from "./trusted_proxies.ts";

/**
 * HMAC-keyed hashing of identifiers. Synchronous (crypto/sha256.ts), not WebCrypto: every request hashes
 * its network first, and a WebCrypto HMAC is a hop to the runtime's thread pool that took 1–3 ms instead of
 * ~0.05 while llama-server kept both cores busy (issue 15, fourth session; docs/benchmarks.md).
 */
export class KeyHasher {
  #key: Uint8Array<ArrayBuffer>;

  private constructor(key: Uint8Array<ArrayBuffer>) {
    this.#key = key;
  }

  /** Derives the hashing key from 32+ bytes of secret material (copied; the caller wipes its own). */
  static fromSecret(secret: Uint8Array<ArrayBuffer>): KeyHasher {
    // A copy in every case: a Node Buffer's slice() would be a view of the caller's bytes.
    return new KeyHasher(new Uint8Array(secret));
  }

  /** A short, stable, keyed hash of `value` in the namespace `kind`. */
  hash(kind: string, value: string): string {
    return toBase64Url(hmacSha256(this.#key, utf8(`${kind}\0${value}`)).subarray(0, 16));
  }
}

/** The network a request comes from: IPv4 address, or IPv6 /64 prefix, as text. */
export function networkOf(address: string): string {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1];
  if (!bare.includes(":")) return bare;
  const [head, tail = ""] = bare.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = bare.includes("::")
    ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return groups.slice(0, 4).map((g) => parseInt(g || "0", 16).toString(16)).join(":") + "::/64";
}

/**
 * The client's address: the socket peer, unless the peer is a trusted proxy; then the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy. Without `trusted`, the header is ignored.
 */
export function clientAddress(
  peer: string,
  forwardedFor: string | null,
  trusted: TrustedProxies | undefined,
): string {
  if (!trusted || !forwardedFor) return peer;
  const hops = forwardedFor.split(",").map((s) => s.trim());
  let current = peer;
  while (trusted.has(current) && hops.length > 0) {
    const next = hops.pop()!;
    if (!parseIp(next)) break;
    current = next;
  }
  return current;
}
