import assert from "node:assert/strict";
import { ServerSentEventParser } from "../../src/inference/sse_lines.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

/** The events of a stream read in the given pieces (the parser is fed one read at a time, as LlamaClient does). */
function events(...reads: (string | Uint8Array)[]): Promise<string[]> {
  const parser = new ServerSentEventParser();
  const out: string[] = [];
  for (const read of reads) out.push(...parser.push(typeof read === "string" ? bytes(read) : read));
  return Promise.resolve(out);
}

Deno.test({
  name: "ServerSentEventParser yields each event's data, one event per llama-server chunk",
  permissions: "none",
  async fn() {
    assert.deepEqual(await events('data: {"a":1}\n\ndata: {"a":2}\n\n'), ['{"a":1}', '{"a":2}']);
  },
});

Deno.test({
  name: "ServerSentEventParser joins an event split across reads at any byte",
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
  name: "ServerSentEventParser accepts CRLF and CR line endings, a CRLF split across reads included",
  permissions: "none",
  async fn() {
    assert.deepEqual(await events("data: a\r\n\r\ndata: b\r\r"), ["a", "b"]);
    assert.deepEqual(await events("data: a\r", "\n\r", "\ndata: b\n\n"), ["a", "b"]);
    // CR LF is one line ending: two data lines of one event, not two events.
    assert.deepEqual(await events("data: a\r\ndata: b\r", "\n\r\n"), ["a\nb"]);
  },
});

Deno.test({
  name: "ServerSentEventParser joins data lines, drops one leading space, ignores comments and other fields",
  permissions: "none",
  async fn() {
    assert.deepEqual(
      await events(": comment\nevent: x\nid: 3\ndata:one\ndata:  two\nretry: 5\n\n"),
      ["one\n two"],
    );
  },
});

Deno.test({
  name: "ServerSentEventParser discards an event cut off by the end of the stream",
  permissions: "none",
  async fn() {
    assert.deepEqual(await events("data: whole\n\ndata: cut"), ["whole"]);
    assert.deepEqual(await events("data: no blank line\n"), []);
  },
});
