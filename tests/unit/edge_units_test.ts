/** Unit tests of the edge's parts (issue #10): head parsing, stall buffer, fair admission, decapsulation budget. */
import assert from "node:assert/strict";
import { headEnd, parseHead } from "../../src/http/request_head.ts";
import { stallGuarded } from "../../src/http/stall_buffer.ts";
import { AdmissionQueue, DecapsulationBudget } from "../../src/limits/mod.ts";
import { checkJsonShape, GatewayError, MAX_JSON_DEPTH } from "../../src/protocol/mod.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const none = { permissions: "none" } as const;

Deno.test({
  ...none,
  name: "headEnd() finds CRLFCRLF split across reads, and only a complete one",
  fn() {
    const head = bytes("GET / HTTP/1.1\r\nhost: x\r\n\r\nbody");
    assert.equal(headEnd(head, head.length), 27);
    assert.equal(headEnd(head, 26), -1);
    assert.equal(headEnd(head, head.length, 25), 27);
  },
});

Deno.test({
  ...none,
  name: "parseHead() refuses Transfer-Encoding, conflicting lengths, odd targets and HTTP/2 preface",
  fn() {
    const parse = (text: string) => parseHead(bytes(text), 1000);
    assert.equal(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 411);
    assert.equal(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400);
    assert.equal(parse("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n"), 400);
    // A list hyper would refuse, a value JavaScript's trim() would shorten (NBSP), HTTP/1.9.
    assert.equal(parse("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"), 400);
    assert.equal(parse("POST / HTTP/1.1\r\nContent-Length: 5\u00a0\r\n\r\n"), 400);
    assert.equal(parse("GET / HTTP/1.9\r\n\r\n"), 505);
    assert.equal(parse("POST / HTTP/1.1\r\nExpect: something\r\n\r\n"), 417);
    assert.equal(parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
    assert.equal(parse("POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n"), 400);
    assert.equal(parse("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n"), 413);
    assert.equal(parse("OPTIONS * HTTP/1.1\r\n\r\n"), 400);
    assert.equal(parse("CONNECT example.com:443 HTTP/1.1\r\n\r\n"), 400);
    assert.equal(parse("GET / HTTP/2.0\r\n\r\n"), 505);
    assert.equal(parse("PRI * HTTP/2.0\r\n\r\n"), 505);
    assert.equal(parse("GET / HTTP/1.1\r\n folded\r\n\r\n"), 400);
    const ok = parse("POST /api/chat HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\nHost: x\r\n\r\n");
    assert.ok(typeof ok === "object");
    assert.equal(ok.contentLength, 5);
    const request = ok.toRequest(bytes("hello"));
    assert.ok(request);
    assert.equal(request.method, "POST");
    // Routed by path on a fixed origin: the client's Host never becomes the request's URL.
    assert.equal(request.url, "http://gateway.invalid/api/chat");
    assert.equal(request.headers.get("host"), "x");
  },
});

Deno.test({
  ...none,
  name:
    "parseHead().toRequest() keeps an absolute-form target's path only and refuses what Request cannot carry",
  async fn() {
    const parse = (text: string) => parseHead(bytes(text), 1000);
    const absolute = parse("GET http://evil.example/health?x=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    assert.ok(typeof absolute === "object");
    assert.equal(absolute.toRequest(undefined)?.url, "http://gateway.invalid/health?x=1");
    // Raw non-ASCII bytes in a target (clients percent-encode) are refused, not encoded twice.
    assert.equal(
      parseHead(new Uint8Array([...bytes("GET /"), 0xc3, 0xa9, ...bytes(" HTTP/1.1\r\n\r\n")]), 1000),
      400,
    );
    const trace = parse("TRACE / HTTP/1.1\r\n\r\n");
    assert.ok(typeof trace === "object");
    assert.equal(trace.toRequest(undefined), undefined);
    // A GET's body is dropped (a Request cannot carry one); a POST's arrives whole.
    const get = parse("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n");
    assert.ok(typeof get === "object");
    assert.equal(get.toRequest(bytes("abc"))?.body, null);
    const post = parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n");
    assert.ok(typeof post === "object");
    assert.equal(await post.toRequest(bytes("abc"))?.text(), "abc");
    assert.equal(post.http10, false);
    const old = parse("GET / HTTP/1.0\r\n\r\n");
    assert.ok(typeof old === "object" && old.http10);
  },
});

Deno.test({
  ...none,
  name:
    "parseHead() refuses a bare LF, CR or other control byte that another parser would read as a line break",
  fn() {
    const parse = (text: string) => parseHead(bytes(text), 1000);
    // A lenient parser (a front proxy, hyper once behind the edge) reads a bare LF as a line break.
    assert.equal(parse("GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\nX-Forwarded-For: 6.6.6.6\r\n\r\n"), 400);
    assert.equal(parse("GET /health HTTP/1.1\r\nHost: a\r\nX: a\nContent-Length: 1\r\n\r\n"), 400);
    assert.equal(parse("GET /health HTTP/1.1\nHost: a\r\n\r\n"), 400);
    assert.equal(parse("GET /health HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400);
    assert.equal(parse("GET /health HTTP/1.1\r\nX: a\u0000b\r\n\r\n"), 400);
    assert.ok(typeof parse("GET /health HTTP/1.1\r\nX: a\tb\r\n\r\n") === "object");
  },
});

Deno.test({
  ...none,
  name: "parseHead() takes Expect: 100-continue for the edge to answer and passes non-ASCII bytes unchanged",
  fn() {
    const raw = new Uint8Array([
      ...bytes("POST / HTTP/1.1\r\nExpect: 100-continue\r\nX-A: "),
      0xe9,
      ...bytes("\r\nContent-Length: 3\r\n\r\n"),
    ]);
    const head = parseHead(raw, 1000);
    assert.ok(typeof head === "object");
    assert.equal(head.expectsContinue, true);
    const request = head.toRequest(bytes("abc"));
    assert.ok(request);
    assert.equal(request.headers.get("expect"), null);
    // The byte 0xE9 arrives as the one character U+00E9 of a ByteString, as it was sent.
    assert.equal(request.headers.get("x-a"), "\u00e9");
  },
});

Deno.test({
  ...none,
  name: "stallGuarded() drives its source without a reader and calls onStall once the buffer stays full",
  async fn() {
    let produced = 0;
    let stalls = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        produced++;
        if (stalls > 0) return controller.close();
        controller.enqueue(new Uint8Array(1024));
      },
    });
    const guarded = stallGuarded(source, 50, () => stalls++, 4096);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Nobody read: the source was pumped up to the 4 KiB bound, then the stall fired and the source ended.
    assert.equal(stalls, 1);
    assert.ok(produced >= 4 && produced <= 7, `produced ${produced}`);
    const reader = guarded.getReader();
    let total = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
    }
    assert.ok(total >= 4096, `read ${total}`);
  },
});

Deno.test({
  ...none,
  name: "stallGuarded() never stalls a client that keeps reading",
  async fn() {
    let stalls = 0;
    let n = 0;
    const source = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (++n > 100) return controller.close();
        controller.enqueue(new Uint8Array(1024));
      },
    });
    let total = 0;
    for await (const chunk of stallGuarded(source, 100, () => stalls++, 2048)) {
      total += chunk.length;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.equal(total, 100 * 1024);
    assert.equal(stalls, 0);
  },
});

Deno.test({
  ...none,
  name: "AdmissionQueue gives one network at most its share and hands freed slots to other networks first",
  async fn() {
    const queue = new AdmissionQueue(4, 4, 0.5);
    const signal = new AbortController().signal;
    const a1 = await queue.admit(1000, signal, "A");
    await queue.admit(1000, signal, "A");
    // A holds its 2 of 4 slots: its next requests wait (2 places of 4) and the third is refused.
    const waitingA = queue.admit(1000, signal, "A");
    const waitingA2 = queue.admit(1000, signal, "A");
    await assert.rejects(
      queue.admit(1000, signal, "A"),
      (e) => e instanceof GatewayError && e.code === "ip_rate_limited",
    );
    // B is below its share and there are free slots: admitted at once.
    const b1 = await queue.admit(1000, signal, "B");
    assert.equal(queue.active, 3);
    a1();
    // A's freed slot goes to A's first waiter (A is back below its share).
    await waitingA;
    assert.equal(queue.active, 3);
    b1();
    await queue.admit(1000, signal, "B");
    assert.equal(queue.queued, 1);
    await assert.rejects(waitingA2, (e) => e instanceof GatewayError && e.code === "overloaded");
    assert.equal(queue.queued, 0);
  },
});

Deno.test({
  ...none,
  name:
    "DecapsulationBudget refuses past its rate and keeps the reserved share for networks in good standing",
  fn() {
    let now = 1_000_000;
    const budget = new DecapsulationBudget(10, 0.5, () => now);
    let open = 0;
    for (let i = 0; i < 50; i++) {
      try {
        budget.take(`garbage-${i}`);
        open++;
      } catch (error) {
        assert.ok(error instanceof GatewayError && error.code === "overloaded");
      }
    }
    // Open pool: 5/s with a burst of 5 (+1 for the GCRA's first cell).
    assert.ok(open >= 5 && open <= 6, `open ${open}`);
    budget.vouch("regular");
    assert.doesNotThrow(() => budget.take("regular"));
    assert.throws(() => budget.take("stranger"), (e) => e instanceof GatewayError && e.code === "overloaded");
    now += 11 * 60_000;
    // Standing expires after 10 minutes; by then the pools have refilled.
    assert.doesNotThrow(() => budget.take("anyone"));
  },
});

Deno.test({
  ...none,
  name:
    "checkJsonShape() refuses lone surrogates in values and keys and nesting past MAX_JSON_DEPTH, iteratively",
  fn() {
    assert.equal(checkJsonShape(JSON.parse('{"a":["\\ud800"]}')), "text: lone surrogate");
    assert.equal(checkJsonShape(JSON.parse('{"\\udc00":1}')), "text: lone surrogate");
    assert.equal(checkJsonShape({ a: "😀 fine" }), undefined);
    let deep: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) deep = [deep];
    assert.equal(checkJsonShape(deep), undefined);
    assert.match(checkJsonShape([deep]) ?? "", /nested deeper than 32/);
    // 100,000 levels: no recursion, no stack overflow.
    const text = "[".repeat(100_000) + "]".repeat(100_000);
    assert.match(checkJsonShape(JSON.parse(text)) ?? "", /nested deeper/);
  },
});

Deno.test({
  ...none,
  name: "AdmissionQueue.admit() refuses at once a request whose client already left: no slot, no place",
  async fn() {
    const queue = new AdmissionQueue(1, 10);
    const gone = new AbortController();
    gone.abort(new DOMException("Client disconnected", "AbortError"));
    // A free slot is not taken…
    await assert.rejects(queue.admit(1500, gone.signal), (e: Error) => e.name === "AbortError");
    assert.equal(queue.active, 0);
    // …and with the slot held, no place in the queue is kept for 1.5 s.
    const release = await queue.admit(1500, new AbortController().signal);
    const started = performance.now();
    await assert.rejects(queue.admit(1500, gone.signal), (e: Error) => e.name === "AbortError");
    assert.ok(performance.now() - started < 100);
    assert.equal(queue.queued, 0);
    release();
  },
});
