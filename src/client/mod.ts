/** Client SDK for apps: verify keys, seal requests, open streamed answers. */
export { type ChatInput, GatewayClient, type GatewayClientOptions, GatewayRequestError } from "./client.ts";
export { KeyVerificationError, type UsableKey, verifyPubkeyDocument } from "./keys.ts";
export { type ChatEvent, ResponseIntegrityError } from "../protocol/mod.ts";
