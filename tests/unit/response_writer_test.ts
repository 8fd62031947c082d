/** writeResponse(): the edge's HTTP/1.1 serialisation of the application's answers (src/http/response_writer.ts). */
import assert from "node:assert/strict";
import { writeResponse } from "../../src/http/response_writer.ts";

const none = { permissions: "none" } as const;
const text = (bytes: Uint8Array[]) => new TextDecoder().decode(Uint8Array.from(bytes.flatMap((b) => [...b])));

function sink() {
  const writes: Uint8Array[] = [];
  let cancel: (() => void) | undefined;
  return {
    writes,
    cancel: () => cancel?.(),
    sink: {
      write: (bytes: Uint8Array) => {
        writes.push(bytes.slice());
        return Promise.resolve();
      },
      setCancel: (c: (() => void) | undefined) => cancel = c,
    },
  };
}

const POST = { method: "POST", http10: false };

Deno.test({
  ...none,
  name: "writeResponse() sends a whole answer with its length, in one write, and connection: close",
  async fn() {
    const out = sink();
    await writeResponse(Response.json({ a: 1 }, { status: 201 }), POST, out.sink);
    assert.equal(out.writes.length, 1);
    const [head, body] = text(out.writes).split("\r\n\r\n");
    const lines = head.split("\r\n");
    assert.equal(lines[0], "HTTP/1.1 201 Created");
    assert.ok(lines.includes("content-length: 7"), head);
    assert.ok(lines.includes("connection: close"), head);
    assert.ok(lines.some((l) => /^date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(l)), head);
    assert.equal(body, '{"a":1}');
  },
});

Deno.test({
  ...none,
  name: "writeResponse() streams an OHTTP chunked answer piece by piece as chunks, then the last chunk",
  async fn() {
    const out = sink();
    const pieces = ["abc", "", "0123456789abcdef0"];
    const body = ReadableStream.from(pieces.map((p) => new TextEncoder().encode(p)));
    await writeResponse(
      new Response(body, { headers: { "content-type": "message/ohttp-chunked-res" } }),
      POST,
      out.sink,
    );
    // Head, one write per non-empty piece (an empty one would read as the end), the last chunk.
    assert.equal(out.writes.length, 4);
    assert.match(text(out.writes.slice(0, 1)), /transfer-encoding: chunked\r\n/);
    assert.doesNotMatch(text(out.writes.slice(0, 1)), /content-length/);
    assert.equal(text(out.writes.slice(1)), "3\r\nabc\r\n11\r\n0123456789abcdef0\r\n0\r\n\r\n");
  },
});

Deno.test({
  ...none,
  name: "writeResponse() never completes a cancelled or failed stream: no last chunk, a rejection",
  async fn() {
    // Cancelled (the connection ended): the source learns it, and no last chunk is written.
    const out = sink();
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      async pull(c) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (!cancelled) c.enqueue(new Uint8Array([1]));
      },
      cancel: () => void (cancelled = true),
    });
    const writing = writeResponse(
      new Response(endless, { headers: { "content-type": "message/ohttp-chunked-res" } }),
      POST,
      out.sink,
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    out.cancel();
    await assert.rejects(writing, /cancelled/);
    assert.ok(cancelled, "the application's stream was cancelled");
    assert.doesNotMatch(text(out.writes), /0\r\n\r\n$/);
    // Failed mid-way: the same.
    const failed = sink();
    const broken = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array([1, 2]));
        c.error(new Error("boom"));
      },
    });
    await assert.rejects(
      writeResponse(
        new Response(broken, { headers: { "content-type": "message/ohttp-chunked-res" } }),
        POST,
        failed.sink,
      ),
      /boom/,
    );
    assert.doesNotMatch(text(failed.writes), /0\r\n\r\n/);
  },
});

Deno.test({
  ...none,
  name: "writeResponse() sends a stream whole, with its length, to HTTP/1.0, and no body for HEAD and 204",
  async fn() {
    const old = sink();
    const body = ReadableStream.from([new TextEncoder().encode("xyz")]);
    await writeResponse(
      new Response(body, { headers: { "content-type": "text/event-stream" } }),
      { method: "GET", http10: true },
      old.sink,
    );
    const all = text(old.writes);
    assert.doesNotMatch(all, /transfer-encoding/);
    assert.match(all, /content-length: 3\r\n/);
    assert.ok(all.endsWith("\r\n\r\nxyz"), all);
    const head = sink();
    await writeResponse(Response.json({ a: 1 }), { method: "HEAD", http10: false }, head.sink);
    assert.ok(text(head.writes).endsWith("\r\n\r\n"));
    assert.doesNotMatch(text(head.writes), /\{/);
    const empty = sink();
    await writeResponse(new Response(null, { status: 204 }), POST, empty.sink);
    assert.match(text(empty.writes), /^HTTP\/1\.1 204 No Content\r\n/);
    assert.doesNotMatch(text(empty.writes), /content-length/);
  },
});

Deno.test({
  ...none,
  name: "writeResponse() sends nothing of a whole answer cancelled while it is collected",
  async fn() {
    const out = sink();
    let release!: () => void;
    const slow = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(new TextEncoder().encode('{"partial":'));
        await new Promise<void>((resolve) => release = resolve);
        try {
          c.enqueue(new TextEncoder().encode("1}"));
          c.close();
        } catch { /* cancelled */ }
      },
    });
    const writing = writeResponse(
      new Response(slow, { headers: { "content-type": "application/json" } }),
      POST,
      out.sink,
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    out.cancel();
    release();
    await assert.rejects(writing, /cancelled/);
    assert.equal(out.writes.length, 0);
  },
});

Deno.test({
  ...none,
  name: "writeResponse() cancels the application's stream when a write fails (the client is gone)",
  async fn() {
    let cancelled = false;
    let writes = 0;
    const failing = {
      write: () => ++writes === 2 ? Promise.reject(new Error("broken pipe")) : Promise.resolve(),
      setCancel: () => {},
    };
    const endless = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(new Uint8Array([1])),
      cancel: () => void (cancelled = true),
    });
    await assert.rejects(
      writeResponse(
        new Response(endless, { headers: { "content-type": "message/ohttp-chunked-res" } }),
        POST,
        failing,
      ),
      /broken pipe/,
    );
    assert.ok(cancelled, "the stream was cancelled");
  },
});
