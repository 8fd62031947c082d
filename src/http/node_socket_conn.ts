/**
 * A node:tls socket seen through the small byte-stream interface the edge's connection guard uses
 * (the subset of Deno.Conn it needs). Why node:tls for HTTPS: a `Deno.listenTls` connection whose client
 * never completes the handshake keeps its socket open after `close()` until the listener itself closes
 * (measured with Deno 2.9.6: closed at the head deadline, still open 3 s later, released only by the
 * listener's close), so a client could leak one descriptor per connection. node:tls hands over the raw
 * socket before the handshake, and destroying it closes it at once.
 */
import type { Socket } from "node:net";

/** The byte-stream operations the connection guard needs; Deno.Conn has them too. */
export interface EdgeConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** Bytes queued from the socket before it is paused (backpressure towards the client). */
const _HIGH_WATER = 64 * 1024;

/** Adapts a connected node socket (here a TLSSocket) to {@link EdgeConn}. */
export class NodeSocketConn implements EdgeConn {
  #socket: Socket;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= _HIGH_WATER) socket.pause();
      this.#notify();
    });
    const end = () => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0) {
      if (this.#ended || this.#socket.destroyed) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let n = 0;
    while (n < buffer.length && this.#queue.length > 0) {
      const head = this.#queue[0];
      const take = Math.min(head.length, buffer.length - n);
      buffer.set(head.subarray(0, take), n);
      n += take;
      if (take === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(take);
    }
    this.#queued -= n;
    if (this.#queued < _HIGH_WATER && this.#socket.isPaused()) this.#socket.resume();
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#socket.destroyed) return reject(new Deno.errors.BadResource("socket closed"));
      // The callback runs once the bytes have left the socket's own buffer: a client that does not read
      // makes this wait, which is what the stall deadline measures.
      this.#socket.write(bytes, (error) => error ? reject(error) : resolve(bytes.length));
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(() => resolve()));
  }

  close(): void {
    this.#socket.destroy();
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
