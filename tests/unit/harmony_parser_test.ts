/** HarmonyParser and AnswerFilter: reference examples, every split, fuzzed garbage. Pure: no permissions. */
import assert from "node:assert/strict";
import {
  AnswerFilter,
  HarmonyParser,
  type ParsedMessage,
  type Piece,
  textToPieces,
} from "../../src/harmony/mod.ts";
import type { ChatEvent } from "../../src/protocol/mod.ts";

const none = { permissions: "none" as const };

function parse(text: string, role: string | null = "assistant"): ParsedMessage[] {
  const parser = new HarmonyParser({ role });
  for (const piece of textToPieces(text)) parser.push(piece);
  parser.end();
  return parser.messages;
}

const msg = (m: Partial<ParsedMessage> & { content: string }): ParsedMessage => ({
  role: "assistant",
  name: null,
  channel: null,
  recipient: null,
  content_type: null,
  ...m,
});

const REASONING =
  '<|channel|>analysis<|message|>User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.<|end|>' +
  "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>";

Deno.test({
  ...none,
  name: "HarmonyParser parses the reference reasoning response into analysis and final",
  fn() {
    assert.deepEqual(parse(REASONING), [
      msg({ channel: "analysis", content: 'User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.' }),
      msg({ channel: "final", content: "2 + 2 = 4." }),
    ]);
  },
});

Deno.test({
  ...none,
  name: "HarmonyParser parses a tool call with a recipient and a code content type",
  fn() {
    const text =
      '<|channel|>analysis<|message|>Need the tool.<|end|><|start|>assistant to=lookup_weather<|channel|>analysis code<|message|>{"location": "Tokyo"}<|call|>';
    assert.deepEqual(
      parse(text)[1],
      msg({
        channel: "analysis",
        recipient: "lookup_weather",
        content_type: "code",
        content: '{"location": "Tokyo"}',
      }),
    );
  },
});

for (
  const [name, text] of [
    [
      "space before <|constrain|>",
      '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"location": "Tokyo"}<|call|>',
    ],
    [
      "<|constrain|> adjacent",
      '<|start|>assistant to=functions.get_weather<|channel|>commentary<|constrain|>json<|message|>{"location": "Tokyo"}<|call|>',
    ],
    [
      "channel before recipient",
      '<|start|>assistant<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>{"location": "Tokyo"}<|call|>',
    ],
  ]
) {
  Deno.test({
    ...none,
    name: `HarmonyParser reads a constrained tool call (${name})`,
    fn() {
      assert.deepEqual(parse(text, null), [
        msg({
          channel: "commentary",
          recipient: "functions.get_weather",
          content_type: "<|constrain|>json",
          content: '{"location": "Tokyo"}',
        }),
      ]);
    },
  });
}

Deno.test({
  ...none,
  name: "HarmonyParser with keepContent collects only the kept messages' content, and emits every delta",
  fn() {
    const parser = new HarmonyParser({ role: "assistant", keepContent: (h) => h.recipient !== null });
    const deltas: string[] = [];
    for (const piece of textToPieces(REASONING)) {
      for (const event of parser.push(piece)) if (event.type === "content") deltas.push(event.delta);
    }
    parser.end();
    assert.equal(deltas.join(""), 'User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.2 + 2 = 4.');
    assert.deepEqual(parser.messages.map((m) => m.content), ["", ""], "nothing collected for them");
    const tools = new HarmonyParser({ role: "assistant", keepContent: (h) => h.recipient !== null });
    for (
      const piece of textToPieces(
        '<|channel|>commentary to=functions.f <|constrain|>json<|message|>{"a":1}<|call|>',
      )
    ) {
      tools.push(piece);
    }
    assert.equal(tools.messages[0].content, '{"a":1}', "a function call keeps its arguments");
  },
});

Deno.test({
  ...none,
  name: "HarmonyParser reads a tool result header (role is the tool's name)",
  fn() {
    assert.deepEqual(
      parse('<|start|>browser.search to=assistant<|channel|>commentary<|message|>{"result": 1}<|end|>', null),
      [
        msg({
          role: "tool",
          name: "browser.search",
          channel: "commentary",
          recipient: "assistant",
          content: '{"result": 1}',
        }),
      ],
    );
  },
});

Deno.test({
  ...none,
  name: "HarmonyParser treats a missing <|message|> like the reference's non-strict mode",
  fn() {
    const text = "I must refuse<|end|><|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>" +
      "<|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that.<|return|>";
    assert.deepEqual(parse(text), [
      msg({ content: "I must refuse" }),
      msg({ channel: "analysis", content: "We must refuse" }),
      msg({ channel: "final", content: "I'm sorry, but I can't help with that." }),
    ]);
  },
});

function events(pieces: Piece[], includeReasoning = false): ChatEvent[] {
  const parser = new HarmonyParser({ role: "assistant" });
  const filter = new AnswerFilter({ includeReasoning, newId: () => "call_1" });
  const out: ChatEvent[] = [];
  for (const piece of pieces) for (const e of parser.push(piece)) out.push(...filter.accept(e));
  for (const e of parser.end()) out.push(...filter.accept(e));
  return out;
}

function merged(list: ChatEvent[]): string {
  return list.map((
    e,
  ) => (e.type === "text" ? `T:${e.delta}` : e.type === "reasoning" ? `R:${e.delta}` : JSON.stringify(e)))
    .join("").replace(/(?<=T:[^{]*)T:/g, "").replace(/(?<=R:[^{]*)R:/g, "");
}

/** Splits every text piece into single code points: the finest split a stream can have. */
function splitEverywhere(pieces: Piece[]): Piece[] {
  return pieces.flatMap((p): Piece[] => ("text" in p ? Array.from(p.text).map((c) => ({ text: c })) : [p]));
}

const SAMPLE = REASONING.replace("<|return|>", "<|end|>") +
  '<|start|>assistant to=functions.f<|channel|>commentary <|constrain|>json<|message|>{"a": "ü€😀"}<|call|>';

Deno.test({
  ...none,
  name: "AnswerFilter gives the same events for every split of a sample stream",
  fn() {
    const whole = events(textToPieces(SAMPLE), true);
    const expected = merged(whole);
    assert.match(expected, /T:2 \+ 2 = 4\./);
    assert.match(
      expected,
      /"type":"tool_call","id":"call_1","name":"f","arguments":"\{\\"a\\": \\"ü€😀\\"\}"/,
    );
    assert.equal(merged(events(splitEverywhere(textToPieces(SAMPLE)), true)), expected);
    // Every two-way split point of the text (as a chunk boundary) gives the same events too.
    const pieces = textToPieces(SAMPLE);
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (!("text" in piece)) continue;
      const chars = Array.from(piece.text);
      for (let cut = 1; cut < chars.length; cut++) {
        const split = [...pieces.slice(0, i), { text: chars.slice(0, cut).join("") }, {
          text: chars.slice(cut).join(""),
        }, ...pieces.slice(i + 1)];
        assert.equal(merged(events(split, true)), expected, `piece ${i} cut ${cut}`);
      }
    }
  },
});

Deno.test({
  ...none,
  name: "AnswerFilter never shows analysis unless reasoning is included",
  fn() {
    const shown = events(textToPieces(REASONING), false);
    assert.deepEqual(shown, [{ type: "text", delta: "2 + 2 = 4." }]);
  },
});

Deno.test({
  ...none,
  name: "AnswerFilter drops text without a header, with an unknown channel, or after a stop in analysis",
  fn() {
    assert.deepEqual(events(textToPieces("no header at all<|end|>")), []);
    assert.deepEqual(events(textToPieces("<|channel|>finalx<|message|>nope<|end|>")), []);
    assert.deepEqual(events(textToPieces("<|channel|>analysis<|message|>thinking, then the limit")), []);
    assert.deepEqual(events(textToPieces("<|channel|>final extra words<|message|>malformed<|end|>")), []);
  },
});

Deno.test({
  ...none,
  name: "HarmonyParser and AnswerFilter never throw and never leak analysis on fuzzed input",
  fn() {
    let seed = 1234567;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const specials = ["start", "end", "message", "channel", "constrain", "return", "call"] as const;
    const words = [
      "assistant",
      "analysis",
      "final",
      "commentary",
      " to=functions.x",
      " json",
      "<|final|>",
      " ",
      "\n",
      "user",
    ];
    for (let round = 0; round < 2000; round++) {
      const pieces: Piece[] = [];
      const length = Math.floor(random() * 30);
      for (let i = 0; i < length; i++) {
        const roll = random();
        if (roll < 0.1) {
          // An analysis body as the model writes it. The oracle below knows it from the input alone,
          // independently of the parser's labels: this text must never be shown, whatever surrounds it.
          pieces.push({ special: "channel" }, { text: "analysis" }, { special: "message" }, {
            text: "SECRET",
          });
        } else {
          pieces.push(
            roll < 0.45
              ? { special: specials[Math.floor(random() * specials.length)] }
              : { text: words[Math.floor(random() * words.length)] },
          );
        }
      }
      const parser = new HarmonyParser({ role: "assistant" });
      const filter = new AnswerFilter({ includeReasoning: false });
      let shown = "";
      let finalContent = "";
      const collect = (list: ReturnType<HarmonyParser["push"]>) => {
        for (const e of list) {
          for (const out of filter.accept(e)) if (out.type === "text") shown += out.delta;
          if (
            e.type === "content" && e.header.channel === "final" && e.header.role === "assistant" &&
            e.header.recipient === null
          ) {
            finalContent += e.delta;
          }
        }
      };
      for (const piece of pieces) collect(parser.push(piece));
      collect(parser.end());
      // Independent oracle: no analysis body from the input reaches the app.
      assert.equal(shown.includes("SECRET"), false, `round ${round}: ${JSON.stringify(pieces)}`);
      // Consistency: what is shown is exactly the content of final-channel messages, nothing else.
      assert.equal(shown, finalContent);
    }
  },
});

/** The reference's strict-mode examples (openai/harmony tests/test_harmony.py and src/tests.rs). */
const MISSING_MESSAGE_TOKEN = {
  plain: "I must refuse<|end|><|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>" +
    "<|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that.<|return|>",
  other_initial_headers: "<|channel|>analysis I must refuse<|end|>" +
    "<|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>" +
    "<|start|>assistant<|channel|>final<|message|>I'm sorry, but I can't help with that.<|return|>",
  tool_call: "... Let's use the tool.<|end|>" +
    "<|start|>assistant to=functions.get_weather<|channel|>commentary json" +
    '<|message|>{"location": "Tokyo"}<|call|>',
  rust_commentary: "<|channel|>commentary Hello<|end|>",
};

for (const [name, text] of Object.entries(MISSING_MESSAGE_TOKEN)) {
  Deno.test({
    ...none,
    name: `HarmonyParser in strict mode rejects a header that never reaches <|message|> (${name})`,
    fn() {
      const parser = new HarmonyParser({ role: "assistant", strict: true });
      const events = [...textToPieces(text).flatMap((p) => parser.push(p)), ...parser.end()];
      assert.deepEqual(events.filter((e) => e.type === "malformed"), [
        { type: "malformed", reason: "header_without_message" },
      ]);
      // Nothing after the rejection is parsed.
      assert.deepEqual(parser.messages, []);
      assert.equal(events.at(-1)?.type, "malformed");
    },
  });
}

Deno.test({
  ...none,
  name: "HarmonyParser in non-strict mode recovers the reference's examples (tool call, commentary header)",
  fn() {
    assert.deepEqual(parse(MISSING_MESSAGE_TOKEN.tool_call), [
      msg({ content: "... Let's use the tool." }),
      msg({
        channel: "commentary",
        recipient: "functions.get_weather",
        content_type: "json",
        content: '{"location": "Tokyo"}',
      }),
    ]);
    assert.deepEqual(parse(MISSING_MESSAGE_TOKEN.rust_commentary), [
      msg({ channel: "commentary", content: "Hello" }),
    ]);
  },
});

Deno.test({
  ...none,
  name:
    "HarmonyParser in strict mode rejects a stream that ends inside a header and accepts well-formed output",
  fn() {
    const cut = new HarmonyParser({ role: "assistant", strict: true });
    for (const p of textToPieces("<|channel|>final")) cut.push(p);
    assert.deepEqual(cut.end(), [{ type: "malformed", reason: "header_without_message" }]);
    const good = new HarmonyParser({ role: "assistant", strict: true });
    const events = [...textToPieces(REASONING).flatMap((p) => good.push(p)), ...good.end()];
    assert.equal(events.some((e) => e.type === "malformed"), false);
    assert.deepEqual(good.messages, [
      msg({ channel: "analysis", content: 'User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.' }),
      msg({ channel: "final", content: "2 + 2 = 4." }),
    ]);
  },
});
