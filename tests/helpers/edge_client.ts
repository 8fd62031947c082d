/**
 * Test helper for attacking the edge on loopback: raw TCP connections from any 127.0.0.0/8 source
 * address (node:net's `localAddress`, which Deno.connect lacks), so one test can play several networks,
 * and sealed chat requests captured from the real SDK so they can be sent byte by byte.
 */
import net from "node:net";
import { GatewayClient } from "../../src/client/mod.ts";
import type { ChatInput } from "../../src/client/mod.ts";

/** A raw client connection with everything it received. */
export interface RawConnection {
  socket: net.Socket;
  /** Bytes received so far, as latin1 text. */
  received(): string;
  /** Resolves with the time (ms since connect) when the server closed the connection. */
  closed: Promise<number>;
  write(bytes: Uint8Array | string): Promise<void>;
  destroy(): void;
}

/** Opens a raw TCP connection from `localAddress` (default 127.0.0.1) to the gateway URL. */
export function rawConnect(url: string, localAddress = "127.0.0.1", read = true): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port), localAddress });
  socket.setNoDelay(true);
  let text = "";
  const started = performance.now();
  const closed = Promise.withResolvers<number>();
  if (read) socket.on("data", (chunk: Uint8Array) => text += new TextDecoder("latin1").decode(chunk));
  else socket.pause();
  socket.on("close", () => closed.resolve(performance.now() - started));
  socket.on("error", () => {});
  const opened = Promise.withResolvers<RawConnection>();
  socket.on("connect", () =>
    opened.resolve({
      socket,
      received: () => text,
      closed: closed.promise,
      write: (bytes) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) return resolve();
          socket.write(bytes, () => resolve());
        }),
      destroy: () => socket.destroy(),
    }));
  socket.on("error", (error: Error) => opened.reject(error));
  return opened.promise;
}

/** A sealed chat request as the SDK would send it, captured instead of sent. */
export interface CapturedRequest {
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Seals `input` with the real SDK against a running gateway and returns the request unsent. */
export async function captureChat(
  url: string,
  pin: string,
  input: ChatInput,
  extraHeaders: Record<string, string> = {},
): Promise<CapturedRequest> {
  let captured: CapturedRequest | undefined;
  const client = new GatewayClient({
    baseUrl: url,
    pin,
    maxAttempts: 1,
    fetch: (async (target: string | URL | Request, init?: RequestInit) => {
      if (init?.method !== "POST") return await fetch(target, init);
      captured = {
        path: new URL(String(target)).pathname,
        headers: { ...(init.headers as Record<string, string>), ...extraHeaders },
        body: new Uint8Array(init.body as Uint8Array),
      };
      throw new Error("captured");
    }) as typeof fetch,
  });
  try {
    for await (const _ of client.chat(input)) { /* never reached */ }
  } catch { /* the capture aborts the call */ }
  if (!captured) throw new Error("the SDK did not send a request");
  return captured;
}

/** The HTTP/1.1 head for a captured request with its Content-Length. */
export function requestHead(request: CapturedRequest, host: string): string {
  const fields = Object.entries(request.headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  return `POST ${request.path} HTTP/1.1\r\nhost: ${host}\r\n${fields}content-length: ${request.body.length}\r\n\r\n`;
}

/** Resident set size of a process in bytes (Linux). */
export function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}
