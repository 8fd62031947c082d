/**
 * Generates a tiny llama-architecture GGUF model: 2 layers, 64-wide, random but deterministic weights, and
 * a byte-level GPT-2 BPE vocabulary that includes the Harmony special tokens. Its output is random text.
 * The demo default and most tests use gpt_oss_model.ts (the real gpt-oss vocabulary); this one stays for
 * tests that need a vocabulary other than gpt-oss's (the tokenizer fallback) and for a costlier shape in
 * the load tool.
 */
import {
  byteToUnicode,
  f32Tensor,
  GgufType,
  type GgufValue,
  seededRandom,
  writeGguf,
} from "./gguf_writer.ts";

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
 * Harmony ones; and one whose text has no `<|` (as other vocabularies have), which only the measured
 * classification can find.
 */
export const OTHER_CONTROL_TOKENS = ["<|startoftext|>", "<|reserved_200013|>", "[control]"] as const;

/** Shape of a generated model: the default is the tiny demo; larger shapes emulate a real model's cost. */
export interface ModelShape {
  embedding: number;
  layers: number;
  feedForward: number;
  heads: number;
}

/** The demo model's shape: loads in ~40 ms, generates thousands of tokens per second on 2 cores. */
export const TINY_SHAPE: ModelShape = { embedding: 64, layers: 2, feedForward: 128, heads: 4 };

/**
 * Token list of the tiny model: 256 byte tokens, one merge result, the Harmony specials, then the other
 * control tokens (appended, so earlier ids never move).
 */
export function tinyModelVocabulary(): { tokens: string[]; types: number[]; merges: string[] } {
  const bytes = byteToUnicode();
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
  const kv: [string, GgufValue][] = [
    ["general.architecture", { type: GgufType.STRING, value: "llama" }],
    ["general.name", { type: GgufType.STRING, value: "privacy-gateway tiny demo model (random weights)" }],
    ["llama.context_length", { type: GgufType.UINT32, value: 8192 }],
    ["llama.embedding_length", { type: GgufType.UINT32, value: _N_EMBD }],
    ["llama.block_count", { type: GgufType.UINT32, value: _N_LAYER }],
    ["llama.feed_forward_length", { type: GgufType.UINT32, value: _N_FF }],
    ["llama.attention.head_count", { type: GgufType.UINT32, value: _N_HEAD }],
    ["llama.attention.head_count_kv", { type: GgufType.UINT32, value: _N_HEAD }],
    ["llama.rope.dimension_count", { type: GgufType.UINT32, value: _N_EMBD / _N_HEAD }],
    ["llama.attention.layer_norm_rms_epsilon", { type: GgufType.FLOAT32, value: 1e-5 }],
    ["tokenizer.ggml.model", { type: GgufType.STRING, value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: GgufType.STRING, value: "default" }],
    ["tokenizer.ggml.tokens", { type: GgufType.ARRAY, items: GgufType.STRING, values: vocab.tokens }],
    ["tokenizer.ggml.token_type", { type: GgufType.ARRAY, items: GgufType.INT32, values: vocab.types }],
    ["tokenizer.ggml.merges", { type: GgufType.ARRAY, items: GgufType.STRING, values: vocab.merges }],
    ["tokenizer.ggml.bos_token_id", { type: GgufType.UINT32, value: id("<|endoftext|>") }],
    ["tokenizer.ggml.eos_token_id", { type: GgufType.UINT32, value: id("<|return|>") }],
    ["tokenizer.ggml.padding_token_id", { type: GgufType.UINT32, value: id("<|endoftext|>") }],
    ["tokenizer.ggml.add_bos_token", { type: GgufType.BOOL, value: false }],
  ];

  const dims: { name: string; dims: number[] }[] = [
    { name: "token_embd.weight", dims: [_N_EMBD, nVocab] },
    { name: "output_norm.weight", dims: [_N_EMBD] },
    { name: "output.weight", dims: [_N_EMBD, nVocab] },
  ];
  for (let l = 0; l < _N_LAYER; l++) {
    dims.push(
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
  const random = seededRandom(seed);
  const tensors = dims.map((t) =>
    f32Tensor(t.name, t.dims, t.name.endsWith("norm.weight") ? () => 1 : () => (random() - 0.5) * 0.5)
  );
  return writeGguf(kv, tensors);
}
