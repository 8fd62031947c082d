/**
 * Generates a tiny gpt-oss GGUF with the real gpt-oss vocabulary: llama.cpp's `gpt-oss` architecture
 * (attention sinks, mixture of experts, alternating sliding-window layers) at 2 layers × 32 wide with
 * random but deterministic weights, and all 201,088 o200k_harmony tokens, BPE merges derived from the
 * ranks, llama.cpp's `gpt-4o` pre-tokenizer and gpt-oss's chat template. Token ids, the special-token
 * table (`<|start|>` = 200006) and llama.cpp's gpt-oss code paths (the USER_DEFINED marker trap, `<|end|>`
 * not end-of-generation) are those of a real deployment; only the weights are noise.
 *
 * Readable output without a huge logit bias: every embedding carries a large constant in dimension 0, so
 * after the final RMS norm that dimension dominates the hidden state, and `output.weight` puts a large
 * negative weight there for every token that is not printable ASCII (and for every special token). The
 * random answer is then ASCII words to `max_tokens` (the demo and the tests rely on both).
 *
 * The vocabulary data comes from the `gpt-tokenizer` npm package; nothing is downloaded. Only the demo
 * default (no PG_MODEL_PATH) and the tests load this module, by dynamic import.
 */
import bpeRanks from "gpt-tokenizer/bpeRanks/o200k_base";
import { O200K_BASE_SIZE, O200K_HARMONY_SIZE, o200kHarmonySpecials } from "../tokenizer/mod.ts";
import {
  byteToUnicode,
  f32Tensor,
  GgmlType,
  type GgufTensor,
  GgufType,
  type GgufValue,
  seededRandom,
  writeGguf,
} from "./gguf_writer.ts";
import { GPT_OSS_CHAT_TEMPLATE } from "./gpt_oss_chat_template.ts";
import { O200K_MERGE_SPLITS } from "./o200k_merge_splits.ts";

/** Shape of the generated gpt-oss model. */
export interface GptOssShape {
  embedding: number;
  layers: number;
  heads: number;
  headDim: number;
  experts: number;
  expertsUsed: number;
  expertFeedForward: number;
  slidingWindow: number;
}

/** The demo shape: loads in well under a second, generates thousands of tokens per second on 2 cores. */
export const GPT_OSS_TINY_SHAPE: GptOssShape = {
  // 32 wide: the output projection over 201,088 tokens is most of the cost per token (64 wide: ~780
  // tokens/s on one thread; 32 wide: see docs/benchmarks.md).
  embedding: 32,
  layers: 2,
  heads: 4,
  headDim: 8,
  experts: 4,
  expertsUsed: 2,
  expertFeedForward: 64,
  slidingWindow: 128,
};

/** llama.cpp token types (llama.h `llama_token_type`). */
const _NORMAL = 1;
const _CONTROL = 3;

/** The o200k_harmony vocabulary in GGUF form: byte-level token strings, types and merges by rank. */
export interface GgufVocabulary {
  tokens: string[];
  types: number[];
  merges: string[];
  /** Whether each id is printable ASCII text (the demo's readable answer). */
  readable: Uint8Array;
}

/**
 * Builds the vocabulary. A rank-`r` token's merge is what byte-level BPE over its own bytes ends with
 * when only merges of rank below `r` may apply: exactly two parts (the same derivation as the Hugging
 * Face tiktoken converter). Merges are listed in rank order, which is BPE priority order.
 *
 * Deriving all 199,742 merges takes ~0.8 s, half of the demo model's generation, so by default the split
 * point of each merge comes from o200k_merge_splits.ts, which tests/gpt_oss_model_test.ts re-derives
 * and compares in full (`derive: true` derives them here instead).
 */
export function o200kHarmonyVocabulary(options: { derive?: boolean } = {}): GgufVocabulary {
  const splits = options.derive ? undefined : _storedSplits();
  const unicode = byteToUnicode();
  const ranks = new Map<string, number>();
  const bytesOf: string[] = new Array(O200K_BASE_SIZE);
  const encoder = new TextEncoder();
  for (let id = 0; id < O200K_BASE_SIZE; id++) {
    const entry = bpeRanks[id];
    const bytes = typeof entry === "string" ? encoder.encode(entry) : Uint8Array.from(entry);
    // A "binary string" (one char per byte) is a cheap map key.
    const key = String.fromCharCode(...bytes);
    bytesOf[id] = key;
    ranks.set(key, id);
  }
  const tokens: string[] = new Array(O200K_HARMONY_SIZE);
  const types: number[] = new Array(O200K_HARMONY_SIZE);
  const readable = new Uint8Array(O200K_HARMONY_SIZE);
  const merges: string[] = [];
  const toUnicode = (key: string) => {
    let out = "";
    for (let i = 0; i < key.length; i++) out += unicode[key.charCodeAt(i)];
    return out;
  };
  for (let id = 0; id < O200K_BASE_SIZE; id++) {
    const key = bytesOf[id];
    tokens[id] = toUnicode(key);
    types[id] = _NORMAL;
    readable[id] = /^[\x20-\x7e\n]+$/.test(key) ? 1 : 0;
    if (key.length < 2) continue;
    const at = splits?.[id];
    const [left, right] = at ? [key.slice(0, at), key.slice(at)] : _lastMerge(key, id, ranks);
    merges.push(`${toUnicode(left)} ${toUnicode(right)}`);
  }
  for (const [id, text] of o200kHarmonySpecials()) {
    tokens[id] = text;
    types[id] = _CONTROL;
  }
  return { tokens, types, merges, readable };
}

/** The split point (in bytes) of each rank's merge, 0 for single bytes; derived as described above. */
export function deriveMergeSplits(): Uint8Array {
  const { merges } = o200kHarmonyVocabulary({ derive: true });
  const splits = new Uint8Array(O200K_BASE_SIZE);
  let m = 0;
  for (let id = 0; id < O200K_BASE_SIZE; id++) {
    const entry = bpeRanks[id];
    const length = typeof entry === "string" ? new TextEncoder().encode(entry).length : entry.length;
    if (length < 2) continue;
    // The left part's length in bytes: its characters are one byte each in GPT-2's byte alphabet.
    const left = merges[m++].split(" ")[0];
    splits[id] = [...left].length;
  }
  return splits;
}

function _storedSplits(): Uint8Array {
  return Uint8Array.from(atob(O200K_MERGE_SPLITS), (c) => c.charCodeAt(0));
}

function _lastMerge(key: string, rank: number, ranks: ReadonlyMap<string, number>): [string, string] {
  // Fast path: the two final parts are tokens of lower rank, so when only one split point has that
  // property it is the merge (most tokens); otherwise run the BPE to see which split it reaches.
  let only = -1;
  for (let i = 1; i < key.length; i++) {
    const left = ranks.get(key.slice(0, i));
    if (left === undefined || left >= rank) continue;
    const right = ranks.get(key.slice(i));
    if (right === undefined || right >= rank) continue;
    if (only >= 0) {
      only = -2;
      break;
    }
    only = i;
  }
  if (only > 0) return [key.slice(0, only), key.slice(only)];
  const parts = key.split("");
  while (true) {
    let best = -1;
    let bestRank = rank;
    for (let i = 0; i < parts.length - 1; i++) {
      const r = ranks.get(parts[i] + parts[i + 1]);
      if (r !== undefined && r < bestRank) {
        best = i;
        bestRank = r;
      }
    }
    if (best < 0) break;
    parts.splice(best, 2, parts[best] + parts[best + 1]);
  }
  if (parts.length !== 2) throw new Error(`Cannot derive the merge of rank ${rank}: ${parts.length} parts`);
  return [parts[0], parts[1]];
}

/** Q8_0 scale 2^-5, as IEEE half (0x2800): int8 values then span ±3.97 in steps of 1/32. */
const _Q8_SCALE_HALF = 0x2800;
const _Q8_STEP = 1 / 32;

/** A Q8_0 tensor of `rows` × `width` (width a multiple of 32) from `fill(row, column)`. */
function _q8Tensor(
  name: string,
  width: number,
  rows: number,
  fill: (row: number, column: number) => number,
): GgufTensor {
  const blocksPerRow = width / 32;
  const data = new Uint8Array(rows * blocksPerRow * 34);
  const view = new DataView(data.buffer);
  let o = 0;
  for (let row = 0; row < rows; row++) {
    for (let block = 0; block < blocksPerRow; block++) {
      view.setUint16(o, _Q8_SCALE_HALF, true);
      o += 2;
      for (let j = 0; j < 32; j++) {
        const q = Math.max(-127, Math.min(127, Math.round(fill(row, block * 32 + j) / _Q8_STEP)));
        data[o++] = q & 0xff;
      }
    }
  }
  return { name, dims: [width, rows], type: GgmlType.Q8_0, data };
}

/** Builds the GGUF bytes of the gpt-oss demo model for `seed`. */
export function generateGptOssModel(
  seed = 42,
  shape: GptOssShape = GPT_OSS_TINY_SHAPE,
  vocab: GgufVocabulary = o200kHarmonyVocabulary(),
): Uint8Array<ArrayBuffer> {
  const E = shape.embedding;
  const H = shape.heads;
  const D = shape.headDim;
  const X = shape.experts;
  const F = shape.expertFeedForward;
  const n = vocab.tokens.length;
  const arch = "gpt-oss";
  const u32 = (value: number): GgufValue => ({ type: GgufType.UINT32, value });
  const kv: [string, GgufValue][] = [
    ["general.architecture", { type: GgufType.STRING, value: arch }],
    ["general.name", { type: GgufType.STRING, value: "privacy-gateway gpt-oss demo model (random weights)" }],
    [`${arch}.context_length`, u32(131072)],
    [`${arch}.embedding_length`, u32(E)],
    [`${arch}.block_count`, u32(shape.layers)],
    [`${arch}.feed_forward_length`, u32(F)],
    [`${arch}.expert_feed_forward_length`, u32(F)],
    [`${arch}.expert_count`, u32(X)],
    [`${arch}.expert_used_count`, u32(shape.expertsUsed)],
    [`${arch}.attention.head_count`, u32(H)],
    [`${arch}.attention.head_count_kv`, u32(H)],
    [`${arch}.attention.key_length`, u32(D)],
    [`${arch}.attention.value_length`, u32(D)],
    [`${arch}.rope.dimension_count`, u32(D)],
    [`${arch}.rope.freq_base`, { type: GgufType.FLOAT32, value: 150000 }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: GgufType.FLOAT32, value: 1e-5 }],
    [`${arch}.attention.sliding_window`, u32(shape.slidingWindow)],
    ["tokenizer.ggml.model", { type: GgufType.STRING, value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: GgufType.STRING, value: "gpt-4o" }],
    ["tokenizer.ggml.tokens", { type: GgufType.ARRAY, items: GgufType.STRING, values: vocab.tokens }],
    ["tokenizer.ggml.token_type", { type: GgufType.ARRAY, items: GgufType.INT32, values: vocab.types }],
    ["tokenizer.ggml.merges", { type: GgufType.ARRAY, items: GgufType.STRING, values: vocab.merges }],
    // As in gpt-oss's own GGUF: <|startoftext|> begins, <|return|> ends, <|endoftext|> pads.
    ["tokenizer.ggml.bos_token_id", u32(199998)],
    ["tokenizer.ggml.eos_token_id", u32(200002)],
    ["tokenizer.ggml.padding_token_id", u32(199999)],
    ["tokenizer.ggml.add_bos_token", { type: GgufType.BOOL, value: false }],
    ["tokenizer.chat_template", { type: GgufType.STRING, value: GPT_OSS_CHAT_TEMPLATE }],
  ];
  const random = seededRandom(seed);
  const noise = (scale: number) => () => (random() - 0.5) * scale;
  const one = () => 1;
  // Dimension 0 of every embedding is a large constant (see the module comment); the rest is noise.
  const tensors: GgufTensor[] = [
    _q8Tensor("token_embd.weight", E, n, (_row, column) => column === 0 ? 3 : (random() - 0.5) * 0.5),
    f32Tensor("output_norm.weight", [E], one),
    _q8Tensor(
      "output.weight",
      E,
      n,
      (row, column) => column === 0 ? (vocab.readable[row] ? 0 : -3) : (random() - 0.5) * 1.5,
    ),
  ];
  for (let l = 0; l < shape.layers; l++) {
    const b = `blk.${l}`;
    tensors.push(
      f32Tensor(`${b}.attn_norm.weight`, [E], one),
      f32Tensor(`${b}.post_attention_norm.weight`, [E], one),
      f32Tensor(`${b}.attn_q.weight`, [E, H * D], noise(0.2)),
      f32Tensor(`${b}.attn_k.weight`, [E, H * D], noise(0.2)),
      f32Tensor(`${b}.attn_v.weight`, [E, H * D], noise(0.2)),
      f32Tensor(`${b}.attn_q.bias`, [H * D], noise(0.02)),
      f32Tensor(`${b}.attn_k.bias`, [H * D], noise(0.02)),
      f32Tensor(`${b}.attn_v.bias`, [H * D], noise(0.02)),
      f32Tensor(`${b}.attn_output.weight`, [H * D, E], noise(0.2)),
      f32Tensor(`${b}.attn_output.bias`, [E], noise(0.02)),
      f32Tensor(`${b}.attn_sinks.weight`, [H], noise(1)),
      f32Tensor(`${b}.ffn_gate_inp.weight`, [E, X], noise(0.2)),
      f32Tensor(`${b}.ffn_gate_inp.bias`, [X], noise(0.02)),
      f32Tensor(`${b}.ffn_gate_exps.weight`, [E, F, X], noise(0.2)),
      f32Tensor(`${b}.ffn_gate_exps.bias`, [F, X], noise(0.02)),
      f32Tensor(`${b}.ffn_up_exps.weight`, [E, F, X], noise(0.2)),
      f32Tensor(`${b}.ffn_up_exps.bias`, [F, X], noise(0.02)),
      f32Tensor(`${b}.ffn_down_exps.weight`, [F, E, X], noise(0.2)),
      f32Tensor(`${b}.ffn_down_exps.bias`, [E, X], noise(0.02)),
    );
  }
  return writeGguf(kv, tensors);
}
