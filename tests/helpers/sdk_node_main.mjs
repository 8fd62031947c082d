// Node entry of the package round trip (tests/sdk_package_test.ts): imports the installed npm package by
// name, optionally removes WebCrypto first, prints the result as JSON.
// Usage: node sdk_node_main.mjs <baseUrl> <pin> <backend> [--no-webcrypto]
import { sdkRoundTrip } from "./sdk_round_trip.mjs";

const [baseUrl, pin, backend, flag] = process.argv.slice(2);
if (flag === "--no-webcrypto") {
  // An engine without crypto.subtle, as Hermes: only getRandomValues stays (React Native polyfills it).
  const getRandomValues = globalThis.crypto.getRandomValues.bind(globalThis.crypto);
  Object.defineProperty(globalThis, "crypto", { value: { getRandomValues }, configurable: true });
}
const sdk = await import("@privacy-gateway/client");
try {
  const result = await sdkRoundTrip(sdk, { baseUrl, pin, backend, message: "hello from node" });
  console.log(JSON.stringify(result));
} catch (error) {
  console.log(JSON.stringify({ error: error?.code ?? error?.message, kind: sdk.errorKind(error) }));
}
