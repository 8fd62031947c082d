/**
 * `fetch` over a UNIX socket: a minimal HTTP/1.1 client (RFC 9112) on `Deno.connect({ transport: "unix" })`,
 * one connection per request (`Connection: close`), for llama-server's private socket.
 *
 * Why not the alternatives: Deno's own unix-socket proxy client sends absolute-form request targets
 * (`GET http://host/path`), which llama-server's router answers with 404 (verified with Deno 2.9.6); and
 * node:http (used before) costs ~26 µs of CPU per streamed token against ~9 µs for a bare read of the
 * socket (bench/llama_stream_bench.ts), one token being one read: its HTTP parser runs in JavaScript and
 * each chunk crosses a node stream, then a web stream.
 *
 * What it reads: a status line, header fields, then a body delimited by `Content-Length`, by chunked
 * transfer coding (RFC 9112 §7.1: size line with optional extensions, data, CRLF; a zero size ends it,
 * trailers ignored), or by the connection's close. The result is a standard Response whose body cancels
 * the request (closes the socket, which is how llama-server learns the client is gone) when cancelled.
 */
import { concat } from "../crypto/mod.ts";

/** A fetch-like function bound to one socket. */
export type SocketFetch = (
  path: string,
  init: { method?: string; body?: string; signal?: AbortSignal },
) => Promise<Response>;

/** Largest response head accepted: llama-server's are a few hundred bytes. */
const _MAX_HEAD_BYTES = 64 * 1024;
/**
 * Bytes asked of the socket per read: one buffer per open connection, so it is per stream memory (a
 * token's chunk is ~200–300 bytes; the rare multi-megabyte /tokenize answer just takes more reads). 16 KiB
 * before: docs/benchmarks.md, "Memory per open stream".
 */
const _READ_BYTES = 4 * 1024;

/** Creates a fetch for `socketPath`; `close` closes connections still open. */
export function createSocketFetch(socketPath: string): { fetch: SocketFetch; close: () => void } {
  const open = new Set<Deno.UnixConn>();
  const encoder = new TextEncoder();
  const fetchOverSocket: SocketFetch = async (path, init) => {
    // Only the signal is kept for the response's life, not the request body (~1 KiB of prompt per stream).
    const { signal } = init;
    signal?.throwIfAborted();
    const conn = await Deno.connect({ transport: "unix", path: socketPath });
    open.add(conn);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      open.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    const onAbort = () => close();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      // Head and body in one write: each write's completion costs an event-loop turn before the next, and
      // while other requests keep the thread busy that turn comes late (docs/benchmarks.md, "Bursts").
      const body = init.body === undefined ? undefined : encoder.encode(init.body);
      const head = encoder.encode(
        `${init.method ?? "GET"} ${path} HTTP/1.1\r\nHost: llama-server\r\nConnection: close\r\n` +
          (body ? `Content-Type: application/json\r\nContent-Length: ${body.byteLength}\r\n` : "") + "\r\n",
      );
      await _writeAll(conn, body ? concat(head, body) : head);
      const reader = new _ConnReader(conn);
      const { status, headers } = await reader.head();
      const length = headers.get("content-length");
      // Digits only: a repeated field ("5, 5") or any other form read as a number would be NaN, and a body
      // of NaN bytes never ends (an endless loop of empty pieces that never yields to the event loop).
      if (length !== null && !/^\d{1,15}$/.test(length)) {
        throw new Error("Upstream sent an invalid Content-Length");
      }
      const chunked = /\bchunked\b/i.test(headers.get("transfer-encoding") ?? "");
      // Methods the stream's pull calls directly, not generators: one layer less per token.
      const next = chunked
        ? () => reader.nextChunked()
        : length !== null
        ? reader.fixedLength(Number(length))
        : () => reader.nextUntilClose();
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const value = await next();
            if (value === null) {
              signal?.removeEventListener("abort", onAbort);
              close();
              controller.close();
            } else controller.enqueue(value);
          } catch (error) {
            close();
            controller.error(signal?.aborted ? signal.reason : error);
          }
        },
        cancel() {
          signal?.removeEventListener("abort", onAbort);
          close();
        },
        // The stream's default high-water mark: one piece read ahead, no more. Spacing the reads (at most
        // one per 40 ms once the first token is out) changed neither tokens/s nor the gateway's CPU at 8 and
        // 32 streams (docs/benchmarks.md): one read per token is not what limits the tiny model's tokens/s.
      });
      // A status without a body (204, 304) has none; Response refuses a body for them.
      const empty = status === 204 || status === 304;
      if (empty) close();
      return new Response(empty ? null : stream, { status, headers });
    } catch (error) {
      signal?.removeEventListener("abort", onAbort);
      close();
      throw signal?.aborted ? signal.reason : error;
    }
  };
  return {
    fetch: fetchOverSocket,
    close: () => {
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      open.clear();
    },
  };
}

async function _writeAll(conn: Deno.UnixConn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.byteLength;) done += await conn.write(bytes.subarray(done));
}

/** Reads a response from one connection; every body view it yields is a fresh buffer's. */
class _ConnReader {
  #conn: Deno.UnixConn;
  #scratch = new Uint8Array(_READ_BYTES);
  #buffer = new Uint8Array(0);

  constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }

  /**
   * Appends one read; false at end of stream. Reads into one scratch buffer and copies out only what came
   * (a token is ~150 bytes): a fresh 64 KiB buffer per read cost more than the read itself.
   */
  async #fill(): Promise<boolean> {
    const n = await this.#conn.read(this.#scratch);
    if (n === null) return false;
    const joined = new Uint8Array(this.#buffer.byteLength + n);
    joined.set(this.#buffer);
    joined.set(this.#scratch.subarray(0, n), this.#buffer.byteLength);
    this.#buffer = joined;
    return true;
  }

  #take(count: number): Uint8Array {
    const out = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return out;
  }

  /** The next CRLF-terminated line (without it), as Latin-1 text. */
  async #line(limit: number): Promise<string> {
    while (true) {
      const at = this.#buffer.indexOf(10);
      if (at >= 0) {
        const line = this.#take(at + 1);
        return String.fromCharCode(...line.subarray(0, line[at - 1] === 13 ? at - 1 : at));
      }
      if (this.#buffer.byteLength > limit) throw new Error("Upstream sent an overlong line");
      if (!await this.#fill()) throw new Error("Upstream closed the connection mid-response");
    }
  }

  async head(): Promise<{ status: number; headers: Headers }> {
    const statusLine = await this.#line(_MAX_HEAD_BYTES);
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!match) throw new Error("Upstream sent no HTTP/1.1 status line");
    const headers = new Headers();
    let size = statusLine.length;
    while (true) {
      const line = await this.#line(_MAX_HEAD_BYTES);
      size += line.length;
      if (size > _MAX_HEAD_BYTES) throw new Error("Upstream sent an overlong head");
      if (line === "") break;
      const colon = line.indexOf(":");
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    return { status: Number(match[1]), headers };
  }

  /** A reader of a body of `length` bytes: each call gives the next piece, null after the last. */
  fixedLength(length: number): () => Promise<Uint8Array | null> {
    let left = length;
    return async () => {
      if (left <= 0) return null;
      if (this.#buffer.byteLength === 0 && !await this.#fill()) {
        throw new Error("Upstream closed the connection mid-body");
      }
      const part = this.#take(Math.min(left, this.#buffer.byteLength));
      left -= part.byteLength;
      return part;
    };
  }

  /** The next piece of a body that ends with the connection; null at its end. */
  async nextUntilClose(): Promise<Uint8Array | null> {
    if (this.#buffer.byteLength === 0 && !await this.#fill()) return null;
    return this.#take(this.#buffer.byteLength);
  }

  /** Where a chunked body is: data bytes left in the current chunk (> 0), or what comes next. */
  #chunk: number | "size" | "crlf" | "trailers" | "ended" = "size";

  /**
   * The next piece of a chunked body, null at its end. Everything already buffered is handed out as one
   * piece, however many chunks it spans (llama-server sends one chunk per token): one piece per socket
   * read, not per chunk. A piece is handed out before any wait for the socket.
   */
  async nextChunked(): Promise<Uint8Array | null> {
    const pending: Uint8Array[] = [];
    const out = () => (pending.length === 1 ? pending[0] : concat(...pending));
    while (true) {
      const state = this.#chunk;
      if (state === "ended") return pending.length > 0 ? out() : null;
      if (typeof state === "number") {
        if (this.#buffer.byteLength === 0) {
          if (pending.length > 0) return out();
          if (!await this.#fill()) throw new Error("Upstream closed the connection mid-chunk");
        }
        const part = this.#take(Math.min(state, this.#buffer.byteLength));
        pending.push(part);
        this.#chunk = state - part.byteLength > 0 ? state - part.byteLength : "crlf";
        continue;
      }
      // About to read a line, which may wait for the socket: hand out what is complete first.
      if (pending.length > 0 && this.#buffer.indexOf(10) < 0) return out();
      if (state === "crlf") {
        if (await this.#line(2) !== "") throw new Error("Upstream sent a chunk without its CRLF");
        this.#chunk = "size";
      } else if (state === "trailers") {
        // Trailer fields, up to the empty line; their content is not used.
        while (await this.#line(_MAX_HEAD_BYTES) !== "");
        this.#chunk = "ended";
      } else {
        const sizeLine = await this.#line(4096);
        const digits = sizeLine.split(";")[0].trim();
        // Strictly hex (parseInt alone would read "data: …" as 0xda).
        if (!/^[0-9a-fA-F]{1,8}$/.test(digits)) throw new Error("Upstream sent a malformed chunk size");
        const size = parseInt(digits, 16);
        this.#chunk = size === 0 ? "trailers" : size;
      }
    }
  }
}
