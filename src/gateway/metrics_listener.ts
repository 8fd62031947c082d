/** A second listener that serves only `/metrics`, so scrapers need not reach the public address. */
import { type EdgeLimits, listen, type Listener } from "../http/mod.ts";
import type { Logger } from "../observability/mod.ts";
import { parseHostPort } from "./host_port.ts";

/** The edge's limits for the metrics listener (src/http/listener.ts). */
export interface EdgeSettings {
  limits: EdgeLimits;
  onOutcome: (outcome: string) => void;
}

/** Serves `metrics` at `/metrics` on `address` (`host:port`); every other path is 404. */
export function startMetricsListener(
  address: string,
  metrics: { text(): Promise<string>; contentType: string },
  edge: EdgeSettings,
  logger: Logger,
): Promise<Listener> {
  return listen(
    {
      ...parseHostPort(address),
      edge: edge.limits,
      onOutcome: edge.onOutcome,
    },
    async (request) =>
      new URL(request.url).pathname === "/metrics"
        ? new Response(await metrics.text(), { headers: { "content-type": metrics.contentType } })
        : new Response("Not found", { status: 404 }),
    logger,
  );
}
