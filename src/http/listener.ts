/**
 * The HTTP(S) listener. With TLS files configured it serves HTTPS itself and reloads the certificate when
 * the files change (certbot renewals) without dropping streams: a new listener with the new certificate
 * binds the same port (SO_REUSEPORT), then the old one stops accepting and drains.
 */
import { fileStamp } from "../config/mod.ts";
import type { Logger } from "../observability/mod.ts";

/** Listener settings. */
export interface ListenerOptions {
  hostname: string;
  port: number;
  tls?: { certFile: string; keyFile: string; reloadIntervalMs: number };
}

/** A running listener. */
export interface Listener {
  url: string;
  /** Stops accepting and resolves when in-flight requests have finished. */
  shutdown(): Promise<void>;
}

/** Starts serving `handler`. */
export async function listen(
  options: ListenerOptions,
  handler: (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
  logger: Logger,
): Promise<Listener> {
  const readTls = async () =>
    options.tls
      ? {
        cert: await Deno.readTextFile(options.tls.certFile),
        key: await Deno.readTextFile(options.tls.keyFile),
      }
      : undefined;
  const start = (port: number, tls: { cert: string; key: string } | undefined) => {
    const bound = Promise.withResolvers<{ hostname: string; port: number }>();
    const server = Deno.serve({
      hostname: options.hostname,
      port,
      ...(tls ?? {}),
      // Only needed to hand the port over on certificate reload.
      reusePort: tls !== undefined,
      onListen: (addr) => bound.resolve(addr),
    }, handler);
    return { server, bound: bound.promise };
  };

  let current = start(options.port, await readTls());
  const address = await current.bound;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  const url = `${options.tls ? "https" : "http"}://${host}:${address.port}`;
  const retired: Promise<void>[] = [];

  let timer: ReturnType<typeof setInterval> | undefined;
  if (options.tls) {
    const files = [options.tls.certFile, options.tls.keyFile];
    const stampOf = () => fileStamp(files);
    let stamp = await stampOf();
    timer = setInterval(async () => {
      try {
        const next = await stampOf();
        if (next === stamp) return;
        const replacement = start(address.port, await readTls());
        await replacement.bound;
        stamp = next;
        const old = current;
        current = replacement;
        retired.push(old.server.shutdown());
        logger.log("info", "tls.reloaded", {});
      } catch {
        // Keep serving the old certificate: a half-written renewal must not take the gateway down.
        logger.log("error", "tls.reload_failed", {});
      }
    }, options.tls.reloadIntervalMs);
  }

  return {
    url,
    shutdown: async () => {
      if (timer !== undefined) clearInterval(timer);
      await Promise.all([current.server.shutdown(), ...retired]);
    },
  };
}
