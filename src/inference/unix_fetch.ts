/**
 * `fetch` over a UNIX socket. Deno's own unix-socket proxy client sends absolute-form request targets
 * (`GET http://host/path`), which llama-server's HTTP router answers with 404 (verified with Deno 2.9.6),
 * so this goes through node:http's `socketPath`, which sends origin-form targets, with a keep-alive agent
 * for connection reuse. The result is a standard Response whose body cancels the request when cancelled.
 */
import http from "node:http";

/** A fetch-like function bound to one socket. */
export type SocketFetch = (
  path: string,
  init: { method?: string; body?: string; signal?: AbortSignal },
) => Promise<Response>;

/** Creates a fetch for `socketPath`; `close` releases pooled connections. */
export function createSocketFetch(socketPath: string): { fetch: SocketFetch; close: () => void } {
  const agent = new http.Agent({ keepAlive: false });
  const fetchOverSocket: SocketFetch = (path, init) =>
    new Promise<Response>((resolve, reject) => {
      if (init.signal?.aborted) return reject(init.signal.reason);
      const request = http.request({
        socketPath,
        path,
        method: init.method ?? "GET",
        agent,
        headers: init.body !== undefined
          ? {
            "content-type": "application/json",
            "content-length": String(new TextEncoder().encode(init.body).byteLength),
          }
          : {},
      });
      // destroy() without an error: an error object here would surface as an uncaught exception.
      const onAbort = () => {
        request.destroy();
        reject(init.signal?.reason);
      };
      init.signal?.addEventListener("abort", onAbort, { once: true });
      request.on("error", (error) => {
        init.signal?.removeEventListener("abort", onAbort);
        reject(init.signal?.aborted ? init.signal.reason : error);
      });
      request.on("response", (response) => {
        // Node events may still fire after the web stream was cancelled; they are ignored then.
        let open = true;
        const settle = (action: () => void) => {
          if (!open) return;
          try {
            action();
          } catch { /* stream already closed */ }
        };
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            // No copy: a chunk node:http hands over belongs to its listener (node's stream contract), and
            // this runs once per token (bench/llama_stream_bench.ts).
            response.on("data", (chunk: Uint8Array) => {
              if (!open) return;
              try {
                controller.enqueue(chunk);
              } catch { /* stream already closed */ }
            });
            response.on("end", () => {
              init.signal?.removeEventListener("abort", onAbort);
              settle(() => controller.close());
              open = false;
            });
            response.on("error", (error) => {
              settle(() => controller.error(error));
              open = false;
            });
            response.on("aborted", () => {
              settle(() => controller.error(new Error("Upstream closed the stream")));
              open = false;
            });
          },
          cancel() {
            open = false;
            // Closing the socket is how llama-server learns the client is gone and stops generating.
            request.destroy();
          },
        });
        const headers = new Headers();
        for (const [key, value] of Object.entries(response.headers)) {
          if (typeof value === "string") headers.set(key, value);
        }
        resolve(new Response(body, { status: response.statusCode ?? 502, headers }));
      });
      if (init.body !== undefined) request.write(init.body);
      request.end();
    });
  return { fetch: fetchOverSocket, close: () => agent.destroy() };
}
