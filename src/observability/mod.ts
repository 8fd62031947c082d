/** Observability: an allow-list logger, Prometheus metrics and OpenTelemetry spans, all content-free. */
export * from "./logger.ts";
export { Metrics, type MetricsSources } from "./metrics.ts";
export { endChatSpan, installTracing, RequestIdHasher, startChatSpan } from "./tracing.ts";
export { NodeMetrics } from "./node_metrics.ts";
export {
  certificateExpirySeconds,
  currentKeyAgeSeconds,
  type OperatorSources,
  registerOperatorGauges,
  SUPERVISOR_STATES,
} from "./operator_gauges.ts";
