/**
 * Who is asking, as keyed hashes only. The network key is the client's IPv4 address or its IPv6 /64 (one
 * subscriber usually holds a whole /64), taken from the connection, or from X-Forwarded-For when the
 * connection comes from one of our own proxies (trusted_proxies.ts). Keys are HMAC-SHA-256 under a secret derived from the
 * identity key, so every gateway sharing an identity derives the same keys and none of them, nor Redis,
 * ever stores an address or a device key in clear.
 */
import { toBase64Url, utf8 } from "../crypto/mod.ts";
import { parseIp, type TrustedProxies } from "./trusted_proxies.ts";

/** HMAC-keyed hashing of identifiers. */
export class KeyHasher {
  #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** Derives the hashing key from 32+ bytes of secret material (wiped by the caller). */
  static async fromSecret(secret: Uint8Array<ArrayBuffer>): Promise<KeyHasher> {
    const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    return new KeyHasher(key);
  }

  /** A short, stable, keyed hash of `value` in the namespace `kind`. */
  async hash(kind: string, value: string): Promise<string> {
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", this.#key, utf8(`${kind}\0${value}`)));
    return toBase64Url(mac.subarray(0, 16));
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
