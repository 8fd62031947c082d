/**
 * The HTTP(S) listener: the edge, the gateway's only HTTP server.
 *
 *   client ─TCP/TLS─▶ accept loop (connection caps) ─▶ guardConnection (timeouts, bounds, one request)
 *          ─▶ handler(request, connection) in process ─▶ response_writer.ts ─▶ client
 *
 * `Deno.serve` cannot time out a head or a body, nor cap connections (issue #10: a half-sent head was
 * kept 70 s and counting), and Deno's node:http server accepts `headersTimeout`/`requestTimeout` but does
 * not enforce them (measured with Deno 2.9.6: a half-sent head and a short body both still open after 8 s
 * with 2 s and 3 s set). So the edge owns the sockets, reads each request under its bounds and calls the
 * application itself (until issue 15 it relayed to a `Deno.serve` on a private UNIX socket: a second HTTP
 * server, connection and copy per request, docs/benchmarks.md). The client's address reaches the handler
 * as an argument, never as a field a client could send. With TLS files configured the edge serves HTTPS on
 * node:tls (HTTP/1.1 only: the edge bounds HTTP/1.1 framing; HTTP/2 and HTTP/3 belong to a front proxy)
 * and swaps in a renewed certificate when the files change (certbot renewals) without dropping
 * connections.
 */
import { fileStamp } from "../config/mod.ts";
import { networkOf } from "../limits/mod.ts";
import type { Logger } from "../observability/mod.ts";
import type { Socket } from "node:net";
import tls from "node:tls";
import { type ConnectionLimits, type EdgeOutcome, guardConnection } from "./connection_guard.ts";
import { type EdgeConn, NodeSocketConn } from "./node_socket_conn.ts";

/** What the application learns about the client connection of a request. */
export interface ClientConnection {
  peer: string;
  /** Aborted when the client connection ends (the client left, or a deadline closed it). */
  closed: AbortSignal;
}

/** Listener settings. */
export interface ListenerOptions {
  hostname: string;
  port: number;
  tls?: { certFile: string; keyFile: string; reloadIntervalMs: number };
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
  /** Sum of the bodies being collected at once (each is held whole until complete). */
  maxBodyBytesInFlight: number;
}

/** A running listener. */
export interface Listener {
  url: string;
  /**
   * Stops accepting and resolves when in-flight requests have finished, or `drainMs` has passed: then
   * every remaining connection is closed (a request still being read must not hold shutdown).
   */
  shutdown(drainMs?: number): Promise<void>;
}

/** Starts serving `handler` behind the edge. */
export async function listen(
  options: ListenerOptions,
  handler: (request: Request, connection: ClientConnection) => Response | Promise<Response>,
  logger: Logger,
): Promise<Listener> {
  const readTls = async () =>
    options.tls
      ? {
        cert: await Deno.readTextFile(options.tls.certFile),
        key: await Deno.readTextFile(options.tls.keyFile),
      }
      : undefined;

  const perNetwork = new Map<string, number>();
  const open = new Set<Promise<void>>();
  // Connections that have not sent a whole request yet: closed at once on shutdown, never waited for.
  const idle = new Map<Promise<void>, AbortController>();
  let total = 0;
  /** Counts a new connection against the caps; returns its release, or undefined when refused. */
  const admit = (peer: string): (() => void) | undefined => {
    const network = options.exemptFromNetworkCap?.(peer) ? undefined : networkOf(peer);
    // One subscriber often holds a whole IPv6 /56 (256 /64 networks): the /56 as a whole gets
    // _PREFIX_SHARE times one network's cap (review of the edge).
    const prefix = network?.endsWith("::/64") ? _prefix56(network) : undefined;
    const keys = [network, prefix].filter((k): k is string => k !== undefined);
    const caps = [
      options.edge.maxConnectionsPerNetwork,
      options.edge.maxConnectionsPerNetwork * _PREFIX_SHARE,
    ];
    if (
      total >= options.edge.maxConnections ||
      keys.some((key, i) => (perNetwork.get(key) ?? 0) >= caps[i])
    ) {
      options.onOutcome?.("connection_limit");
      return undefined;
    }
    total++;
    for (const key of keys) perNetwork.set(key, (perNetwork.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      total--;
      for (const key of keys) {
        const left = (perNetwork.get(key) ?? 1) - 1;
        if (left === 0) perNetwork.delete(key);
        else perNetwork.set(key, left);
      }
    };
  };
  // Bodies being collected hold memory until complete: one process-wide budget bounds their sum.
  let bodyBytes = 0;
  const force = new AbortController();
  const hooks = {
    onOutcome: (o: EdgeOutcome) => options.onOutcome?.(o),
    reserveBody: (n: number) => {
      if (bodyBytes + n > options.edge.maxBodyBytesInFlight) return false;
      bodyBytes += n;
      return true;
    },
    releaseBody: (n: number) => {
      bodyBytes -= n;
    },
  };
  const guard = (conn: EdgeConn, peer: string, release: () => void, elapsedMs = 0) => {
    // The application learns when the client leaves, also before its answer starts (a queued request
    // then stops waiting).
    const closed = new AbortController();
    const kill = new AbortController();
    const connection = { peer, closed: closed.signal };
    const done: Promise<void> = guardConnection(
      conn,
      (request) => handler(request, connection),
      options.edge,
      {
        ...hooks,
        force: AbortSignal.any([force.signal, kill.signal]),
        elapsedMs,
        onClose: () => closed.abort(),
        onRequest: () => idle.delete(done),
      },
    )
      .finally(() => {
        release();
        open.delete(done);
        idle.delete(done);
      });
    open.add(done);
    idle.set(done, kill);
  };

  const server = options.tls
    ? await _serveTls(options, (await readTls())!, admit, guard)
    : _servePlain(options, admit, guard);
  const address = server.address;
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
        // New connections get the new certificate; open ones keep theirs.
        server.reload((await readTls())!);
        stamp = next;
        logger.log("info", "tls.reloaded", {});
      } catch {
        // Keep serving the old certificate: a half-written renewal must not take the gateway down.
        logger.log("error", "tls.reload_failed", {});
      }
    }, options.tls.reloadIntervalMs);
  }

  return {
    url,
    shutdown: async (drainMs = 30_000) => {
      if (timer !== undefined) clearInterval(timer);
      await server.close();
      // In-flight requests finish until the drain deadline; then the edge closes every connection left,
      // which ends the application's requests too (their answers are cancelled).
      for (const kill of idle.values()) kill.abort();
      let deadline: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(open),
        new Promise((resolve) => deadline = setTimeout(resolve, drainMs)),
      ]);
      clearTimeout(deadline);
      force.abort();
      await Promise.race([
        Promise.all(open),
        new Promise((resolve) => setTimeout(resolve, 1_000)),
      ]);
    },
  };
}

interface _Server {
  address: { hostname: string; port: number };
  reload(tls: { cert: string; key: string }): void;
  close(): Promise<void>;
}

type _Admit = (peer: string) => (() => void) | undefined;
type _Guard = (conn: EdgeConn, peer: string, release: () => void, elapsedMs?: number) => void;

/** Plain HTTP: Deno's own TCP listener and connections. */
function _servePlain(options: ListenerOptions, admit: _Admit, guard: _Guard): _Server {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const accepting = (async () => {
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
      // Each streamed chunk is one write that must leave at once (no Nagle delay), as on the TLS path.
      (conn as Deno.TcpConn).setNoDelay(true);
      const release = admit(peer);
      if (!release) {
        try {
          conn.close();
        } catch { /* already closed */ }
        continue;
      }
      guard(conn, peer, release);
    }
  })();
  return {
    address: listener.addr as Deno.NetAddr,
    reload() {},
    close: async () => {
      try {
        listener.close();
      } catch { /* already closed */ }
      await accepting;
    },
  };
}

/**
 * HTTPS on node:tls (see node_socket_conn.ts for why not Deno.listenTls): the caps apply to the raw TCP
 * connection, the handshake runs against the head's deadline, and a renewed certificate is swapped in
 * with setSecureContext.
 */
async function _serveTls(
  options: ListenerOptions,
  tlsFiles: { cert: string; key: string },
  admit: _Admit,
  guard: _Guard,
): Promise<_Server> {
  const server = tls.createServer({ ...tlsFiles, ALPNProtocols: ["http/1.1"] });
  // Raw connections waiting for their handshake, by remote address and port (the TLSSocket that follows
  // has the same pair).
  const accepted = new Map<string, { at: number; timer: ReturnType<typeof setTimeout> }>();
  const key = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;
  server.on("connection", (raw: Socket) => {
    const release = admit(raw.remoteAddress ?? "");
    if (!release) return raw.destroy();
    const timer = setTimeout(() => {
      options.onOutcome?.("head_timeout");
      raw.destroy();
    }, options.edge.headTimeoutMs);
    const id = key(raw);
    accepted.set(id, { at: performance.now(), timer });
    raw.on("close", () => {
      clearTimeout(timer);
      accepted.delete(id);
      release();
    });
    raw.on("error", () => {});
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    const entry = accepted.get(key(socket));
    if (!entry) return socket.destroy();
    clearTimeout(entry.timer);
    socket.setNoDelay(true);
    // The raw socket's "close" releases the caps; the guard only ends the TLS socket.
    guard(new NodeSocketConn(socket), socket.remoteAddress ?? "", () => {}, performance.now() - entry.at);
  });
  server.on("tlsClientError", () => options.onOutcome?.("refused_head"));
  const listening = Promise.withResolvers<void>();
  server.once("error", listening.reject);
  server.listen(options.port, options.hostname, () => listening.resolve());
  await listening.promise;
  const { address, port } = server.address() as { address: string; port: number };
  return {
    address: { hostname: address, port },
    reload: (files) => server.setSecureContext({ ...files }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** How many networks' worth of connections one IPv6 /56 may hold. */
const _PREFIX_SHARE = 4;

/** The /56 of a /64 network key (`a:b:c:d::/64` → `a:b:c:d00::/56`-style key, only used for counting). */
function _prefix56(network: string): string {
  const groups = network.slice(0, -"::/64".length).split(":");
  const fourth = parseInt(groups[3] ?? "0", 16) & 0xff00;
  return `${groups.slice(0, 3).join(":")}:${fourth.toString(16)}::/56`;
}
