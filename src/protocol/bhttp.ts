/**
 * Binary HTTP messages, RFC 9292 §3:
 *
 *   Known-Length Request      = 0 ‖ Control ‖ len(i) Fields ‖ len(i) Content ‖ len(i) Trailers ‖ Padding
 *   Indeterminate Request     = 2 ‖ Control ‖ Fields… 0 ‖ { len(i) = 1.. Chunk }… 0 ‖ Trailers… 0 ‖ Padding
 *   Control (request)         = len(i) method ‖ len(i) scheme ‖ len(i) authority ‖ len(i) path
 *   Known-Length Response     = 1 ‖ { status(i) 100..199 ‖ len(i) Fields }… ‖ status(i) ‖ len(i) Fields
 *                               ‖ len(i) Content ‖ len(i) Trailers ‖ Padding
 *   Indeterminate Response    = 3 ‖ { status(i) ‖ Fields… 0 }… ‖ status(i) ‖ Fields… 0 ‖ Chunks… 0 ‖ Trailers… 0
 *   Field line                = len(i) name ‖ len(i) value            (i) = QUIC varint, varint.ts
 *   Padding                   = zero bytes (§3.8); a message may also end early where the rest is empty (§3.8)
 *
 * Decoding reports the framing (mode, content chunk sizes, padding, truncation) so that encoding it again
 * gives the same bytes (the RFC 9292 §5 examples are tests). Field names must be lowercase and not
 * pseudo-fields (§3.6); field bytes are kept as latin1 strings so any byte survives a round trip.
 */
import { concat } from "../crypto/bytes.ts";
import { GatewayError } from "./errors.ts";
import { decodeVarint, encodeVarint } from "./varint.ts";

/** One field line: name (lowercase) and value. */
export type Field = [name: string, value: string];

/** A Binary HTTP request. */
export interface BhttpRequest {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  fields: Field[];
  content: Uint8Array;
  trailers: Field[];
}

/** A Binary HTTP response, with any informational (1xx) responses before it. */
export interface BhttpResponse {
  informational: { status: number; fields: Field[] }[];
  status: number;
  fields: Field[];
  content: Uint8Array;
  trailers: Field[];
}

/** How a message was (or is to be) laid out. */
export interface BhttpFraming {
  indeterminate: boolean;
  /** Indeterminate length only: the sizes of the content chunks (default: one chunk). */
  contentChunks?: number[];
  /** Zero bytes after the message. */
  padding: number;
  /** Whether trailing empty sections are left out (§3.8). */
  truncated?: boolean;
}

const _KNOWN_REQUEST = 0;
const _KNOWN_RESPONSE = 1;
const _INDETERMINATE_REQUEST = 2;
const _INDETERMINATE_RESPONSE = 3;

/** Encodes a request. */
export function encodeRequest(
  message: BhttpRequest,
  framing: BhttpFraming = { indeterminate: false, padding: 0 },
): Uint8Array<ArrayBuffer> {
  const control = [message.method, message.scheme, message.authority, message.path].map(_lengthPrefixed);
  return _encode(
    [encodeVarint(framing.indeterminate ? _INDETERMINATE_REQUEST : _KNOWN_REQUEST), ...control],
    message,
    framing,
  );
}

/** Encodes a response. */
export function encodeResponse(
  message: BhttpResponse,
  framing: BhttpFraming = { indeterminate: false, padding: 0 },
): Uint8Array<ArrayBuffer> {
  const head: Uint8Array[] = [
    encodeVarint(framing.indeterminate ? _INDETERMINATE_RESPONSE : _KNOWN_RESPONSE),
  ];
  for (const info of message.informational) {
    if (info.status < 100 || info.status > 199) throw new RangeError("Informational status must be 1xx");
    head.push(encodeVarint(info.status), encodeFields(info.fields, framing.indeterminate));
  }
  if (message.status < 200 || message.status > 599) throw new RangeError("Final status must be 200..599");
  head.push(encodeVarint(message.status));
  return _encode(head, message, framing);
}

/** Encodes a field section: length-prefixed (known length) or terminated by a zero (indeterminate). */
export function encodeFields(fields: Field[], indeterminate: boolean): Uint8Array<ArrayBuffer> {
  const lines = concat(...fields.flatMap(([name, value]) => {
    if (!_isFieldName(name)) throw new RangeError("Field names are lowercase tokens");
    return [_lengthPrefixed(name), _lengthPrefixed(value)];
  }));
  return indeterminate ? concat(lines, new Uint8Array([0])) : concat(encodeVarint(lines.byteLength), lines);
}

function _encode(
  head: Uint8Array[],
  message: { fields: Field[]; content: Uint8Array; trailers: Field[] },
  framing: BhttpFraming,
): Uint8Array<ArrayBuffer> {
  const sections: Uint8Array[] = [encodeFields(message.fields, framing.indeterminate)];
  if (framing.indeterminate) {
    const sizes = framing.contentChunks ??
      (message.content.byteLength > 0 ? [message.content.byteLength] : []);
    if (sizes.reduce((a, b) => a + b, 0) !== message.content.byteLength || sizes.some((n) => n <= 0)) {
      throw new RangeError("Content chunk sizes must be positive and add up to the content length");
    }
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const size of sizes) {
      chunks.push(encodeVarint(size), message.content.subarray(offset, offset + size));
      offset += size;
    }
    sections.push(concat(...chunks, new Uint8Array([0])));
  } else {
    sections.push(concat(encodeVarint(message.content.byteLength), message.content));
  }
  sections.push(encodeFields(message.trailers, framing.indeterminate));
  if (framing.truncated) {
    const empty = [
      message.fields.length === 0,
      message.content.byteLength === 0,
      message.trailers.length === 0,
    ];
    while (sections.length > 0 && empty[sections.length - 1]) sections.pop();
  }
  return concat(...head, ...sections, new Uint8Array(framing.padding));
}

/** Decodes a request; throws GatewayError `invalid_message` when it is not exactly one well-formed request. */
export function decodeRequest(bytes: Uint8Array): { message: BhttpRequest; framing: BhttpFraming } {
  const reader = new _Reader(bytes);
  const mode = reader.varint();
  if (mode !== _KNOWN_REQUEST && mode !== _INDETERMINATE_REQUEST) throw _invalid();
  const [method, scheme, authority, path] = [reader.text(), reader.text(), reader.text(), reader.text()];
  const body = _decodeBody(reader, mode === _INDETERMINATE_REQUEST);
  return { message: { method, scheme, authority, path, ...body.message }, framing: body.framing };
}

/** Decodes a response; throws GatewayError `invalid_message` when it is not exactly one well-formed response. */
export function decodeResponse(bytes: Uint8Array): { message: BhttpResponse; framing: BhttpFraming } {
  const reader = new _Reader(bytes);
  const mode = reader.varint();
  if (mode !== _KNOWN_RESPONSE && mode !== _INDETERMINATE_RESPONSE) throw _invalid();
  const indeterminate = mode === _INDETERMINATE_RESPONSE;
  const informational: BhttpResponse["informational"] = [];
  let status = reader.varint();
  while (status >= 100 && status <= 199) {
    informational.push({ status, fields: _decodeFields(reader, indeterminate) });
    status = reader.varint();
  }
  if (status < 200 || status > 599) throw _invalid();
  const body = _decodeBody(reader, indeterminate);
  return { message: { informational, status, ...body.message }, framing: body.framing };
}

function _decodeBody(
  reader: _Reader,
  indeterminate: boolean,
): { message: { fields: Field[]; content: Uint8Array; trailers: Field[] }; framing: BhttpFraming } {
  const message = {
    fields: [] as Field[],
    content: new Uint8Array(0) as Uint8Array,
    trailers: [] as Field[],
  };
  const framing: BhttpFraming = { indeterminate, padding: 0 };
  if (reader.done) return { message, framing: { ...framing, truncated: true } };
  message.fields = _decodeFields(reader, indeterminate);
  if (reader.done) return { message, framing: { ...framing, truncated: true } };
  if (indeterminate) {
    const chunks: Uint8Array[] = [];
    for (let size = reader.varint(); size > 0; size = reader.varint()) chunks.push(reader.bytes(size));
    message.content = concat(...chunks);
    framing.contentChunks = chunks.map((c) => c.byteLength);
  } else {
    message.content = reader.bytes(reader.varint());
  }
  if (reader.done) return { message, framing: { ...framing, truncated: true } };
  message.trailers = _decodeFields(reader, indeterminate);
  framing.padding = reader.padding();
  return { message, framing };
}

function _decodeFields(reader: _Reader, indeterminate: boolean): Field[] {
  const fields: Field[] = [];
  if (indeterminate) {
    for (let name = reader.text(); name !== ""; name = reader.text()) {
      fields.push(_field(name, reader.text()));
    }
    return fields;
  }
  const section = new _Reader(reader.bytes(reader.varint()));
  while (!section.done) fields.push(_field(section.text(), section.text()));
  return fields;
}

function _field(name: string, value: string): Field {
  if (!_isFieldName(name)) throw _invalid();
  return [name, value];
}

/** Lowercase tchar token (RFC 9110 §5.6.2), so no uppercase and no `:` pseudo-fields. */
function _isFieldName(name: string): boolean {
  return /^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name);
}

function _lengthPrefixed(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new RangeError("Binary HTTP strings are bytes (latin1)");
    bytes[i] = c;
  }
  return concat(encodeVarint(bytes.byteLength), bytes);
}

function _invalid(): GatewayError {
  return new GatewayError("invalid_message");
}

class _Reader {
  #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get done(): boolean {
    return this.#offset === this.#bytes.byteLength;
  }

  varint(): number {
    let decoded: ReturnType<typeof decodeVarint>;
    try {
      decoded = decodeVarint(this.#bytes, this.#offset);
    } catch {
      // A value past 2^53 − 1 (eight 0xff bytes): malformed input, not a gateway fault (review of v2).
      throw _invalid();
    }
    if (!decoded) throw _invalid();
    this.#offset = decoded.next;
    return decoded.value;
  }

  bytes(length: number): Uint8Array {
    if (this.#offset + length > this.#bytes.byteLength) throw _invalid();
    const out = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }

  text(): string {
    const bytes = this.bytes(this.varint());
    let out = "";
    for (const b of bytes) out += String.fromCharCode(b);
    return out;
  }

  /** The rest must be zero bytes (§3.8: padding); returns how many. */
  padding(): number {
    const rest = this.#bytes.subarray(this.#offset);
    let acc = 0;
    for (const b of rest) acc |= b;
    if (acc !== 0) throw _invalid();
    this.#offset = this.#bytes.byteLength;
    return rest.byteLength;
  }
}

/** The inner response's status and header fields. */
export interface ResponseHead {
  status: number;
  fields: Field[];
}
