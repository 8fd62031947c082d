/**
 * The HTTP(S) listener: the edge in front of the application.
 *
 *   client ─TCP/TLS─▶ accept loop (connection caps) ─▶ guardConnection (timeouts, bounds)
 *          ─UNIX socket in the private runtime directory─▶ Deno.serve ─▶ handler(request, peer)
 *
 * `Deno.serve` cannot time out a head or a body, nor cap connections (measured: issue #10), so the edge
 * owns the sockets and the application's server listens only on a 0600 socket in a 0700 directory. The
 * client's address travels to the handler in the edge's own field (request_head.ts), which clients cannot
 * send. With TLS files configured the edge serves HTTPS (HTTP/1.1 only: the edge bounds HTTP/1.1
 * framing; HTTP/2 and HTTP/3 belong to a front proxy) and reloads the certificate when the files change
 * (certbot renewals) without dropping connections: a new TLS listener binds the same port
 * (SO_REUSEPORT), then the old one stops accepting.
 */
import { fileStamp } from "../config/mod.ts";
import { networkOf } from "../limits/mod.ts";
import type { Logger } from "../observability/mod.ts";
import { type ConnectionLimits, type EdgeOutcome, guardConnection } from "./connection_guard.ts";
import { PEER_FIELD } from "./request_head.ts";

/** Listener settings. */
export interface ListenerOptions {
  hostname: string;
  port: number;
  tls?: { certFile: string; keyFile: string; reloadIntervalMs: number };
  /** Private directory (0700) for the application's UNIX socket. */
  socketDir: string;
  /** Socket file name inside `socketDir` (one per listener). */
  socketName: string;
  edge: EdgeLimits;
  /** Peers exempt from the per-network cap (a trusted front proxy carries many networks). */
  exemptFromNetworkCap?: (peer: string) => boolean;
  /** Observes early ends and refused connections (metrics; never an address). */
  onOutcome?: (outcome: EdgeOutcome | "connection_limit") => void;
}

/** Connection-level limits: the per-connection bounds plus the caps. */
export interface EdgeLimits extends ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerNetwork: number;
}

/** A running listener. */
export interface Listener {
  url: string;
  /** Open client connections (metrics). */
  connections(): number;
  /** Stops accepting and resolves when in-flight requests have finished. */
  shutdown(): Promise<void>;
}

/** Starts serving `handler` behind the edge. */
export async function listen(
  options: ListenerOptions,
  handler: (request: Request, peer: string) => Response | Promise<Response>,
  logger: Logger,
): Promise<Listener> {
  const socketPath = `${options.socketDir}/${options.socketName}`;
  await _removeStaleSocket(socketPath);
  const app = await _serveApp(socketPath, handler);

  const readTls = async () =>
    options.tls
      ? {
        cert: await Deno.readTextFile(options.tls.certFile),
        key: await Deno.readTextFile(options.tls.keyFile),
      }
      : undefined;
  const open = (port: number, tls: { cert: string; key: string } | undefined): Deno.Listener =>
    tls
      ? Deno.listenTls(
        {
          hostname: options.hostname,
          port,
          ...tls,
          alpnProtocols: ["http/1.1"],
          // Only needed to hand the port over on certificate reload.
          reusePort: true,
        } as Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem,
      )
      : Deno.listen({ hostname: options.hostname, port });

  const perNetwork = new Map<string, number>();
  const open_ = new Set<Promise<void>>();
  let total = 0;
  const accept = async (listener: Deno.Listener) => {
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) return;
        // Out of descriptors or a transient accept error: back off briefly instead of spinning.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const peer = (conn.remoteAddr as Deno.NetAddr).hostname;
      const network = options.exemptFromNetworkCap?.(peer) ? undefined : networkOf(peer);
      const mine = network === undefined ? 0 : perNetwork.get(network) ?? 0;
      if (total >= options.edge.maxConnections || mine >= options.edge.maxConnectionsPerNetwork) {
        options.onOutcome?.("connection_limit");
        try {
          conn.close();
        } catch { /* already closed */ }
        continue;
      }
      total++;
      if (network !== undefined) perNetwork.set(network, mine + 1);
      const done = guardConnection(conn, peer, socketPath, options.edge, (o) => options.onOutcome?.(o))
        .finally(() => {
          total--;
          if (network !== undefined) {
            const left = (perNetwork.get(network) ?? 1) - 1;
            if (left === 0) perNetwork.delete(network);
            else perNetwork.set(network, left);
          }
          open_.delete(done);
        });
      open_.add(done);
    }
  };

  let current = open(options.port, await readTls());
  const address = current.addr as Deno.NetAddr;
  let accepting = accept(current);
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  const url = `${options.tls ? "https" : "http"}://${host}:${address.port}`;

  let timer: ReturnType<typeof setInterval> | undefined;
  if (options.tls) {
    const files = [options.tls.certFile, options.tls.keyFile];
    const stampOf = () => fileStamp(files);
    let stamp = await stampOf();
    timer = setInterval(async () => {
      try {
        const next = await stampOf();
        if (next === stamp) return;
        const replacement = open(address.port, await readTls());
        stamp = next;
        const old = current;
        current = replacement;
        old.close();
        accepting = accept(replacement);
        logger.log("info", "tls.reloaded", {});
      } catch {
        // Keep serving the old certificate: a half-written renewal must not take the gateway down.
        logger.log("error", "tls.reload_failed", {});
      }
    }, options.tls.reloadIntervalMs);
  }

  return {
    url,
    connections: () => total,
    shutdown: async () => {
      if (timer !== undefined) clearInterval(timer);
      try {
        current.close();
      } catch { /* already closed */ }
      await accepting;
      // In-flight requests finish (the caller's drain deadline cuts them); the edge connections end
      // with them, and connections still sending a head are not waited for.
      await app.shutdown();
      await Promise.race([Promise.all(open_), new Promise((resolve) => setTimeout(resolve, 1_000))]);
      await _removeStaleSocket(socketPath);
    },
  };
}

async function _serveApp(
  path: string,
  handler: (request: Request, peer: string) => Response | Promise<Response>,
): Promise<Deno.HttpServer> {
  const bound = Promise.withResolvers<void>();
  const server = Deno.serve(
    { path, onListen: () => bound.resolve() },
    (request) => handler(request, request.headers.get(PEER_FIELD) ?? ""),
  );
  await bound.promise;
  await Deno.chmod(path, 0o600);
  return server;
}

/** Removes a leftover socket file, and only a socket: never a regular file someone placed there. */
async function _removeStaleSocket(path: string): Promise<void> {
  try {
    if ((await Deno.lstat(path)).isSocket) await Deno.remove(path);
  } catch { /* absent */ }
}
