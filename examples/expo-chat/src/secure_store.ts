/**
 * The SDK's SecretStore on expo-secure-store (iOS Keychain, Android Keystore-backed storage). The device key
 * seed is stored with `requireAuthentication`, so reading it needs Face ID / Touch ID / the fingerprint
 * (once per launch here: the client keeps the seed in memory afterwards). Tokens are bearer secrets too but
 * change on every request, so they are stored without a biometric prompt, this device only.
 */
import type { SecretStore } from "@privacy-gateway/client";
import * as SecureStore from "expo-secure-store";

const _DEVICE_KEY_OPTIONS: SecureStore.SecureStoreOptions = {
  requireAuthentication: true,
  authenticationPrompt: "Unlock your private chat",
  keychainAccessible: SecureStore.WHEN_PASSCODE_SET_THIS_DEVICE_ONLY,
};
const _TOKEN_OPTIONS: SecureStore.SecureStoreOptions = {
  keychainAccessible: SecureStore.AFTER_FIRST_UNLOCK_THIS_DEVICE_ONLY,
};

/** expo-secure-store keys allow only [A-Za-z0-9._-]: the SDK's names already fit. */
export const secureStore: SecretStore = {
  get: (name) => SecureStore.getItemAsync(name, _options(name)),
  set: (name, value) => SecureStore.setItemAsync(name, value, _options(name)),
};

function _options(name: string): SecureStore.SecureStoreOptions {
  return name.endsWith("device-key") ? _DEVICE_KEY_OPTIONS : _TOKEN_OPTIONS;
}
