/**
 * LlamaClient's stream deadlines against a stand-in server on a UNIX socket (the real llama-server cannot
 * stall on demand): one timer per stream, first-token deadline, then idle deadline between chunks.
 */
import assert from "node:assert/strict";
import { type Deadlines, LlamaClient } from "../src/inference/mod.ts";
import { GatewayError } from "../src/protocol/mod.ts";
import { privateTempDir } from "./helpers/gateway.ts";

/** Serves /completion as `chunks` events, waiting `gapsMs[i]` before event i. */
async function withServer(gapsMs: number[], fn: (client: LlamaClient) => Promise<void>) {
  const dir = await privateTempDir("pg-llamaclient-");
  const path = `${dir}/llama.sock`;
  const server = Deno.serve({ path, onListen() {} }, () => {
    const encoder = new TextEncoder();
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (i === gapsMs.length) {
          controller.enqueue(encoder.encode(`data: {"stop":true,"tokens_predicted":${i}}\n\n`));
          return controller.close();
        }
        await new Promise((r) => setTimeout(r, gapsMs[i]));
        controller.enqueue(encoder.encode(`data: {"content":"t${i}","tokens":[${i}]}\n\n`));
        i++;
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const client = LlamaClient.forSocket("test", path);
  try {
    await fn(client);
  } finally {
    client.close();
    await server.shutdown().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

async function read(client: LlamaClient, deadlines: Deadlines): Promise<string[] | GatewayError> {
  const contents: string[] = [];
  try {
    for await (const chunk of client.completion({ prompt: [1] }, new AbortController().signal, deadlines)) {
      if (chunk.content) contents.push(chunk.content);
    }
    return contents;
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
}

Deno.test("LlamaClient.completion() keeps a stream longer than idleMs whose chunks keep coming within it", async () => {
  // 12 chunks 40 ms apart: ~480 ms in all, idle deadline 150 ms.
  await withServer(Array(12).fill(40), async (client) => {
    const result = await read(client, { connectMs: 1000, firstTokenMs: 1000, idleMs: 150 });
    assert.deepEqual(result, Array.from({ length: 12 }, (_, i) => `t${i}`));
  });
});

Deno.test("LlamaClient.completion() fails with upstream_timeout when chunks stop for longer than idleMs", async () => {
  await withServer([0, 0, 600], async (client) => {
    const started = performance.now();
    const result = await read(client, { connectMs: 1000, firstTokenMs: 2000, idleMs: 150 });
    assert.ok(result instanceof GatewayError, `expected a timeout, got ${JSON.stringify(result)}`);
    assert.equal(result.code, "upstream_timeout");
    assert.ok(performance.now() - started < 550, "the idle deadline, not the stall's end, stopped it");
  });
});

Deno.test("LlamaClient.completion() fails with upstream_timeout when the first chunk misses firstTokenMs", async () => {
  await withServer([600], async (client) => {
    const result = await read(client, { connectMs: 1000, firstTokenMs: 150, idleMs: 5000 });
    assert.ok(result instanceof GatewayError);
    assert.equal(result.code, "upstream_timeout");
  });
});

/** Serves one raw HTTP response (bytes as given) to the first connection. */
async function withRawServer(response: string, fn: (client: LlamaClient) => Promise<void>) {
  const dir = await privateTempDir("pg-raw-");
  const path = `${dir}/llama.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const served = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(65536));
    await conn.write(new TextEncoder().encode(response));
    conn.close();
  })();
  const client = LlamaClient.forSocket("raw", path);
  try {
    await fn(client);
  } finally {
    client.close();
    await served.catch(() => {});
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const HEAD = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
const EVENT = 'data: {"content":"a","tokens":[1]}\n\n';
const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;

Deno.test("LlamaClient over the UNIX socket decodes chunked framing, extensions and trailers included", async () => {
  const body = `${EVENT.length.toString(16)};ext=1\r\n${EVENT}\r\n` + chunk('data: {"stop":true}\n\n') +
    "0\r\nX-Trailer: t\r\n\r\n";
  await withRawServer(HEAD + body, async (client) => {
    assert.deepEqual(await read(client, { connectMs: 1000, firstTokenMs: 1000, idleMs: 1000 }), ["a"]);
  });
});

Deno.test("LlamaClient over the UNIX socket refuses a chunk without its CRLF and a cut-off chunk", async () => {
  const noCrlf = `${EVENT.length.toString(16)}\r\n${EVENT}XX` + chunk('data: {"stop":true}\n\n') +
    "0\r\n\r\n";
  // Each would otherwise be read as a shorter, valid-looking body instead of failing.
  const strayByte = `${EVENT.length.toString(16)}\r\n${EVENT}X\r\n0\r\n\r\n`;
  const looseSize = `${EVENT.length.toString(16)}x\r\n${EVENT}\r\n0\r\n\r\n`;
  const cases = [
    noCrlf,
    strayByte,
    looseSize,
    HEAD.slice(0, 10),
    `${EVENT.length.toString(16)}\r\n${EVENT.slice(0, 5)}`,
    // Cut off in the trailer section: the message never ended.
    chunk(EVENT) + "0\r\nX-Trailer: t\r\n",
  ];
  for (const broken of cases) {
    await withRawServer(broken === HEAD.slice(0, 10) ? broken : HEAD + broken, async (client) => {
      const result = await read(client, { connectMs: 1000, firstTokenMs: 1000, idleMs: 1000 });
      assert.ok(result instanceof GatewayError, JSON.stringify(result));
    });
  }
});

Deno.test("LlamaClient.completion() with a signal already aborted (the client left) sends nothing to llama-server", async () => {
  const dir = await privateTempDir("pg-llamaclient-");
  const path = `${dir}/llama.sock`;
  let requests = 0;
  const server = Deno.serve({ path, onListen() {} }, () => {
    requests++;
    return new Response('data: {"stop":true}\n\n', { headers: { "content-type": "text/event-stream" } });
  });
  const client = LlamaClient.forSocket("test", path);
  try {
    const gone = new AbortController();
    gone.abort(new DOMException("Client disconnected", "AbortError"));
    const deadlines = { connectMs: 1000, firstTokenMs: 1000, idleMs: 1000 };
    await assert.rejects(
      (async () => {
        for await (const _ of client.completion({ prompt: [1] }, gone.signal, deadlines));
      })(),
      (e: Error) => e.name === "AbortError",
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(requests, 0);
  } finally {
    client.close();
    await server.shutdown().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LlamaClient over the UNIX socket refuses a Content-Length that is not a number, instead of reading forever", async () => {
  // A repeated field is joined ("26, 26"): read as a number it was NaN, a body that never ended (an endless
  // loop of empty pieces that starved the event loop, found in review).
  const body = 'data: {"stop":true}\n\n';
  for (const field of [`${body.length}\r\nContent-Length: ${body.length}`, "x", "1.5", "-1", ""]) {
    const head = `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${field}\r\n\r\n`;
    await withRawServer(head + body, async (client) => {
      const result = await read(client, { connectMs: 1000, firstTokenMs: 1000, idleMs: 1000 });
      assert.ok(result instanceof GatewayError, `${JSON.stringify(field)}: ${JSON.stringify(result)}`);
    });
  }
  // The same body with a valid length is read.
  const head = `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n`;
  await withRawServer(head + body, async (client) => {
    assert.deepEqual(await read(client, { connectMs: 1000, firstTokenMs: 1000, idleMs: 1000 }), []);
  });
});
