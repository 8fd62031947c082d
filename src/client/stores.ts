/**
 * Where the app keeps the SDK's secrets between launches: the device key seed and unspent Privacy Pass
 * tokens. {@link SecretStore} is the shape of expo-secure-store (`getItemAsync`/`setItemAsync`), the
 * Keychain or Keystore; examples/expo-chat adapts expo-secure-store (behind biometrics) to it.
 */
import { fromBase64Url, toBase64Url } from "../crypto/bytes.ts";
import type { StoredToken, TokenStore } from "../tokens/wallet.ts";
import type { ClientCrypto } from "./platform_crypto.ts";

/** A small string store for secrets (values are base64url or JSON). */
export interface SecretStore {
  get(name: string): Promise<string | null>;
  set(name: string, value: string): Promise<void>;
}

/** An in-memory {@link SecretStore} (tests; a web page without persistence). */
export class MemorySecretStore implements SecretStore {
  #items = new Map<string, string>();
  get(name: string): Promise<string | null> {
    return Promise.resolve(this.#items.get(name) ?? null);
  }
  set(name: string, value: string): Promise<void> {
    this.#items.set(name, value);
    return Promise.resolve();
  }
}

/** The stored device key seed, made and stored on first use. */
export async function loadDeviceKey(
  store: SecretStore,
  crypto: ClientCrypto,
  name = "privacy-gateway.device-key",
): Promise<Uint8Array<ArrayBuffer>> {
  const stored = await store.get(name);
  const seed = stored === null ? undefined : fromBase64Url(stored);
  if (seed?.byteLength === 32) return seed;
  const fresh = crypto.randomBytes(32);
  await store.set(name, toBase64Url(fresh));
  return fresh;
}

/** A {@link TokenStore} on a {@link SecretStore} (tokens are bearer secrets: keep them there). */
export function secretTokenStore(store: SecretStore, name = "privacy-gateway.tokens"): TokenStore {
  return {
    load: async () => {
      const text = await store.get(name);
      if (!text) return [];
      try {
        const parsed = JSON.parse(text);
        return Array.isArray(parsed) ? parsed as StoredToken[] : [];
      } catch {
        return [];
      }
    },
    save: (tokens) => store.set(name, JSON.stringify(tokens)),
  };
}
