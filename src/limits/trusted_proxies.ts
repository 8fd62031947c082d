/**
 * Which peers may tell us the client's address. `X-Forwarded-For` is a list anyone can write; only the
 * entries appended by our own proxies mean anything. The walk is nginx's `real_ip_recursive`: start at
 * the socket peer and, while the current address is a trusted proxy, step one entry left in the header;
 * the first address that is not a trusted proxy is the client. An entry that is not an IP address stops
 * the walk at the proxy that wrote it. (Review item 5: the header was trusted from anyone.)
 */

/** Loopback only: a TLS proxy on the same machine, the default when none is configured. */
export const LOOPBACK_PROXIES = "127.0.0.0/8,::1/128";

interface _Range {
  bytes: Uint8Array;
  prefix: number;
}

/** A set of proxy addresses (IPs and CIDR ranges, IPv4 and IPv6). */
export class TrustedProxies {
  #ranges: _Range[];

  private constructor(ranges: _Range[]) {
    this.#ranges = ranges;
  }

  /** Parses `a.b.c.d`, `a.b.c.d/n`, IPv6 and IPv6/n entries, comma-separated; throws on a bad one. */
  static parse(list: string): TrustedProxies {
    const ranges = list.split(",").map((s) => s.trim()).filter(Boolean).map((entry) => {
      const range = parseCidr(entry);
      if (!range) throw new Error(`Cannot parse trusted proxy '${entry}': expected an IP address or CIDR`);
      return range;
    });
    return new TrustedProxies(ranges);
  }

  /** Whether `address` lies in one of the ranges. */
  has(address: string): boolean {
    const bytes = parseIp(address);
    if (!bytes) return false;
    return this.#ranges.some((r) => r.bytes.byteLength === bytes.byteLength && _inPrefix(bytes, r));
  }
}

/** `address/prefix` or a bare address (a single host); undefined when malformed. */
export function parseCidr(text: string): _Range | undefined {
  const [address, prefixText, extra] = text.split("/");
  if (extra !== undefined) return undefined;
  const bytes = parseIp(address);
  if (!bytes) return undefined;
  const max = bytes.byteLength * 8;
  if (prefixText === undefined) return { bytes, prefix: max };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return undefined;
  return { bytes, prefix: Number(prefixText) };
}

/**
 * An IP address as 4 or 16 bytes; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4, brackets and zone
 * ids are ignored. Undefined for anything else.
 */
export function parseIp(text: string): Uint8Array | undefined {
  const bare = text.trim().replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bare)) {
    const octets = bare.split(".").map(Number);
    return octets.every((o) => o <= 255) ? new Uint8Array(octets) : undefined;
  }
  if (!/^[0-9A-Fa-f:.]+$/.test(bare) || !bare.includes(":")) return undefined;
  const halves = bare.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  const words: number[] = [];
  const all = [...left, ...right];
  const last = all.at(-1);
  let tail: number[] = [];
  if (last?.includes(".")) {
    const v4 = parseIp(last);
    if (!v4 || v4.byteLength !== 4) return undefined;
    tail = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    if (right.length > 0) right.pop();
    else left.pop();
  }
  for (const g of [...left, ...right]) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
  }
  const present = left.length + right.length + tail.length;
  if (halves.length === 1 ? present !== 8 : present > 7) return undefined;
  words.push(...left.map((g) => parseInt(g, 16)));
  if (halves.length === 2) words.push(...Array(8 - present).fill(0));
  words.push(...right.map((g) => parseInt(g, 16)), ...tail);
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

function _inPrefix(bytes: Uint8Array, range: _Range): boolean {
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i] & mask) !== (range.bytes[i] & mask)) return false;
  }
  return true;
}
