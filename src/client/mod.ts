/** Client SDK for apps: verify keys, seal requests, open streamed answers. */
export {
  type ChatInput,
  CLOCK_CORRECTION_TTL_SECONDS,
  CLOCK_TOLERANCE_SECONDS,
  GatewayClient,
  type GatewayClientOptions,
  GatewayRequestError,
  MAX_CLOCK_CORRECTION_SECONDS,
} from "./client.ts";
export {
  type KeySetCheckOptions,
  KeyVerificationError,
  type UsableKey,
  verifyPubkeyDocument,
} from "./keys.ts";
export { type ChatEvent, ResponseIntegrityError } from "../protocol/mod.ts";
