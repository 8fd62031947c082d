/**
 * What the SDK trusts (security review items 3 and 4, issue 13): clock corrections come only from
 * authenticated data — the signed key set (capped, temporary) or the Date of an encapsulated
 * stale_request answer (capped, for one retry) — never from clear text; an older signed key set is
 * refused after a newer one. The request Date is inside the encryption, so the tests read it with the
 * gateway's own keys.
 */
import assert from "node:assert/strict";
import { GatewayClient, GatewayRequestError, KeyVerificationError } from "../src/client/mod.ts";
import { CLOCK_CORRECTION_TTL_SECONDS, MAX_CLOCK_CORRECTION_SECONDS } from "../src/client/client.ts";
import { generateIdentity, KeyRing, KEYSET_MAX_AGE_SECONDS } from "../src/crypto/mod.ts";
import { KeyPublisher } from "../src/http/mod.ts";
import {
  OHTTP_CHUNKED_REQUEST_TYPE,
  openRequest,
  readInnerRequest,
  splitRequest,
} from "../src/protocol/mod.ts";
import { startGateway } from "./helpers/gateway.ts";

/** A fetch that records the Date of every chat request and may answer the first ones itself. */
function _recording(ring: () => KeyRing, forge: (n: number) => Response | undefined) {
  const timestamps: number[] = [];
  const fetcher: typeof fetch = async (input, init) => {
    if (String(input).endsWith("/api/chat")) {
      const body = new Uint8Array(init!.body as Uint8Array<ArrayBuffer>);
      const chunked =
        (init!.headers as Record<string, string>)["content-type"] === OHTTP_CHUNKED_REQUEST_TYPE;
      const opened = await openRequest(ring(), splitRequest(body, chunked), Date.now() / 1000);
      timestamps.push(readInnerRequest(opened.plaintext).date!);
      const forged = forge(timestamps.length);
      if (forged) return forged;
    }
    return await fetch(input, init);
  };
  return { timestamps, fetcher };
}

async function _outcome(client: GatewayClient): Promise<string> {
  try {
    const events = [];
    for await (const event of client.chat({ messages: [{ role: "user", content: "hi" }] })) {
      events.push(event);
    }
    return events.at(-1)?.type ?? "none";
  } catch (error) {
    return error instanceof GatewayRequestError ? error.code : String(error);
  }
}

Deno.test("GatewayClient ignores the Date of a forged clear-text stale_request (clock tagging)", async () => {
  await using gateway = await startGateway();
  const { timestamps, fetcher } = _recording(
    () => gateway.keyRing,
    (n) =>
      n === 1
        ? Response.json({ error: { code: "stale_request", message: "forged" } }, {
          status: 400,
          headers: { date: new Date(Date.now() + 45_000).toUTCString() },
        })
        : undefined,
  );
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, fetch: fetcher });
  assert.equal(await _outcome(client), "done");
  assert.equal(await _outcome(client), "done");
  const now = Date.now() / 1000;
  assert.equal(timestamps.length, 3);
  for (const t of timestamps) assert.ok(Math.abs(t - now) < 5, `timestamp ${t} shifted from ${now}`);
});

Deno.test("GatewayClient corrects a slow clock from the signed key set, capped and only for a while", async () => {
  let skew = -100;
  await using gateway = await startGateway();
  const { timestamps, fetcher } = _recording(() => gateway.keyRing, () => undefined);
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    fetch: fetcher,
    now: () => Date.now() / 1000 + skew,
  });
  // 100 s slow: the first attempt is stale, the signed issued_at corrects the retry.
  assert.equal(await _outcome(client), "done");
  assert.ok(Math.abs(timestamps.at(-1)! - Date.now() / 1000) <= 15, "corrected to the gateway's clock");
  // The correction expires; a clock that has been fixed meanwhile is used as is.
  skew = CLOCK_CORRECTION_TTL_SECONDS + 30; // a margin for a slow machine: the check runs after the call
  const next = timestamps.length;
  await _outcome(client);
  assert.ok(timestamps[next] - Date.now() / 1000 > CLOCK_CORRECTION_TTL_SECONDS, "correction forgotten");
});

Deno.test("GatewayClient never corrects its clock by more than the cap", async () => {
  await using gateway = await startGateway();
  const { timestamps, fetcher } = _recording(() => gateway.keyRing, () => undefined);
  const skew = 1000;
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    fetch: fetcher,
    now: () => Date.now() / 1000 + skew,
    maxAttempts: 2,
    maxBackoffMs: 1,
  });
  assert.equal(await _outcome(client), "stale_request");
  const real = Date.now() / 1000;
  assert.equal(timestamps.length, 2);
  for (const t of timestamps) {
    assert.ok(Math.abs(t - real - (skew - MAX_CLOCK_CORRECTION_SECONDS)) <= 3, `${t - real} s ahead`);
  }
});

Deno.test("GatewayClient refuses an older signed key set after a newer one (key-set rollback)", async () => {
  const { identity } = await generateIdentity();
  const now = Math.floor(Date.now() / 1000);
  const ring = await KeyRing.generate(now - 600, 3600);
  const old = await new KeyPublisher(ring, identity, () => now - 300).current();
  const fresh = await new KeyPublisher(ring, identity, () => now).current();
  const served = [fresh.document, old.document];
  const client = new GatewayClient({
    baseUrl: "http://gateway.invalid",
    pin: identity.fingerprint,
    fetch: () => Promise.resolve(Response.json(served.shift())),
  });
  await client.keys();
  await assert.rejects(
    client.keys(true),
    (e) => e instanceof KeyVerificationError && e.reason === "rollback",
  );
});

Deno.test("GatewayClient refuses a signed key set older than its validity", async () => {
  const { identity } = await generateIdentity();
  const now = Math.floor(Date.now() / 1000);
  const ring = await KeyRing.generate(now - 2 * KEYSET_MAX_AGE_SECONDS, 86_400);
  const stale = await new KeyPublisher(ring, identity, () => now - KEYSET_MAX_AGE_SECONDS - 60).current();
  const client = new GatewayClient({
    baseUrl: "http://gateway.invalid",
    pin: identity.fingerprint,
    fetch: () => Promise.resolve(Response.json(stale.document)),
  });
  await assert.rejects(client.keys(), (e) => e instanceof KeyVerificationError && e.reason === "expired");
});

/** A gateway whose clock runs `ahead` seconds fast, with its key set served as signed at the real time. */
async function _fastGateway(ahead: number) {
  const { identity } = await generateIdentity();
  // Keys made at the real time, so the client can use them; only the chat handler's clock is fast.
  const keyRing = await KeyRing.generate(Math.floor(Date.now() / 1000), 3600);
  const gateway = await startGateway({}, { identity, keyRing, nowSeconds: () => Date.now() / 1000 + ahead });
  const keys = async () =>
    Response.json(
      (await new KeyPublisher(gateway.keyRing, identity, () => Date.now() / 1000).current()).document,
    );
  return { gateway, keys };
}

Deno.test("GatewayClient corrects its clock from an encapsulated stale_request's Date for one retry only", async () => {
  const { gateway, keys } = await _fastGateway(100);
  await using _ = gateway;
  const { timestamps, fetcher } = _recording(() => gateway.keyRing, () => undefined);
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    fetch: (input, init) => String(input).endsWith("/api/pubkey") ? keys() : fetcher(input, init),
  });
  assert.equal(await _outcome(client), "done");
  assert.equal(await _outcome(client), "done");
  const real = Date.now() / 1000;
  // Each call: stale at the real time, then one retry at the gateway's (authenticated) Date; not kept.
  assert.deepEqual(timestamps.map((t) => Math.round((t - real) / 10) * 10 + 0), [0, 100, 0, 100]);
});

Deno.test("GatewayClient bounds a correction from an encapsulated Date and retries a stale date once", async () => {
  const { gateway, keys } = await _fastGateway(1000);
  await using _ = gateway;
  const { timestamps, fetcher } = _recording(() => gateway.keyRing, () => undefined);
  const client = new GatewayClient({
    baseUrl: gateway.url,
    pin: gateway.fingerprint,
    fetch: (input, init) => String(input).endsWith("/api/pubkey") ? keys() : fetcher(input, init),
  });
  assert.equal(await _outcome(client), "stale_request");
  const real = Date.now() / 1000;
  assert.deepEqual(
    timestamps.map((t) => Math.round((t - real) / 10) * 10 + 0),
    [0, MAX_CLOCK_CORRECTION_SECONDS],
  );
});
