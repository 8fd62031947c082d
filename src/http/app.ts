/**
 * The Hono application: routes, clear-text error mapping, and security headers. One place maps
 * GatewayError to HTTP; anything else becomes `internal_error` with no stack trace or detail.
 */
import { Hono } from "hono";
import type { Logger, Metrics } from "../observability/mod.ts";
import { GatewayError, OHTTP_KEYS_TYPE, toGatewayError } from "../protocol/mod.ts";
import { type ChatHandlerDeps, handleChat } from "./chat_handler.ts";
import type { KeyPublisher } from "./key_publisher.ts";
import { readBodyLimited } from "./read_body.ts";
import { clientAddress, networkOf } from "../limits/mod.ts";
import { issuanceHandler, type Issuer } from "../tokens/mod.ts";

/** RFC 9458 §9.5: the problem type of a key configuration problem. */
export const OHTTP_KEY_PROBLEM_TYPE = "https://iana.org/assignments/http-problem-types#ohttp-key";

/** Everything the app needs, built by main.ts. */
export interface AppDeps {
  chat: Omit<ChatHandlerDeps, "onFinished">;
  publisher: KeyPublisher;
  logger: Logger;
  /** Whether keys are loaded and at least one backend is ready. */
  ready: () => boolean;
  /** Served at /metrics here unless metrics have their own listener. */
  metrics?: Metrics;
  /** Token mode: the issuer behind `POST /api/tokens` (docs/privacy-pass.md). */
  issuer?: Issuer;
}

/** Per-connection values the listener passes in (never logged). */
export interface ConnectionInfo {
  peer: string;
  /** Aborted when the client connection ends (from the edge). */
  closed?: AbortSignal;
}

/** Builds the gateway's HTTP application. */
export function createApp(deps: AppDeps): Hono<{ Bindings: ConnectionInfo }> {
  const app = new Hono<{ Bindings: ConnectionInfo }>();

  app.use(async (c, next) => {
    await next();
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "no-referrer");
  });

  app.get("/api/pubkey", async (c) => {
    const { document } = await deps.publisher.current();
    c.header("cache-control", `public, max-age=${deps.publisher.maxAgeSeconds()}`);
    return c.json(document);
  });

  app.get("/.well-known/ohttp-gateway", async (c) => {
    const { ohttpKeys } = await deps.publisher.current();
    return c.body(ohttpKeys, 200, {
      "content-type": OHTTP_KEYS_TYPE,
      "cache-control": `public, max-age=${deps.publisher.maxAgeSeconds()}`,
    });
  });

  app.post("/api/chat", (c) =>
    handleChat(c.req.raw, c.env?.peer ?? "", c.env?.closed ?? c.req.raw.signal, {
      ...deps.chat,
      onFinished: ({ status, code, durationMs }) =>
        deps.logger.log("info", "request.finished", {
          route: "chat",
          status,
          code,
          outcome: code ?? "ok",
          duration_ms: Math.round(durationMs),
        }),
    }));

  const issuer = deps.issuer;
  if (issuer) {
    // Issuance is not anonymous (the device proves itself); it is limited per device and per network.
    const issue = issuanceHandler({
      issuer,
      readBody: readBodyLimited,
      network: (c) => {
        const peer = (c.env as ConnectionInfo | undefined)?.peer ?? "";
        const address = clientAddress(
          peer,
          c.req.header("x-forwarded-for") ?? null,
          deps.chat.trustedProxies,
        );
        return deps.chat.hasher.hash("net", networkOf(address));
      },
    });
    app.post("/api/tokens", async (c) => {
      const response = await issue(c);
      deps.logger.log("info", "request.finished", {
        route: "tokens",
        status: response.status,
        outcome: response.status === 200 ? "ok" : "refused",
      });
      return response;
    });
  }

  app.get("/health", (c) => c.json({ status: "ok" }));
  const metrics = deps.metrics;
  if (metrics) {
    app.get(
      "/metrics",
      async (c) => c.body(await metrics.text(), 200, { "content-type": metrics.contentType }),
    );
  }
  app.get("/ready", (c) => deps.ready() ? c.json({ status: "ready" }) : c.json({ status: "not_ready" }, 503));

  app.notFound((c) => {
    const known = ["/api/chat", "/api/pubkey", "/.well-known/ohttp-gateway", "/health", "/ready"];
    if (metrics) known.push("/metrics");
    if (issuer) known.push("/api/tokens");
    const error = new GatewayError(known.includes(c.req.path) ? "method_not_allowed" : "not_found");
    return c.json(error.toBody(), error.status as 404);
  });

  app.onError((error, c) => {
    const failure = toGatewayError(error);
    if (failure.code === "internal_error") {
      deps.logger.log("error", "request.finished", { route: "other", status: 500, code: "internal_error" });
    } else if (c.req.path === "/api/chat") {
      deps.logger.log("info", "request.finished", {
        route: "chat",
        status: failure.status,
        code: failure.code,
        outcome: failure.code,
      });
    }
    if (c.req.path === "/api/chat") {
      deps.chat.metrics?.requestRefused("chat", failure.status, failure.code);
    }
    if (failure.retryAfterSeconds) c.header("retry-after", String(failure.retryAfterSeconds));
    c.header("cache-control", "no-store");
    if (failure.code === "unknown_key_id" || failure.code === "unsupported_suite") {
      // RFC 9458 §5.3: a key configuration problem is a 422 with the ohttp-key problem type (RFC 9457).
      const problem = { type: OHTTP_KEY_PROBLEM_TYPE, title: failure.message, ...failure.toBody() };
      return c.body(JSON.stringify(problem), 422, { "content-type": "application/problem+json" });
    }
    return c.json(failure.toBody(), failure.status as 400);
  });

  return app;
}
