/**
 * A minimal GGUF v3 writer for the generated demo and test models (tiny_model.ts, gpt_oss_model.ts).
 *
 * Layout (llama.cpp docs/gguf.md): magic "GGUF" ‖ version u32 ‖ tensor_count u64 ‖ kv_count u64
 * ‖ key-values ‖ tensor infos (name, dims, type, offset) ‖ padding to `general.alignment` ‖ tensor data,
 * each tensor aligned. Everything little-endian.
 */

/** GGUF metadata value types (gguf.md `gguf_metadata_value_type`). */
export enum GgufType {
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}

/** ggml tensor types used here: F32, and Q8_0 (blocks of 32: f16 scale ‖ 32 × int8). */
export enum GgmlType {
  F32 = 0,
  Q8_0 = 8,
}

/** One metadata value. */
export type GgufValue =
  | { type: GgufType.UINT32 | GgufType.INT32 | GgufType.FLOAT32; value: number }
  | { type: GgufType.BOOL; value: boolean }
  | { type: GgufType.STRING; value: string }
  | { type: GgufType.ARRAY; items: GgufType.INT32 | GgufType.STRING; values: readonly (number | string)[] };

/** One tensor: its dims (ggml order, fastest first) and its already-encoded data. */
export interface GgufTensor {
  name: string;
  dims: readonly number[];
  type: GgmlType;
  data: Uint8Array;
}

/** Alignment of tensor data (`general.alignment`, llama.cpp's default). */
export const GGUF_ALIGNMENT = 32;

/** Appends little-endian values into 1 MiB blocks, concatenated once at the end. */
class _Writer {
  static readonly #BLOCK = 1 << 20;
  #chunks: Uint8Array[] = [];
  #block = new Uint8Array(_Writer.#BLOCK);
  #view = new DataView(this.#block.buffer);
  #used = 0;
  #enc = new TextEncoder();
  length = 0;

  #room(size: number) {
    if (this.#used + size > this.#block.byteLength) this.#flush();
  }
  /** Hands the filled part of the block over and starts a new one (the old one is never written again). */
  #flush() {
    if (this.#used === 0) return;
    this.#chunks.push(this.#block.subarray(0, this.#used));
    this.#block = new Uint8Array(_Writer.#BLOCK);
    this.#view = new DataView(this.#block.buffer);
    this.#used = 0;
  }
  bytes(b: Uint8Array) {
    if (b.byteLength > 4096) {
      this.#flush();
      this.#chunks.push(b);
    } else {
      this.#room(b.byteLength);
      this.#block.set(b, this.#used);
      this.#used += b.byteLength;
    }
    this.length += b.byteLength;
  }
  u8(v: number) {
    this.#room(1);
    this.#view.setUint8(this.#used, v);
    this.#used += 1;
    this.length += 1;
  }
  u32(v: number) {
    this.#room(4);
    this.#view.setUint32(this.#used, v, true);
    this.#used += 4;
    this.length += 4;
  }
  i32(v: number) {
    this.#room(4);
    this.#view.setInt32(this.#used, v, true);
    this.#used += 4;
    this.length += 4;
  }
  f32(v: number) {
    this.#room(4);
    this.#view.setFloat32(this.#used, v, true);
    this.#used += 4;
    this.length += 4;
  }
  u64(v: number) {
    this.#room(8);
    this.#view.setBigUint64(this.#used, BigInt(v), true);
    this.#used += 8;
    this.length += 8;
  }
  str(s: string) {
    // At most 3 bytes per UTF-16 unit: encode in place when that fits a block.
    if (s.length * 3 + 8 > _Writer.#BLOCK) {
      const b = this.#enc.encode(s);
      this.u64(b.byteLength);
      this.bytes(b);
      return;
    }
    this.#room(s.length * 3 + 8);
    const { written } = this.#enc.encodeInto(s, this.#block.subarray(this.#used + 8));
    this.u64(written);
    this.#used += written;
    this.length += written;
  }
  pad(alignment: number) {
    const rest = this.length % alignment;
    if (rest) this.bytes(new Uint8Array(alignment - rest));
  }
  value(v: GgufValue) {
    this.u32(v.type);
    switch (v.type) {
      case GgufType.STRING:
        return this.str(v.value);
      case GgufType.BOOL:
        return this.u8(v.value ? 1 : 0);
      case GgufType.FLOAT32:
        return this.f32(v.value);
      case GgufType.INT32:
        return this.i32(v.value);
      case GgufType.UINT32:
        return this.u32(v.value);
      case GgufType.ARRAY:
        this.u32(v.items);
        this.u64(v.values.length);
        for (const item of v.values) {
          if (v.items === GgufType.STRING) this.str(item as string);
          else this.i32(item as number);
        }
    }
  }
  concat(): Uint8Array<ArrayBuffer> {
    this.#flush();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

/** Encodes a whole GGUF file. */
export function writeGguf(
  metadata: readonly (readonly [string, GgufValue])[],
  tensors: readonly GgufTensor[],
): Uint8Array<ArrayBuffer> {
  const w = new _Writer();
  w.bytes(new TextEncoder().encode("GGUF"));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(metadata.length + 1);
  w.str("general.alignment");
  w.value({ type: GgufType.UINT32, value: GGUF_ALIGNMENT });
  for (const [key, value] of metadata) {
    w.str(key);
    w.value(value);
  }
  let offset = 0;
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    offset += Math.ceil(t.data.byteLength / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
  }
  w.pad(GGUF_ALIGNMENT);
  for (const t of tensors) {
    w.bytes(t.data);
    w.pad(GGUF_ALIGNMENT);
  }
  return w.concat();
}

/** A deterministic PRNG (mulberry32): the same seed always gives the same model. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An F32 tensor of `count` values from `fill(index)`. */
export function f32Tensor(
  name: string,
  dims: readonly number[],
  fill: (index: number) => number,
): GgufTensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = fill(i);
  return { name, dims, type: GgmlType.F32, data: new Uint8Array(data.buffer) };
}

/** GPT-2's reversible byte → printable code point map (the form GGUF "gpt2" vocabularies store). */
export function byteToUnicode(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = printable(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  }
  return map;
}
