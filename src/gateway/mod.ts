/**
 * The parts main.ts assembles a gateway from: identity, key ring and rotation, limit secrets, inference,
 * the metrics listener and the node role. Each builder takes its settings explicitly; none reads
 * `Deno.env` or `Deno.args`.
 */
export { type HostPort, parseHostPort } from "./host_port.ts";
export { loadGatewayIdentity } from "./identity.ts";
export {
  type KeyRotationOptions,
  KEYS_FILE_POLL_MS,
  loadKeyRing,
  MAX_ROTATION_CHECK_MS,
  startKeyRotation,
} from "./key_rotation.ts";
export { deriveLimitSecrets, type LimitSecrets } from "./limit_secrets.ts";
export { startMetricsListener } from "./metrics_listener.ts";
export { buildInference, type Inference, type LocalLlama, startLocalLlama } from "./inference.ts";
export { type NodeDeps, type RunningNode, startNode } from "./node.ts";
export { buildTokens, type TokenDeps, type Tokens } from "./tokens.ts";
