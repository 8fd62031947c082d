import assert from "node:assert/strict";
import { parseServerSentEvents } from "../../src/inference/sse_lines.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

async function events(...reads: (string | Uint8Array)[]): Promise<string[]> {
  const out: string[] = [];
  const body = ReadableStream.from(reads.map((r) => (typeof r === "string" ? bytes(r) : r)));
  for await (const data of parseServerSentEvents(body)) out.push(data);
  return out;
}

Deno.test({
  name: "parseServerSentEvents() yields each event's data, one event per llama-server chunk",
  permissions: "none",
  async fn() {
    assert.deepEqual(await events('data: {"a":1}\n\ndata: {"a":2}\n\n'), ['{"a":1}', '{"a":2}']);
  },
});

Deno.test({
  name: "parseServerSentEvents() joins an event split across reads at any byte",
  permissions: "none",
  async fn() {
    const text = 'data: {"content":"é🌊"}\n\n';
    const all = bytes(text);
    for (let cut = 1; cut < all.length; cut++) {
      assert.deepEqual(
        await events(all.slice(0, cut), all.slice(cut)),
        ['{"content":"é🌊"}'],
        `cut at ${cut}`,
      );
    }
  },
});

Deno.test({
  name: "parseServerSentEvents() accepts CRLF and CR line endings, a CRLF split across reads included",
  permissions: "none",
  async fn() {
    assert.deepEqual(await events("data: a\r\n\r\ndata: b\r\r"), ["a", "b"]);
    assert.deepEqual(await events("data: a\r", "\n\r", "\ndata: b\n\n"), ["a", "b"]);
    // CR LF is one line ending: two data lines of one event, not two events.
    assert.deepEqual(await events("data: a\r\ndata: b\r", "\n\r\n"), ["a\nb"]);
  },
});

Deno.test({
  name:
    "parseServerSentEvents() joins data lines, drops one leading space, ignores comments and other fields",
  permissions: "none",
  async fn() {
    assert.deepEqual(
      await events(": comment\nevent: x\nid: 3\ndata:one\ndata:  two\nretry: 5\n\n"),
      ["one\n two"],
    );
  },
});

Deno.test({
  name: "parseServerSentEvents() discards an event cut off by the end of the stream",
  permissions: "none",
  async fn() {
    assert.deepEqual(await events("data: whole\n\ndata: cut"), ["whole"]);
    assert.deepEqual(await events("data: no blank line\n"), []);
  },
});

Deno.test({
  name: "parseServerSentEvents() cancels the body when the reader stops early",
  permissions: "none",
  async fn() {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes("data: x\n\n"));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const _ of parseServerSentEvents(body)) break;
    assert.equal(cancelled, true);
  },
});
