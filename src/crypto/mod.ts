/** Cryptographic building blocks: the HPKE suite, key configs, signed key sets, key rotation, chunk AEAD. */
export * from "./bytes.ts";
export { hmacSha256, sha256 } from "./sha256.ts";
export * from "./suite.ts";
export * from "./key_config.ts";
export * from "./identity.ts";
export * from "./ed25519_key.ts";
export * from "./keyset.ts";
export * from "./token_keyset.ts";
export * from "./key_ring.ts";
export * from "./chunk_cipher.ts";
