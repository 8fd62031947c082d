/**
 * The app SDK, published as the npm package `@privacy-gateway/client` (packages/client/ builds this entry
 * with esbuild). It reaches only pure modules of src/crypto, src/protocol and src/tokens, never server code
 * (tests/sdk_package_test.ts checks the bundle's inputs). The gateway's CLI uses this same entry.
 */
export {
  type ChatInput,
  CLOCK_CORRECTION_TTL_SECONDS,
  CLOCK_TOLERANCE_SECONDS,
  GatewayClient,
  type GatewayClientOptions,
  MAX_CLOCK_CORRECTION_SECONDS,
} from "./client.ts";
export { type ErrorKind, errorKind, GatewayRequestError } from "./errors.ts";
export {
  type KeySetCheckOptions,
  KeyVerificationError,
  type UsableKey,
  verifyPubkeyDocument,
} from "./keys.ts";
export { type Aead, type ClientCrypto, detectCrypto, webCrypto } from "./platform_crypto.ts";
export { nobleCrypto } from "./noble_crypto.ts";
export { type DeviceSigner, deviceSigner, generateDeviceKey } from "./device_key.ts";
export { loadDeviceKey, MemorySecretStore, type SecretStore, secretTokenStore } from "./stores.ts";
// The HPKE sender and OHTTP sealing stay internal: their test seam takes a fixed ephemeral key (`ikm`),
// which reused would repeat enc, key and nonce (review of issue 16, finding 7).
export type { ChatEvent } from "../protocol/events.ts";
export type { ErrorCode } from "../protocol/errors.ts";
export { ResponseIntegrityError } from "../protocol/response_integrity_error.ts";
export { MemoryTokenStore, type StoredToken, type TokenStore } from "../tokens/wallet.ts";
