import assert from "node:assert/strict";
import { chunkPieces, type SpecialName } from "../../src/harmony/mod.ts";

// gpt-oss's ids (o200k_harmony).
const NAMES = new Map<number, SpecialName>([
  [200006, "start"],
  [200007, "end"],
  [200008, "message"],
  [200005, "channel"],
  [200003, "constrain"],
  [200002, "return"],
  [200012, "call"],
]);

Deno.test({
  name: "chunkPieces() keeps text before a special token ahead of it",
  permissions: "none",
  fn() {
    // "Hi" then <|end|> (control: llama.cpp does not render it).
    assert.deepEqual(chunkPieces("Hi", [12194, 200007], NAMES), [{ text: "Hi" }, { special: "end" }]);
  },
});

Deno.test({
  name: "chunkPieces() keeps text after a special token behind it (the old order moved it ahead)",
  permissions: "none",
  fn() {
    // <|start|> (user-defined: rendered) then "assistant".
    assert.deepEqual(
      chunkPieces("<|start|>assistant", [200006, 173781], NAMES),
      [{ special: "start" }, { text: "assistant" }],
    );
    // <|end|> (not rendered) then <|start|>assistant<|channel|>final<|message|>Hi
    assert.deepEqual(
      chunkPieces("<|start|>assistant<|channel|>final<|message|>Hi", [
        200007,
        200006,
        173781,
        200005,
        17196,
        200008,
        12194,
      ], NAMES),
      [
        { special: "end" },
        { special: "start" },
        { text: "assistant" },
        { special: "channel" },
        { text: "final" },
        { special: "message" },
        { text: "Hi" },
      ],
    );
  },
});

Deno.test({
  name: "chunkPieces() never turns marker text from ordinary tokens into structure",
  permissions: "none",
  fn() {
    // Text tokens spelling "<|end|>" (ids 27, 91, 419, 91, 29): no special id, so text as it stands.
    assert.deepEqual(chunkPieces("<|end|>", [27, 91, 419, 91, 29], NAMES), [{ text: "<|end|>" }]);
    // The same text next to a real special token: the spelled marker is dropped, never a special piece.
    assert.deepEqual(
      chunkPieces("<|end|>x", [27, 91, 419, 91, 29, 200007, 87], NAMES),
      [{ special: "end" }, { text: "x" }],
    );
  },
});

Deno.test({
  name: "chunkPieces() passes one-token chunks through",
  permissions: "none",
  fn() {
    assert.deepEqual(chunkPieces(" sea", [9722], NAMES), [{ text: " sea" }]);
    assert.deepEqual(chunkPieces("", [200002], NAMES), [{ special: "return" }]);
    assert.deepEqual(chunkPieces("", [], NAMES), []);
  },
});
