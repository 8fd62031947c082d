/** Client address derivation and trusted proxies (security review item 5); no permissions. */
import assert from "node:assert/strict";
import { clientAddress, LOOPBACK_PROXIES, networkOf, parseIp, TrustedProxies } from "../../src/limits/mod.ts";

const none = { permissions: "none" as const };
const loopback = TrustedProxies.parse(LOOPBACK_PROXIES);

Deno.test({
  ...none,
  name: "clientAddress() ignores X-Forwarded-For from a peer that is not a trusted proxy (spoofed XFF)",
  fn() {
    assert.equal(clientAddress("203.0.113.9", "198.51.100.1", loopback), "203.0.113.9");
    assert.equal(clientAddress("203.0.113.9", "198.51.100.1", undefined), "203.0.113.9");
  },
});

Deno.test({
  ...none,
  name: "clientAddress() takes the last entry when the peer is the loopback proxy",
  fn() {
    assert.equal(clientAddress("127.0.0.1", "10.1.1.1, 198.51.100.7", loopback), "198.51.100.7");
    assert.equal(clientAddress("::1", "2001:db8::5", loopback), "2001:db8::5");
    assert.equal(clientAddress("127.0.0.1", null, loopback), "127.0.0.1");
  },
});

Deno.test({
  ...none,
  name: "clientAddress() skips a chain of trusted proxies and stops at the first untrusted hop",
  fn() {
    const trusted = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1");
    // client-written junk, the real client, then two of our proxies.
    assert.equal(
      clientAddress("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.0.0.2", trusted),
      "198.51.100.7",
    );
  },
});

Deno.test({
  ...none,
  name: "clientAddress() stops at the proxy that forwarded a malformed entry",
  fn() {
    assert.equal(clientAddress("127.0.0.1", "not-an-ip", loopback), "127.0.0.1");
    assert.equal(clientAddress("127.0.0.1", "198.51.100.7, ", loopback), "127.0.0.1");
  },
});

Deno.test({
  ...none,
  name: "TrustedProxies.has() matches CIDR ranges, mapped IPv4 and bracketed IPv6",
  fn() {
    const trusted = TrustedProxies.parse("192.0.2.0/25, 2001:db8:1::/48");
    assert.equal(trusted.has("192.0.2.127"), true);
    assert.equal(trusted.has("192.0.2.128"), false);
    assert.equal(trusted.has("::ffff:192.0.2.1"), true);
    assert.equal(trusted.has("[2001:db8:1:ffff::1]"), true);
    assert.equal(trusted.has("2001:db8:2::1"), false);
    assert.equal(trusted.has("garbage"), false);
    assert.throws(() => TrustedProxies.parse("10.0.0.0/33"), /Cannot parse trusted proxy '10\.0\.0\.0\/33'/);
  },
});

Deno.test({
  ...none,
  name: "parseIp() reads IPv4, IPv6 with :: and embedded IPv4, and refuses malformed text",
  fn() {
    assert.deepEqual([...parseIp("10.0.0.1")!], [10, 0, 0, 1]);
    assert.deepEqual([...parseIp("::1")!], [...Array(15).fill(0), 1]);
    assert.deepEqual([...parseIp("::ffff:1.2.3.4")!], [1, 2, 3, 4]);
    assert.equal(parseIp("64:ff9b::1.2.3.4")?.byteLength, 16);
    for (const bad of ["256.0.0.1", "1.2.3", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", ":", "a.b.c.d"]) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  },
});

Deno.test({
  ...none,
  name: "networkOf() keys IPv4 by address and IPv6 by its /64",
  fn() {
    assert.equal(networkOf("198.51.100.7"), "198.51.100.7");
    assert.equal(networkOf("::ffff:198.51.100.7"), "198.51.100.7");
    assert.equal(networkOf("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert.equal(networkOf("[2001:db8::1]"), "2001:db8:0:0::/64");
  },
});
