/**
 * The edge hands each request to the application in process (src/http/listener.ts, connection_guard.ts,
 * response_writer.ts): what a client that leaves, an application that fails, and an HTTP/1.0 client see,
 * over real loopback TCP connections.
 */
import assert from "node:assert/strict";
import { type ClientConnection, listen } from "../src/http/mod.ts";
import { createLogger } from "../src/observability/mod.ts";
import { GatewayClient } from "../src/client/mod.ts";
import { SINGLE_SOURCE_LIMITS } from "../scripts/lib/bench_limits.ts";
import { llamaServerBin, privateTempDir } from "./helpers/gateway.ts";
import { spawnGateway } from "./helpers/gateway_process.ts";
import { waitFor } from "./helpers/process.ts";

const LIMITS = {
  headTimeoutMs: 5_000,
  maxHeadBytes: 16 * 1024,
  bodyTimeoutMs: 5_000,
  bodyMinBytesPerSecond: 1,
  // Long on purpose: what is measured below must not come from the stall deadline.
  stallTimeoutMs: 60_000,
  maxBodyBytes: 1024,
  responseStartMs: 60_000,
  maxConnections: 100,
  maxConnectionsPerNetwork: 100,
  maxBodyBytesInFlight: 1 << 20,
};

async function withEdge(
  handler: (request: Request, connection: ClientConnection) => Response | Promise<Response>,
  fn: (port: number) => Promise<void>,
) {
  const listener = await listen(
    { hostname: "127.0.0.1", port: 0, edge: LIMITS },
    handler,
    createLogger("error", () => {}),
  );
  try {
    await fn(Number(new URL(listener.url).port));
  } finally {
    await listener.shutdown(100);
  }
}

async function exchange(port: number, head: string, leaveAfterMs?: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head));
  if (leaveAfterMs !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, leaveAfterMs));
    conn.close();
    return "";
  }
  const parts: Uint8Array[] = [];
  const buffer = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) break;
    parts.push(buffer.slice(0, n));
  }
  conn.close();
  return new TextDecoder().decode(Uint8Array.from(parts.flatMap((p) => [...p])));
}

const waitUntil = async (check: () => boolean, ms: number) => {
  const until = performance.now() + ms;
  while (!check() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  return check();
};

Deno.test("edge: a client that leaves a quiet stream cancels the application's stream at once", async () => {
  let cancelledAt = 0;
  const handler = () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start: (c) => c.enqueue(new Uint8Array([1])),
        // Then nothing: a model thinking, no token to write that would fail.
        cancel: () => void (cancelledAt = performance.now()),
      }),
      { headers: { "content-type": "message/ohttp-chunked-res" } },
    );
  await withEdge(handler, async (port) => {
    await exchange(port, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", 200);
    const leftAt = performance.now();
    assert.ok(await waitUntil(() => cancelledAt > 0, 2_000), "the stream was never cancelled");
    assert.ok(
      cancelledAt - leftAt < 500,
      `cancelled ${Math.round(cancelledAt - leftAt)} ms after the client left`,
    );
  });
});

Deno.test("edge: a client that leaves before the answer starts aborts its connection signal, and the late answer is cancelled", async () => {
  let closedSeen = false;
  let lateCancelled = false;
  const handler = async (_request: Request, connection: ClientConnection) => {
    await new Promise<void>((resolve) => connection.closed.addEventListener("abort", () => resolve()));
    closedSeen = true;
    return new Response(
      new ReadableStream<Uint8Array>({ cancel: () => void (lateCancelled = true) }),
      { headers: { "content-type": "message/ohttp-chunked-res" } },
    );
  };
  await withEdge(handler, async (port) => {
    await exchange(port, "GET /q HTTP/1.1\r\nHost: x\r\n\r\n", 100);
    assert.ok(await waitUntil(() => closedSeen && lateCancelled, 2_000), `${closedSeen} ${lateCancelled}`);
  });
});

Deno.test("edge: an application that throws answers 500 internal_error without detail", async () => {
  await withEdge(() => {
    throw new Error("secret detail");
  }, async (port) => {
    const answer = await exchange(port, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(answer, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
    assert.match(answer, /"code":"internal_error"/);
    assert.doesNotMatch(answer, /secret/);
  });
});

Deno.test("edge: peer and body reach the application; HTTP/1.0 gets a stream whole with its length, 1.1 chunked", async () => {
  const seen: string[] = [];
  const handler = async (request: Request, connection: ClientConnection) => {
    seen.push(
      `${connection.peer} ${request.method} ${new URL(request.url).pathname} ${await request.text()}`,
    );
    return new Response(ReadableStream.from([new TextEncoder().encode("hello")]), {
      headers: { "content-type": "message/ohttp-chunked-res" },
    });
  };
  await withEdge(handler, async (port) => {
    const old = await exchange(port, "POST /a HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi");
    assert.doesNotMatch(old, /transfer-encoding/);
    assert.match(old, /content-length: 5\r\n/);
    assert.ok(old.endsWith("\r\n\r\nhello"), old);
    const current = await exchange(port, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    assert.match(current, /transfer-encoding: chunked\r\n/);
    assert.ok(current.endsWith("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), current);
    assert.deepEqual(seen, ["127.0.0.1 POST /a hi", "127.0.0.1 POST /b abc"]);
  });
});

Deno.test("edge: 600 clients leaving right after their request: every answer stream is cancelled, every signal fires", async () => {
  // Review of issue 15's edge, finding 1: a client leaving while the answer's head was written left the
  // stream unread and uncancelled (30 of 600 in the reviewer's run).
  let dispatched = 0;
  let cancelled = 0;
  let signalled = 0;
  const handler = (_request: Request, connection: ClientConnection) => {
    dispatched++;
    connection.closed.addEventListener("abort", () => signalled++);
    return new Response(
      new ReadableStream<Uint8Array>({
        pull: () => new Promise(() => {}),
        cancel: () => void cancelled++,
      }, { highWaterMark: 0 }),
      { headers: { "content-type": "message/ohttp-chunked-res" } },
    );
  };
  await withEdge(handler, async (port) => {
    for (let i = 0; i < 600; i++) await exchange(port, `GET /idle?i=${i} HTTP/1.1\r\n\r\n`, 0);
    assert.ok(
      await waitUntil(() => dispatched === 600 && cancelled === 600 && signalled === 600, 5_000),
      `dispatched ${dispatched}, cancelled ${cancelled}, signalled ${signalled}`,
    );
  });
});

Deno.test("edge: clients leaving during a whole answer are not counted as stalled; HEAD in any case gets no body", async () => {
  const outcomes: string[] = [];
  const handler = (request: Request) =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(c) {
          await new Promise((resolve) => setTimeout(resolve, 300));
          try {
            c.enqueue(new TextEncoder().encode(`ok:${new URL(request.url).pathname}`));
            c.close();
          } catch { /* cancelled meanwhile */ }
        },
      }),
      { headers: { "content-type": "text/plain" } },
    );
  const listener = await listen(
    {
      hostname: "127.0.0.1",
      port: 0,
      edge: { ...LIMITS, stallTimeoutMs: 500 },
      onOutcome: (o) => outcomes.push(o),
    },
    handler,
    createLogger("error", () => {}),
  );
  try {
    const port = Number(new URL(listener.url).port);
    for (let i = 0; i < 5; i++) await exchange(port, "GET / HTTP/1.1\r\n\r\n", 100);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.deepEqual(outcomes, []);
    const head = await exchange(port, "head /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(head.endsWith("\r\n\r\n"), head);
  } finally {
    await listener.shutdown(100);
  }
});

Deno.test("edge: HTTP/1.0's Expect: 100-continue is ignored (RFC 9110 §10.1.1)", async () => {
  await withEdge(async (request) => new Response(await request.text()), async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await conn.write(new TextEncoder().encode("hi"));
    const buffer = new Uint8Array(4096);
    let text = "";
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    conn.close();
    assert.doesNotMatch(text, /100 Continue/);
    assert.ok(text.endsWith("\r\n\r\nhi"), text);
  });
});

Deno.test("edge: 128 clients leaving their streams at once do not take the gateway down (product flags, real llama-server)", async () => {
  const dir = await privateTempDir("pg-leave-");
  const gateway = await spawnGateway({
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: dir,
    PG_LLAMA_PARALLEL: "128",
    PG_LLAMA_CTX: String(128 * 512),
    PG_MAX_CONCURRENT_STREAMS: "128",
    ...SINGLE_SOURCE_LIMITS,
  });
  try {
    assert.ok(await waitFor(() => gateway.logs().some((l) => l.event === "supervisor.ready"), 30_000));
    const clients = Array.from(
      { length: 128 },
      () => new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 }),
    );
    for (let round = 0; round < 2; round++) {
      const controller = new AbortController();
      let open = 0;
      const streams = clients.map(async (client) => {
        try {
          let first = true;
          const input = { messages: [{ role: "user" as const, content: "go" }], max_tokens: 50_000 };
          for await (const _ of client.chat(input, controller.signal)) if (first && !(first = false)) open++;
        } catch { /* aborted */ }
      });
      assert.ok(await waitFor(() => open === 128, 60_000), `${open} of 128 streams started`);
      controller.abort();
      await Promise.all(streams);
    }
    // Alive, and still answering.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const events: string[] = [];
    for await (const e of clients[0].chat({ messages: [{ role: "user", content: "hi" }], max_tokens: 4 })) {
      events.push(e.type);
    }
    assert.equal(events.at(-1), "done", gateway.output().slice(-2000));
  } finally {
    const status = await gateway.stop();
    assert.doesNotMatch(gateway.output(), /Uncaught/, gateway.output().slice(-2000));
    // A clean shutdown on SIGTERM, not a crash earlier.
    assert.equal(status.code, 0, gateway.output().slice(-2000));
    await Deno.remove(dir, { recursive: true });
  }
});
