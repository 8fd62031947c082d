/**
 * The inference-node role: an mTLS front for the node's own llama-server. Only the endpoints the gateway
 * needs are exposed (POST /completion, POST /tokenize, GET /health); a client must present a certificate
 * issued by the configured CA, and, when an allow-list is set, one whose subject CN is on it.
 *
 * Deno.serve cannot request client certificates, so this uses node:https (`requestCert`,
 * `rejectUnauthorized`), which verifies them (shared/notes/llama-server.md). Certificates are re-read when
 * their files change, without dropping open streams (new handshakes use the new context).
 */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileStamp } from "../config/mod.ts";
import { concat } from "../crypto/mod.ts";
import type { Logger } from "../observability/mod.ts";
import { createSocketFetch } from "./unix_fetch.ts";

/** Files and policy of the node's mTLS listener. */
export interface NodeServerOptions {
  host: string;
  port: number;
  caFile: string;
  certFile: string;
  keyFile: string;
  allowedSubjects?: string[];
  socketPath: string;
  /** Largest request body forwarded (a prompt of token ids). */
  maxBodyBytes: number;
  /** How often certificate files are checked for changes. */
  reloadIntervalMs: number;
  /** Told about every request (the node's metrics); routes outside the allow-list are named "other". */
  observer?: NodeObserver;
}

/** Receives the node's request events; labels come from a closed vocabulary. */
export interface NodeObserver {
  requestStarted(route: string): void;
  requestFinished(route: string, status: number): void;
}

const _ROUTES = new Map([["POST /completion", true], ["POST /tokenize", true], ["GET /health", true]]);

/** A running node server. */
export interface NodeServer {
  url: string;
  /** Requests forwarded so far (tests, metrics). */
  served(): number;
  /** Stops accepting, lets requests in flight finish for up to `drainMs`, then cuts them. */
  close(drainMs?: number): Promise<void>;
}

/** Starts the mTLS listener. */
export async function startNodeServer(options: NodeServerOptions, logger: Logger): Promise<NodeServer> {
  const upstream = createSocketFetch(options.socketPath);
  const readContext = async () => ({
    ca: await Deno.readTextFile(options.caFile),
    cert: await Deno.readTextFile(options.certFile),
    key: await Deno.readTextFile(options.keyFile),
  });
  let served = 0;
  // noDelay: token events are tiny writes; with Nagle's algorithm and delayed ACKs each one waited ~40 ms
  // (measured: 200 tokens took 9 s instead of 0.1 s).
  const server = https.createServer({
    ...(await readContext()),
    requestCert: true,
    rejectUnauthorized: true,
    noDelay: true,
  }, (req, res) => {
    req.socket.setNoDelay(true);
    const route = `${req.method} ${(req.url ?? "").split("?")[0]}`;
    const label = _ROUTES.has(route) ? route : "other";
    options.observer?.requestStarted(label);
    res.on("close", () => options.observer?.requestFinished(label, res.statusCode));
    _handle(req, res, options, upstream.fetch, logger).then((forwarded) => {
      if (forwarded) served++;
    }).catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
  server.on("tlsClientError", () => logger.log("warn", "node.client_refused", { reason: "tls_handshake" }));

  let stamp = await fileStamp([options.caFile, options.certFile, options.keyFile]);
  const reload = setInterval(async () => {
    try {
      const next = await fileStamp([options.caFile, options.certFile, options.keyFile]);
      if (next === stamp) return;
      stamp = next;
      server.setSecureContext({ ...(await readContext()) });
      logger.log("info", "tls.reloaded", { backend: "node" });
    } catch {
      logger.log("error", "tls.reload_failed", { backend: "node" });
    }
  }, options.reloadIntervalMs);

  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const url = `https://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  logger.log("info", "node.listening", { url });
  return {
    url,
    served: () => served,
    close: async (drainMs = 30_000) => {
      clearInterval(reload);
      // Stop accepting; idle keep-alive connections from the router would otherwise hold close() open until
      // systemd's stop timeout. Requests in flight get until the drain deadline, then are cut.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = setTimeout(() => server.closeAllConnections(), drainMs);
      await closed;
      clearTimeout(deadline);
      upstream.close();
    },
  };
}

async function _handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: NodeServerOptions,
  upstream: ReturnType<typeof createSocketFetch>["fetch"],
  logger: Logger,
): Promise<boolean> {
  const route = `${req.method} ${(req.url ?? "").split("?")[0]}`;
  if (options.allowedSubjects && options.allowedSubjects.length > 0) {
    const socket = req.socket as unknown as { getPeerCertificate(): { subject?: { CN?: string } } };
    const cn = socket.getPeerCertificate()?.subject?.CN;
    if (!cn || !options.allowedSubjects.includes(cn)) {
      logger.log("warn", "node.client_refused", { reason: "subject_not_allowed" });
      res.writeHead(403, { "content-type": "application/json" }).end('{"error":{"code":"forbidden"}}');
      return false;
    }
  }
  if (!_ROUTES.has(route)) {
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"code":"not_found"}}');
    return false;
  }
  const body = req.method === "POST" ? await _readBody(req, options.maxBodyBytes) : undefined;
  if (body === null) {
    res.writeHead(413, { "content-type": "application/json" }).end('{"error":{"code":"request_too_large"}}');
    return false;
  }
  // The gateway going away (stream closed) must stop generation here too.
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  const response = await upstream(route.split(" ")[1], { method: req.method, body, signal: abort.signal });
  res.writeHead(response.status, {
    "content-type": response.headers.get("content-type") ?? "application/json",
    "cache-control": "no-store",
  });
  if (response.body) {
    for await (const chunk of response.body) {
      if (abort.signal.aborted) break;
      res.write(chunk);
    }
  }
  res.end();
  return true;
}

function _readBody(req: IncomingMessage, maxBytes: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let total = 0;
    req.on("data", (chunk: Uint8Array) => {
      total += chunk.byteLength;
      if (total > maxBytes) {
        req.destroy();
        resolve(null);
        return;
      }
      parts.push(chunk);
    });
    req.on("end", () => resolve(new TextDecoder().decode(concat(...parts))));
    req.on("error", reject);
  });
}
