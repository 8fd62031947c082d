/** Observability: an allow-list logger (metrics and traces plug in here). */
export * from "./logger.ts";
