/**
 * The app SDK's crypto backends (issue #16): sealing one chat request (HPKE setup + seal) and deriving the
 * response keys and opening one chunk, on WebCrypto (+ noble where WebCrypto has no algorithm) and on
 * noble alone (the React Native path). Results: docs/native-clients.md and packages/client/README.md.
 */
import { KEM_X25519, KEM_XWING, KeyRing } from "../src/crypto/mod.ts";
import { nobleCrypto } from "../src/client/noble_crypto.ts";
import { webCrypto } from "../src/client/platform_crypto.ts";
import { responseOpener, sealRequest } from "../src/client/ohttp_client.ts";

const ring = await KeyRing.generate(1000, 3600);
const request = new Uint8Array(2048);
const nonce = new Uint8Array(32);

for (const [name, c] of [["webcrypto", webCrypto()], ["noble", nobleCrypto()]] as const) {
  for (const [kemName, kemId] of [["X-Wing", KEM_XWING], ["X25519", KEM_X25519]] as const) {
    const key = ring.keys.find((k) => k.kemId === kemId)!;
    Deno.bench(`seal 2 KiB request + response keys, ${kemName}, ${name}`, { group: kemName }, async () => {
      const sealed = await sealRequest(c, key, request, { chunked: true, aeadId: 0x0003 });
      await responseOpener(c, sealed, nonce);
    });
  }
}
