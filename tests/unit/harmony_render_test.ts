/** renderConversation() against the reference examples (tests/testdata/harmony/README.md), byte for byte. */
import assert from "node:assert/strict";
import { type HarmonyMessage, piecesToText, renderConversation } from "../../src/harmony/mod.ts";

const perms = { read: [new URL("../testdata/harmony/", import.meta.url)] };
const expected = (name: string) =>
  Deno.readTextFile(new URL(`../testdata/harmony/${name}.txt`, import.meta.url)).then((t) => t.trimEnd());
const IDENTITY = "You are ChatGPT, a large language model trained by OpenAI.";
const CHANNELS = { valid_channels: ["analysis", "commentary", "final"], channel_required: true };
const system = (extra: Record<string, unknown> = {}): HarmonyMessage => ({
  role: "system",
  system: {
    model_identity: IDENTITY,
    knowledge_cutoff: "2024-06",
    reasoning_effort: "medium",
    ...CHANNELS,
    ...extra,
  },
});
const completion = (messages: HarmonyMessage[], autoDropAnalysis = true) =>
  piecesToText(renderConversation(messages, { mode: "completion", autoDropAnalysis }));

Deno.test({
  name: "renderConversation() renders a system and user message like the reference (simple_convo)",
  permissions: perms,
  async fn() {
    assert.equal(
      completion([system(), { role: "user", content: "What is 2 + 2?" }]),
      await expected("simple_convo"),
    );
  },
});

for (const effort of ["low", "medium", "high"] as const) {
  Deno.test({
    name: `renderConversation() renders reasoning effort ${effort} with developer instructions`,
    permissions: perms,
    async fn() {
      const text = completion([
        system({ reasoning_effort: effort }),
        { role: "developer", developer: { instructions: "Answer the user's questions like a robot." } },
        { role: "user", content: "What is the capital of the largest country in the world?" },
      ]);
      assert.equal(text, await expected(`simple_convo_${effort}_effort`));
    },
  });
}

Deno.test({
  name: "renderConversation() renders a system message with dates and two channels",
  permissions: perms,
  async fn() {
    const text = completion([
      system({
        knowledge_cutoff: "2021-01",
        conversation_start_date: "2021-01-01",
        valid_channels: ["analysis", "final"],
      }),
      { role: "user", content: "What is 42 * pi?" },
    ]);
    assert.equal(text, await expected("reasoning_system_message_with_dates"));
  },
});

Deno.test({
  name: "renderConversation() drops analysis before a final answer by default",
  permissions: perms,
  async fn() {
    const text = completion([
      { role: "user", content: "What is 2 + 2?" },
      {
        role: "assistant",
        channel: "analysis",
        content: "User asks: “What is 2 + 2?” Simple arithmetic. Provide answer.",
      },
      { role: "assistant", channel: "final", content: "2 + 2 equals 4." },
      { role: "user", content: "What about 9 / 2?" },
    ]);
    assert.equal(text, await expected("dropping_cot_by_default"));
  },
});

Deno.test({
  name: "renderConversation() keeps analysis when auto_drop_analysis is off",
  permissions: perms,
  async fn() {
    const text = completion([
      { role: "user", content: "What is 2 + 2?" },
      {
        role: "assistant",
        channel: "analysis",
        content: 'User asks a simple question: "What is 2 + 2?" The answer: 4.',
      },
      { role: "assistant", channel: "final", content: "2 + 2 equals 4." },
      { role: "user", content: "What about 9 / 2?" },
    ], false);
    assert.equal(text, await expected("preserve_cot"));
  },
});

Deno.test({
  name: "renderConversation() keeps ongoing analysis and renders a tool call and its result",
  permissions: perms,
  async fn() {
    const text = completion([
      { role: "user", content: "What is the weather in SF?" },
      {
        role: "assistant",
        channel: "analysis",
        content: "User asks: “What is the weather in SF?” We need to use lookup_weather tool.",
      },
      {
        role: "assistant",
        channel: "commentary",
        recipient: "functions.lookup_weather",
        content_type: "<|constrain|>json",
        content: '{"location": "San Francisco"}',
      },
      {
        role: "tool",
        name: "functions.lookup_weather",
        content: '{"temperature": 20, "description": "sunny"}',
      },
    ]);
    assert.equal(text, await expected("does_not_drop_if_ongoing_analysis"));
  },
});

Deno.test({
  name: "renderConversation() in conversation mode keeps analysis between finals",
  permissions: perms,
  async fn() {
    const text = piecesToText(renderConversation([
      { role: "user", content: "What is 2 + 2?" },
      { role: "assistant", channel: "analysis", content: "thinking 2+2" },
      { role: "assistant", channel: "final", content: "4" },
      { role: "user", content: "What is 3 + 5?" },
      { role: "assistant", channel: "analysis", content: "thinking 3+5" },
      { role: "assistant", channel: "final", content: "8" },
    ], { mode: "conversation", autoDropAnalysis: true }));
    assert.equal(text, await expected("keep_analysis_between_finals"));
  },
});

Deno.test({
  name: "renderConversation() renders function tools as a TypeScript namespace",
  permissions: perms,
  async fn() {
    const text = completion([
      system({ reasoning_effort: "high", conversation_start_date: "2025-06-28" }),
      {
        role: "developer",
        developer: {
          instructions: "Always respond in riddles",
          function_tools: [
            { name: "get_location", description: "Gets the location of the user." },
            {
              name: "get_current_weather",
              description: "Gets the current weather in the provided location.",
              parameters: {
                type: "object",
                properties: {
                  location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
                  format: { type: "string", enum: ["celsius", "fahrenheit"], default: "celsius" },
                },
                required: ["location"],
              },
            },
            {
              name: "get_multiple_weathers",
              description: "Gets the current weather in the provided list of locations.",
              parameters: {
                type: "object",
                properties: {
                  locations: {
                    type: "array",
                    items: { type: "string" },
                    description: 'List of city and state, e.g. ["San Francisco, CA", "New York, NY"]',
                  },
                  format: { type: "string", enum: ["celsius", "fahrenheit"], default: "celsius" },
                },
                required: ["locations"],
              },
            },
            {
              name: "kitchensink",
              description: "A function with various complex schemas.",
              parameters: {
                description: "params object",
                type: "object",
                properties: {
                  string: {
                    type: "string",
                    title: "STRING",
                    description: "A string",
                    examples: ["hello", "world"],
                  },
                  string_nullable: {
                    type: "string",
                    nullable: true,
                    description: "A nullable string",
                    default: "the default",
                  },
                  string_enum: { type: "string", enum: ["a", "b", "c"] },
                  oneof_string_or_number: {
                    oneOf: [
                      { type: "string", default: "default_string_in_oneof" },
                      { type: "number", description: "numbers can happen too" },
                    ],
                    description: "a oneof",
                    default: 20,
                  },
                },
              },
            },
          ],
        },
      },
      { role: "user", content: "What is the weather like in SF?" },
    ]);
    assert.equal(text, await expected("render_functions_with_parameters"));
  },
});

Deno.test({
  name: "renderConversation() renders a lone system message with a date (no_tools)",
  permissions: perms,
  async fn() {
    assert.equal(completion([system({ conversation_start_date: "2025-06-28" })]), await expected("no_tools"));
  },
});

Deno.test({
  name:
    "renderConversation() renders # Response Formats at the end of the developer message (structured output)",
  permissions: perms,
  async fn() {
    const text = completion([
      system({ reasoning_effort: "high" }),
      {
        role: "developer",
        developer: {
          instructions: "You are a helpful shopping assistant",
          response_formats: [{
            name: "shopping_list",
            schema: {
              properties: {
                items: {
                  type: "array",
                  description: "entries on the shopping list",
                  items: { type: "string" },
                },
              },
              type: "object",
            },
          }],
        },
      },
      { role: "user", content: "I need to buy coffee, soda and eggs" },
    ]);
    assert.equal(text, await expected("response_formats"));
  },
});

Deno.test({
  name: "renderConversation() writes a response format's description as a // comment above its schema",
  permissions: "none",
  fn() {
    const text = completion([{
      role: "developer",
      developer: {
        response_formats: [
          { name: "a", description: "First format", schema: { type: "string" } },
          { name: "b", schema: { type: "number" } },
        ],
      },
    }]);
    assert.equal(
      text,
      '<|start|>developer<|message|># Response Formats\n\n## a\n\n// First format\n{"type":"string"}\n\n## b\n\n' +
        '{"type":"number"}<|end|><|start|>assistant',
    );
  },
});
