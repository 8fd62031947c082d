/**
 * One GatewayClient for the app: pinned to the gateway's identity, crypto on noble (Hermes has no
 * WebCrypto) with Expo's native random source, answers streamed with `expo/fetch` (React Native's built-in
 * fetch buffers the whole body), the device key in secure storage behind biometrics.
 */
import { GatewayClient, loadDeviceKey, nobleCrypto, secretTokenStore } from "@privacy-gateway/client";
import Constants from "expo-constants";
import { getRandomBytes, getRandomValues } from "expo-crypto";
import { fetch as expoFetch } from "expo/fetch";
import { secureStore } from "./secure_store";

const extra = (Constants.expoConfig?.extra ?? {}) as { gatewayUrl?: string; gatewayPin?: string };

/** The pinned fingerprint ships with the app: `privacy-gateway keys show` prints it. Never fetched. */
export const GATEWAY = { url: extra.gatewayUrl ?? "", pin: extra.gatewayPin ?? "" };

// The token wallet draws from crypto.getRandomValues; Hermes has none of its own: expo-crypto's native one.
if (typeof globalThis.crypto?.getRandomValues !== "function") {
  (globalThis as { crypto?: unknown }).crypto = { getRandomValues };
}

let _client: Promise<GatewayClient> | undefined;

/** The app's client, made on first use (the biometric prompt appears then). */
export function gatewayClient(): Promise<GatewayClient> {
  _client ??= (async () => {
    const crypto = nobleCrypto((length) => new Uint8Array(getRandomBytes(length)));
    return new GatewayClient({
      baseUrl: GATEWAY.url,
      pin: GATEWAY.pin,
      crypto,
      fetch: expoFetch as unknown as typeof fetch,
      deviceKey: await loadDeviceKey(secureStore, crypto),
      tokenStore: secretTokenStore(secureStore),
      // The signed key set says whether the gateway wants Privacy Pass tokens (docs/privacy-pass.md); on
      // Hermes the SDK blinds them in pure JS. Tokens are bearer secrets: they live in secure storage too.
      auth: "auto",
    });
  })();
  _client.catch(() => (_client = undefined));
  return _client;
}
