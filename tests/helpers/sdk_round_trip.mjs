// One SDK round trip, run unchanged by Deno, Node (from the installed npm package) and Chromium (the page
// in tests/sdk_browser_test.ts): verify the pinned key set, send one streamed chat, collect the answer.
// `sdk` is the package's namespace; `backend` picks the crypto ("webcrypto", "noble" or "detect").

/** @returns {Promise<{ text: string, crypto: string, events: string[] }>} */
export async function sdkRoundTrip(sdk, { baseUrl, pin, backend, message }) {
  const crypto = backend === "noble"
    ? sdk.nobleCrypto()
    : backend === "webcrypto"
    ? sdk.webCrypto()
    : await sdk.detectCrypto();
  const store = new sdk.MemorySecretStore();
  const deviceKey = await sdk.loadDeviceKey(store, crypto);
  const client = new sdk.GatewayClient({ baseUrl, pin, crypto, deviceKey });
  let text = "";
  const events = [];
  for await (const event of client.chat({ messages: [{ role: "user", content: message }] })) {
    events.push(event.type);
    if (event.type === "text") text += event.delta;
  }
  return { text, crypto: crypto.name, events };
}
