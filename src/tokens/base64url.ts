/**
 * Unpadded base64url (RFC 4648 §5) for the JSON envelopes and key sets: the strict codec of
 * src/crypto/bytes.ts (one textual form per byte string), without `node:buffer`, so the app SDK that
 * bundles the wallet runs in browsers and on React Native too.
 */
export { fromBase64Url, toBase64Url } from "../crypto/bytes.ts";
