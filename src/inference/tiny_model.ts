/**
 * Generates a tiny llama-architecture GGUF model: 2 layers, 64-wide, random but deterministic weights, and
 * a byte-level GPT-2 BPE vocabulary that includes the Harmony special tokens. Its output is random text;
 * it exists so that tests and the embedded default run the real llama-server without downloading a model.
 *
 * GGUF v3 layout (llama.cpp docs/gguf.md): magic "GGUF" ‖ version u32 ‖ tensor_count u64 ‖ kv_count u64
 * ‖ key-values ‖ tensor infos ‖ padding to `general.alignment` ‖ tensor data (each tensor aligned).
 */

/** Harmony special tokens, as gpt-oss's vocabulary has them. */
export const HARMONY_SPECIAL_TOKENS = [
  "<|endoftext|>",
  "<|start|>",
  "<|end|>",
  "<|message|>",
  "<|channel|>",
  "<|return|>",
  "<|call|>",
  "<|constrain|>",
] as const;

/**
 * Control tokens gpt-oss's vocabulary has besides the Harmony markers (o200k_harmony: `<|startoftext|>`
 * and the `<|reserved_…|>` ids), so tests can check that every special id is discovered, not only the
 * Harmony ones.
 */
export const OTHER_CONTROL_TOKENS = ["<|startoftext|>", "<|reserved_200013|>"] as const;

const _ALIGNMENT = 32;

/** Shape of a generated model: the default is the tiny demo; larger shapes emulate a real model's cost. */
export interface ModelShape {
  embedding: number;
  layers: number;
  feedForward: number;
  heads: number;
}

/** The demo model's shape: loads in ~40 ms, generates thousands of tokens per second on 2 cores. */
export const TINY_SHAPE: ModelShape = { embedding: 64, layers: 2, feedForward: 128, heads: 4 };

enum _Type {
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  STRING = 8,
  ARRAY = 9,
}

type _Value =
  | { type: _Type.UINT32 | _Type.INT32 | _Type.FLOAT32; value: number }
  | { type: _Type.STRING; value: string }
  | { type: _Type.ARRAY; items: _Type.INT32 | _Type.STRING; values: (number | string)[] };

class _Writer {
  #chunks: Uint8Array[] = [];
  length = 0;
  #enc = new TextEncoder();

  bytes(b: Uint8Array) {
    this.#chunks.push(b);
    this.length += b.byteLength;
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.bytes(b);
  }
  i32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    this.bytes(b);
  }
  f32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.bytes(b);
  }
  u64(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.bytes(b);
  }
  str(s: string) {
    const b = this.#enc.encode(s);
    this.u64(b.byteLength);
    this.bytes(b);
  }
  pad(alignment: number) {
    const rest = this.length % alignment;
    if (rest) this.bytes(new Uint8Array(alignment - rest));
  }
  value(v: _Value) {
    this.u32(v.type);
    if (v.type === _Type.STRING) this.str(v.value);
    else if (v.type === _Type.ARRAY) {
      this.u32(v.items);
      this.u64(v.values.length);
      for (const item of v.values) {
        if (v.items === _Type.STRING) this.str(item as string);
        else this.i32(item as number);
      }
    } else if (v.type === _Type.FLOAT32) this.f32(v.value);
    else if (v.type === _Type.INT32) this.i32(v.value);
    else this.u32(v.value);
  }
  concat(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

/** GPT-2's reversible byte → printable code point map. */
function _byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = printable.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  }
  return map;
}

/** A deterministic PRNG (mulberry32): the same seed always gives the same model. */
function _random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Token list of the tiny model: 256 byte tokens, one merge result, the Harmony specials, then the other
 * control tokens (appended, so earlier ids never move).
 */
export function tinyModelVocabulary(): { tokens: string[]; types: number[]; merges: string[] } {
  const bytes = _byteToUnicode();
  const space = bytes[0x20];
  const tokens = [...bytes, `${space}t`, ...HARMONY_SPECIAL_TOKENS, ...OTHER_CONTROL_TOKENS];
  // llama.cpp token types: 1 = normal, 3 = control.
  const types = tokens.map((_, i) => (i < 257 ? 1 : 3));
  // llama.cpp refuses a BPE vocabulary without merges; one is enough.
  return { tokens, types, merges: [`${space} t`] };
}

/** Builds the GGUF bytes of a generated model for `seed` (the tiny demo shape unless given). */
export function generateTinyModel(seed = 42, shape: ModelShape = TINY_SHAPE): Uint8Array<ArrayBuffer> {
  const _N_EMBD = shape.embedding;
  const _N_HEAD = shape.heads;
  const _N_FF = shape.feedForward;
  const _N_LAYER = shape.layers;
  const vocab = tinyModelVocabulary();
  const nVocab = vocab.tokens.length;
  const id = (t: string) => vocab.tokens.indexOf(t);
  const kv: [string, _Value][] = [
    ["general.architecture", { type: _Type.STRING, value: "llama" }],
    ["general.name", { type: _Type.STRING, value: "privacy-gateway tiny demo model (random weights)" }],
    ["general.alignment", { type: _Type.UINT32, value: _ALIGNMENT }],
    ["llama.context_length", { type: _Type.UINT32, value: 8192 }],
    ["llama.embedding_length", { type: _Type.UINT32, value: _N_EMBD }],
    ["llama.block_count", { type: _Type.UINT32, value: _N_LAYER }],
    ["llama.feed_forward_length", { type: _Type.UINT32, value: _N_FF }],
    ["llama.attention.head_count", { type: _Type.UINT32, value: _N_HEAD }],
    ["llama.attention.head_count_kv", { type: _Type.UINT32, value: _N_HEAD }],
    ["llama.rope.dimension_count", { type: _Type.UINT32, value: _N_EMBD / _N_HEAD }],
    ["llama.attention.layer_norm_rms_epsilon", { type: _Type.FLOAT32, value: 1e-5 }],
    ["tokenizer.ggml.model", { type: _Type.STRING, value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: _Type.STRING, value: "default" }],
    ["tokenizer.ggml.tokens", { type: _Type.ARRAY, items: _Type.STRING, values: vocab.tokens }],
    ["tokenizer.ggml.token_type", { type: _Type.ARRAY, items: _Type.INT32, values: vocab.types }],
    ["tokenizer.ggml.merges", { type: _Type.ARRAY, items: _Type.STRING, values: vocab.merges }],
    ["tokenizer.ggml.bos_token_id", { type: _Type.UINT32, value: id("<|endoftext|>") }],
    ["tokenizer.ggml.eos_token_id", { type: _Type.UINT32, value: id("<|return|>") }],
    ["tokenizer.ggml.padding_token_id", { type: _Type.UINT32, value: id("<|endoftext|>") }],
    ["tokenizer.ggml.add_bos_token", { type: _Type.UINT32, value: 0 }],
  ];
  // add_bos_token is a bool in GGUF; encode it properly.
  kv.pop();

  const tensors: { name: string; dims: number[] }[] = [
    { name: "token_embd.weight", dims: [_N_EMBD, nVocab] },
    { name: "output_norm.weight", dims: [_N_EMBD] },
    { name: "output.weight", dims: [_N_EMBD, nVocab] },
  ];
  for (let l = 0; l < _N_LAYER; l++) {
    tensors.push(
      { name: `blk.${l}.attn_norm.weight`, dims: [_N_EMBD] },
      { name: `blk.${l}.attn_q.weight`, dims: [_N_EMBD, _N_EMBD] },
      { name: `blk.${l}.attn_k.weight`, dims: [_N_EMBD, _N_EMBD] },
      { name: `blk.${l}.attn_v.weight`, dims: [_N_EMBD, _N_EMBD] },
      { name: `blk.${l}.attn_output.weight`, dims: [_N_EMBD, _N_EMBD] },
      { name: `blk.${l}.ffn_norm.weight`, dims: [_N_EMBD] },
      { name: `blk.${l}.ffn_gate.weight`, dims: [_N_EMBD, _N_FF] },
      { name: `blk.${l}.ffn_down.weight`, dims: [_N_FF, _N_EMBD] },
      { name: `blk.${l}.ffn_up.weight`, dims: [_N_EMBD, _N_FF] },
    );
  }

  const w = new _Writer();
  w.bytes(new TextEncoder().encode("GGUF"));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(kv.length + 1);
  for (const [key, value] of kv) {
    w.str(key);
    w.value(value);
  }
  w.str("tokenizer.ggml.add_bos_token");
  w.u32(7); // BOOL
  w.bytes(new Uint8Array([0]));

  let offset = 0;
  const sizes = tensors.map((t) => t.dims.reduce((a, b) => a * b, 1) * 4);
  for (const [i, t] of tensors.entries()) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(0); // F32
    w.u64(offset);
    offset += Math.ceil(sizes[i] / _ALIGNMENT) * _ALIGNMENT;
  }
  w.pad(_ALIGNMENT);

  const random = _random(seed);
  for (const [i, t] of tensors.entries()) {
    const count = sizes[i] / 4;
    const data = new Float32Array(count);
    const isNorm = t.name.endsWith("norm.weight");
    for (let j = 0; j < count; j++) data[j] = isNorm ? 1 : (random() - 0.5) * 0.5;
    w.bytes(new Uint8Array(data.buffer));
    w.pad(_ALIGNMENT);
  }
  return w.concat();
}
