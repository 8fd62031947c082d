/**
 * Server-sent events (WHATWG HTML §9.2.6, "Interpreting an event stream"), reduced to what llama-server
 * sends: the `data` of each event. Lines end in LF, CRLF or CR; `data:` drops one leading space; several
 * `data` lines join with LF; a blank line dispatches; comments and other fields are ignored; an event cut
 * off by the end of the stream is discarded, as the spec says.
 *
 * The caller feeds it each read of the body (LlamaClient reads the body itself): no TransformStream and no
 * generator in between, since llama-server sends one event per token and every per-token promise and
 * allocation counts (bench/llama_stream_bench.ts; docs/benchmarks.md, "Allocation per token").
 */

/** No events: returned by {@link ServerSentEventParser.push} for a read that completes none (no allocation). */
const _NONE: readonly string[] = Object.freeze([]);

/**
 * The parser itself, fed one read at a time: a caller that reads the body itself (LlamaClient) saves an
 * async-generator layer per token, ~0.6 KB of promises and iterator results each (docs/benchmarks.md,
 * "Allocation per token").
 */
export class ServerSentEventParser {
  #decoder = new TextDecoder();
  #buffer = "";
  #data: string | undefined;
  #skipLf = false;

  /** The data of the events that `bytes` completes, in order (usually none or one). */
  push(bytes: Uint8Array): readonly string[] {
    let out: string[] | undefined;
    const buffer = this.#buffer + this.#decoder.decode(bytes, { stream: true });
    let start = 0;
    let cr = -2; // not searched yet in this buffer
    while (start < buffer.length) {
      if (this.#skipLf) {
        this.#skipLf = false;
        if (buffer.charCodeAt(start) === 10) {
          start++;
          continue;
        }
      }
      // The runtime's own search, not a loop over characters: one event can be tens of kilobytes. A CR
      // (rare) is searched again only past the last one found, so a read of many lines stays linear.
      const lf = buffer.indexOf("\n", start);
      if (cr !== -1 && cr < start) cr = buffer.indexOf("\r", start);
      const end = cr >= 0 && (lf < 0 || cr < lf) ? cr : lf;
      if (end < 0) break; // an incomplete line waits for more bytes
      const line = buffer.slice(start, end);
      start = end + 1;
      // CR LF is one line ending; the LF may arrive in the next read.
      if (end === cr) this.#skipLf = true;
      if (line === "") {
        if (this.#data !== undefined) (out ??= []).push(this.#data);
        this.#data = undefined;
      } else if (line.startsWith("data:")) {
        const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
        this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`;
      }
    }
    this.#buffer = start === 0 ? buffer : buffer.slice(start);
    return out ?? _NONE;
  }
}
