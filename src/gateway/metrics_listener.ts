/** A second listener that serves only `/metrics`, so scrapers need not reach the public address. */
import { listen, type Listener } from "../http/mod.ts";
import type { Logger, Metrics } from "../observability/mod.ts";
import { parseHostPort } from "./host_port.ts";

/** Serves `metrics` at `/metrics` on `address` (`host:port`); every other path is 404. */
export function startMetricsListener(address: string, metrics: Metrics, logger: Logger): Promise<Listener> {
  return listen(
    parseHostPort(address),
    async (request) =>
      new URL(request.url).pathname === "/metrics"
        ? new Response(await metrics.text(), { headers: { "content-type": metrics.contentType } })
        : new Response("Not found", { status: 404 }),
    logger,
  );
}
