/**
 * Test helper: a plain Oblivious HTTP relay (RFC 9458 §5, like Cloudflare's or Fastly's): it accepts only
 * POSTs of the standard encapsulated media types, forwards the body to one configured gateway with nothing
 * but its media type, and streams the answer back with only its status and media type. It connects to the
 * gateway from its own loopback address (127.0.0.2), so a test can tell whose address the gateway saw.
 */
import http from "node:http";
import { Readable } from "node:stream";
import { type ChatEvent, type GatewayClient, GatewayRequestError } from "../../src/client/mod.ts";

const _FORWARDED_TYPES = new Set(["message/ohttp-req", "message/ohttp-chunked-req"]);

/** A running relay. */
export interface TestRelay {
  url: string;
  /** Header names of every request the relay sent to the gateway. */
  forwarded: string[][];
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a relay in front of `gatewayChatUrl` (the gateway's `/api/chat`). */
export function startRelay(gatewayChatUrl: string, localAddress = "127.0.0.2"): TestRelay {
  const target = new URL(gatewayChatUrl);
  const forwarded: string[][] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const type = request.headers.get("content-type") ?? "";
    if (request.method !== "POST") return new Response(null, { status: 405 });
    if (!_FORWARDED_TYPES.has(type)) return new Response(null, { status: 415 });
    const body = new Uint8Array(await request.arrayBuffer());
    const headers = { "content-type": type, "content-length": String(body.byteLength) };
    forwarded.push(Object.keys(headers));
    const answer = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const outgoing = http.request({
        host: target.hostname,
        port: Number(target.port),
        path: target.pathname,
        method: "POST",
        localAddress,
        headers,
      }, resolve);
      outgoing.on("error", reject);
      outgoing.end(body);
    });
    const answerType = answer.headers["content-type"];
    return new Response(Readable.toWeb(answer) as ReadableStream<Uint8Array>, {
      status: answer.statusCode,
      headers: answerType ? { "content-type": answerType } : {},
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    forwarded,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A chat's outcome as one line: "<last event type> <text>", or "<status> <code>" when refused. */
export async function chatOutcome(client: GatewayClient, content: string): Promise<string> {
  try {
    const events: ChatEvent[] = [];
    for await (const event of client.chat({ messages: [{ role: "user", content }] })) events.push(event);
    const text = events.map((e) => e.type === "text" ? e.delta : "").join("");
    return `${events.at(-1)?.type} ${text}`;
  } catch (error) {
    return error instanceof GatewayRequestError ? `${error.status} ${error.code}` : String(error);
  }
}
