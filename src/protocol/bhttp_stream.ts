/**
 * Incremental decoding of a Binary HTTP response (RFC 9292 §3.2) as chunk plaintexts arrive:
 *
 *   Indeterminate Response = 3 ‖ { status(i) 1xx ‖ Field… ‖ 0 }… ‖ status(i) ‖ Field… ‖ 0
 *                            ‖ { len(i) = 1.. ‖ content }… ‖ 0 ‖ Trailer… ‖ 0 ‖ zero padding
 *
 * Content is handed out as it arrives (a content chunk may span OHTTP chunks); a known-length response
 * (framing 1, which other gateways may send) is decoded whole at the end by bhttp.ts.
 */
import { decodeResponse, type Field } from "./bhttp.ts";
import { ResponseIntegrityError } from "./response_integrity_error.ts";
import type { ResponseHead } from "./bhttp.ts";
import { decodeVarint } from "./varint.ts";

type _State =
  | "framing"
  | "status"
  | "info"
  | "fields"
  | "content"
  | "data"
  | "trailers"
  | "padding"
  | "known";

/**
 * Decodes a Binary HTTP response incrementally: indeterminate length as it arrives, known length (other
 * gateways may send it) at the end.
 */
export class BhttpResponseDecoder {
  #buffer: Uint8Array = new Uint8Array(0);
  #state: _State = "framing";
  #status = 0;
  #fields: Field[] = [];
  #remaining = 0;
  head?: ResponseHead;

  /** Feeds plaintext; returns the content bytes it completes. */
  push(bytes: Uint8Array): Uint8Array[] {
    this.#buffer = _join(this.#buffer, bytes);
    const content: Uint8Array[] = [];
    for (;;) {
      if (this.#state === "known") return content;
      if (this.#state === "padding") {
        if (this.#buffer.some((b) => b !== 0)) throw new ResponseIntegrityError("malformed");
        this.#buffer = new Uint8Array(0);
        return content;
      }
      if (this.#state === "data") {
        if (this.#buffer.byteLength === 0) return content;
        const take = Math.min(this.#remaining, this.#buffer.byteLength);
        content.push(this.#buffer.slice(0, take));
        this.#buffer = this.#buffer.subarray(take);
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = "content";
        continue;
      }
      const value = decodeVarint(this.#buffer, 0);
      if (!value) return content;
      if (this.#state === "framing") {
        if (value.value === 1) this.#state = "known";
        else if (value.value === 3) this.#state = "status";
        else throw new ResponseIntegrityError("malformed");
        if (this.#state === "known") return content;
        this.#buffer = this.#buffer.subarray(value.next);
      } else if (this.#state === "status") {
        if (value.value < 100 || value.value > 599) throw new ResponseIntegrityError("malformed");
        this.#status = value.value;
        this.#state = value.value < 200 ? "info" : "fields";
        this.#buffer = this.#buffer.subarray(value.next);
      } else if (this.#state === "content") {
        this.#buffer = this.#buffer.subarray(value.next);
        if (value.value === 0) this.#state = "trailers";
        else [this.#state, this.#remaining] = ["data", value.value];
      } else {
        // A field line (name, value) or the zero that ends the section.
        if (value.value === 0) {
          this.#buffer = this.#buffer.subarray(value.next);
          if (this.#state === "fields") this.head = { status: this.#status, fields: this.#fields };
          this.#state = this.#state === "info" ? "status" : this.#state === "fields" ? "content" : "padding";
          continue;
        }
        const line = _fieldLine(this.#buffer);
        if (!line) return content;
        if (this.#state === "fields") this.#fields.push(line.field);
        this.#buffer = this.#buffer.subarray(line.next);
      }
    }
  }

  /** The message must be complete by now; returns content of a known-length message. */
  end(): Uint8Array[] {
    if (this.#state === "known") {
      try {
        const { message } = decodeResponse(this.#buffer);
        this.head = { status: message.status, fields: message.fields };
        return [message.content];
      } catch {
        throw new ResponseIntegrityError("malformed");
      }
    }
    if (this.#state !== "padding") throw new ResponseIntegrityError("truncated");
    return [];
  }
}

function _fieldLine(bytes: Uint8Array): { field: Field; next: number } | undefined {
  const name = decodeVarint(bytes, 0);
  if (!name || name.next + name.value > bytes.byteLength) return undefined;
  const valueLength = decodeVarint(bytes, name.next + name.value);
  if (!valueLength || valueLength.next + valueLength.value > bytes.byteLength) return undefined;
  const text = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  return {
    field: [
      text(name.next, name.next + name.value),
      text(valueLength.next, valueLength.next + valueLength.value),
    ],
    next: valueLength.next + valueLength.value,
  };
}

function _join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
