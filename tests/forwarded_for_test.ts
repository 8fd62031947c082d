/** Spoofed X-Forwarded-For against a real gateway (security review item 5). */
import assert from "node:assert/strict";
import { OHTTP_CHUNKED_REQUEST_TYPE } from "../src/protocol/mod.ts";
import { startGateway } from "./helpers/gateway.ts";

async function _statuses(url: string, spoofed: string[]): Promise<number[]> {
  const statuses: number[] = [];
  for (const address of spoofed) {
    const response = await fetch(`${url}/api/chat`, {
      method: "POST",
      headers: { "content-type": OHTTP_CHUNKED_REQUEST_TYPE, "x-forwarded-for": address },
      body: new Uint8Array(8),
    });
    await response.body?.cancel();
    statuses.push(response.status);
  }
  return statuses;
}

const SPOOFED = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"];

Deno.test("A client that is not a trusted proxy cannot escape its network limit with spoofed X-Forwarded-For", async () => {
  // The test client connects from loopback; only 192.0.2.10 is a trusted proxy here.
  await using gateway = await startGateway({
    PG_BEHIND_TLS_PROXY: "true",
    PG_TRUSTED_PROXIES: "192.0.2.10",
    PG_IP_BURST: "1",
    PG_IP_RATE_PER_MINUTE: "1",
  });
  const statuses = await _statuses(gateway.url, SPOOFED);
  // GCRA with burst 1 admits the first two; every later one is refused however it names itself.
  assert.deepEqual(statuses.map((s) => s === 429), [false, false, true, true, true], `${statuses}`);
});

Deno.test("The loopback proxy's X-Forwarded-For still separates its clients' networks", async () => {
  await using gateway = await startGateway({
    PG_BEHIND_TLS_PROXY: "true",
    PG_IP_BURST: "1",
    PG_IP_RATE_PER_MINUTE: "1",
  });
  const statuses = await _statuses(gateway.url, SPOOFED);
  assert.ok(statuses.every((s) => s !== 429), `each network has its own budget: ${statuses}`);
});
