/**
 * Protocol v1 request envelope (docs/protocol.md §3):
 *
 *   Header  = version(8) = 1 ‖ key_id(8) ‖ kem_id(16) ‖ kdf_id(16) ‖ aead_id(16)
 *             ‖ timestamp(64, Unix seconds) ‖ request_id_length(8) ‖ request_id(16..32 bytes)
 *   Request = Header ‖ enc(Nenc = 32) ‖ ciphertext
 *   info    = "privacy-gateway request v1" ‖ 0x00 ‖ Header          aad = ""
 *
 * As in RFC 9458 §4.3 the whole header is bound into HPKE's `info`, so altering any field (version, key
 * id, suite, timestamp, request id) makes decryption fail. The label differs from OHTTP's because the
 * payload is a padded JSON chat request, not Binary HTTP.
 */
import { concat, readUintBE, uintBE, utf8 } from "../crypto/mod.ts";
import { AEAD_ID, KDF_ID, KEM_ID, PUBLIC_KEY_LENGTH } from "../crypto/mod.ts";
import { GatewayError } from "./errors.ts";

/** The only protocol version. */
export const PROTOCOL_VERSION = 1;
/** HPKE info label prefix for requests. */
export const REQUEST_INFO_LABEL = utf8("privacy-gateway request v1\0");
/** Request ids are random and long enough to be unique; bounded so they cannot bloat the replay set. */
export const REQUEST_ID_MIN_LENGTH = 16;
/** See {@link REQUEST_ID_MIN_LENGTH}. */
export const REQUEST_ID_MAX_LENGTH = 32;
/** Media type of an encapsulated request. */
export const REQUEST_MEDIA_TYPE = "application/x-privacy-gateway-request";
/** Media type of a non-streaming sealed response. */
export const RESPONSE_MEDIA_TYPE = "application/x-privacy-gateway-response";

const _FIXED_LENGTH = 1 + 1 + 2 + 2 + 2 + 8 + 1;

/** Decoded request header. */
export interface RequestHeader {
  version: number;
  keyId: number;
  kemId: number;
  kdfId: number;
  aeadId: number;
  timestamp: number;
  requestId: Uint8Array<ArrayBuffer>;
}

/** Encodes a header (client side). */
export function encodeRequestHeader(
  header: Omit<RequestHeader, "version" | "kemId" | "kdfId" | "aeadId">,
): Uint8Array<ArrayBuffer> {
  return concat(
    uintBE(PROTOCOL_VERSION, 1),
    uintBE(header.keyId, 1),
    uintBE(KEM_ID, 2),
    uintBE(KDF_ID, 2),
    uintBE(AEAD_ID, 2),
    uintBE(header.timestamp, 8),
    uintBE(header.requestId.byteLength, 1),
    header.requestId,
  );
}

/** The pieces of an encapsulated request, split without any crypto. */
export interface SplitRequest {
  header: RequestHeader;
  headerBytes: Uint8Array<ArrayBuffer>;
  enc: Uint8Array<ArrayBuffer>;
  ciphertext: Uint8Array<ArrayBuffer>;
}

/** Splits and checks an encapsulated request; throws a {@link GatewayError} naming what is wrong. */
export function splitRequest(body: Uint8Array<ArrayBuffer>): SplitRequest {
  if (body.byteLength < _FIXED_LENGTH) throw new GatewayError("malformed_request");
  const version = body[0];
  if (version !== PROTOCOL_VERSION) throw new GatewayError("unsupported_version");
  const kemId = readUintBE(body, 2, 2);
  const kdfId = readUintBE(body, 4, 2);
  const aeadId = readUintBE(body, 6, 2);
  if (kemId !== KEM_ID || kdfId !== KDF_ID || aeadId !== AEAD_ID) throw new GatewayError("unsupported_suite");
  const idLength = body[16];
  if (idLength < REQUEST_ID_MIN_LENGTH || idLength > REQUEST_ID_MAX_LENGTH) {
    throw new GatewayError("invalid_request_id");
  }
  const headerLength = _FIXED_LENGTH + idLength;
  // AEAD tag (16) is the least a ciphertext can be.
  if (body.byteLength < headerLength + PUBLIC_KEY_LENGTH + 16) throw new GatewayError("malformed_request");
  return {
    header: {
      version,
      keyId: body[1],
      kemId,
      kdfId,
      aeadId,
      timestamp: readUintBE(body, 8, 8),
      requestId: body.slice(_FIXED_LENGTH, headerLength),
    },
    headerBytes: body.slice(0, headerLength),
    enc: body.slice(headerLength, headerLength + PUBLIC_KEY_LENGTH),
    ciphertext: body.slice(headerLength + PUBLIC_KEY_LENGTH),
  };
}

/** HPKE `info` for a request: the label followed by the exact header bytes. */
export function requestInfo(headerBytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return concat(REQUEST_INFO_LABEL, headerBytes);
}
