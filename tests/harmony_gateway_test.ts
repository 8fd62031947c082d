/**
 * What the app sees through the whole gateway: final text and tool calls only. The model side is a FAKE
 * llama-server answering scripted Harmony (tests/helpers/fake_harmony_llama.py), because the real tiny
 * model only produces random tokens; the real llama-server is covered in llama_integration_test.ts and
 * injection_test.ts.
 */
import assert from "node:assert/strict";
import { type ChatEvent, GatewayClient } from "../src/client/mod.ts";
import { generateTinyModel } from "../src/inference/mod.ts";
import { llamaServerBin, privateTempDir, startGateway } from "./helpers/gateway.ts";

const FAKE = new URL("./helpers/fake_harmony_llama.py", import.meta.url).pathname;
const TOOLS = [{
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Gets the weather in a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
}];

async function fakeGateway(env: Record<string, string> = {}) {
  const dir = await privateTempDir("pg-fake-harmony-");
  const gateway = await startGateway({
    PG_BACKEND: "llama",
    PG_LLAMA_SERVER_BIN: FAKE,
    PG_MODEL_PATH: `${dir}/fake-harmony.gguf`,
    PG_RUNTIME_DIR: dir,
    ...env,
  });
  await gateway.supervisor!.ensureReady(AbortSignal.timeout(10_000));
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  return {
    gateway,
    client,
    prompt: () => Deno.readTextFile(`${dir}/fake-harmony.gguf.prompt`),
    async [Symbol.asyncDispose]() {
      await gateway.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function collect(iterable: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const events: ChatEvent[] = [];
  for await (const event of iterable) events.push(event);
  return events;
}

Deno.test("With tools, the app receives a structured tool call and no analysis", async () => {
  await using t = await fakeGateway();
  const events = await collect(
    t.client.chat({ messages: [{ role: "user", content: "Weather in Paris?" }], tools: TOOLS }),
  );
  assert.deepEqual(events.filter((e) => e.type !== "done").map((e) => e.type), ["tool_call"]);
  const call = events[0];
  assert.equal(call.type === "tool_call" && call.name, "get_weather");
  assert.equal(call.type === "tool_call" && call.arguments, '{"city": "Paris"}');
  const done = events.at(-1);
  assert.equal(done?.type === "done" && done.finish_reason, "tool_calls");
  assert.equal(JSON.stringify(events).includes("SECRET-ANALYSIS"), false);
  const prompt = await t.prompt();
  assert.match(
    prompt,
    /# Tools\n\n## functions\n\nnamespace functions \{\n\n\/\/ Gets the weather in a city\.\ntype get_weather = \(_: \{\ncity: string,\n\}\) => any;/,
  );
  assert.match(prompt, /Calls to these tools must go to the commentary channel: 'functions'\./);
  assert.match(prompt, /<\|start\|>assistant$/);
});

Deno.test("With tool history, the app receives only the final text", async () => {
  await using t = await fakeGateway();
  const events = await collect(t.client.chat({
    messages: [
      { role: "system", content: "Be terse." },
      { role: "user", content: "Weather in Paris?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "call_1",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Paris"}' },
        }],
      },
      { role: "tool", tool_call_id: "call_1", content: '{"sky":"sunny"}' },
    ],
    tools: TOOLS,
  }));
  const text = events.map((e) => (e.type === "text" ? e.delta : "")).join("");
  assert.equal(text, "It is sunny in Paris.");
  assert.deepEqual([...new Set(events.map((e) => e.type))], ["text", "done"]);
  assert.equal(JSON.stringify(events).includes("SECRET-ANALYSIS"), false);
  const prompt = await t.prompt();
  assert.match(prompt, /Be terse\./);
  assert.match(
    prompt,
    /<\|start\|>assistant to=functions\.get_weather<\|channel\|>commentary <\|constrain\|>json<\|message\|>\{"city":"Paris"\}<\|call\|>/,
  );
  assert.match(
    prompt,
    /<\|start\|>functions\.get_weather to=assistant<\|channel\|>commentary<\|message\|>\{"sky":"sunny"\}<\|end\|>/,
  );
});

Deno.test("Analysis reaches the app only when the request asks and configuration allows", async () => {
  {
    await using t = await fakeGateway();
    const events = await collect(
      t.client.chat({ messages: [{ role: "user", content: "hi" }], include_reasoning: true }),
    );
    assert.equal(events.some((e) => e.type === "reasoning"), false, "configuration does not allow it");
  }
  {
    await using t = await fakeGateway({ PG_ALLOW_REASONING: "true" });
    const events = await collect(
      t.client.chat({ messages: [{ role: "user", content: "hi" }], include_reasoning: true }),
    );
    const reasoning = events.map((e) => (e.type === "reasoning" ? e.delta : "")).join("");
    assert.match(reasoning, /SECRET-ANALYSIS/);
    const text = events.map((e) => (e.type === "text" ? e.delta : "")).join("");
    assert.equal(text.includes("SECRET-ANALYSIS"), false);
  }
});

Deno.test("Reasoning effort and verbosity reach the rendered prompt", async () => {
  await using t = await fakeGateway();
  await collect(
    t.client.chat({
      messages: [{ role: "user", content: "hi" }],
      reasoning_effort: "high",
      verbosity: "detailed",
    }),
  );
  const prompt = await t.prompt();
  assert.match(prompt, /\nReasoning: high\n/);
  assert.match(prompt, /Answer thoroughly/);
  await collect(t.client.chat({ messages: [{ role: "user", content: "hi" }] }));
  const defaults = await t.prompt();
  assert.match(defaults, /\nReasoning: low\n/, "default effort from configuration");
  assert.match(defaults, /Answer briefly for a phone screen/, "brief by default");
});

Deno.test("The chat-template backend streams answers from the real llama-server for non-gpt-oss models", async () => {
  const dir = await privateTempDir("pg-chat-mode-");
  // A llama-architecture model without a template of its own (llama.cpp falls back to ChatML).
  await Deno.writeFile(`${dir}/byte.gguf`, generateTinyModel());
  await using gateway = await startGateway({
    PG_BACKEND: "llama",
    PG_MODEL_FORMAT: "chat",
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: dir,
    PG_MODEL_PATH: `${dir}/byte.gguf`,
  });
  await gateway.supervisor!.ensureReady(AbortSignal.timeout(20_000));
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  const events = await collect(
    client.chat({ messages: [{ role: "user", content: "hello" }], max_tokens: 8 }),
  );
  const done = events.at(-1);
  assert.equal(done?.type, "done", JSON.stringify(done));
  // An answer was streamed, not just an end: text deltas before `done`, counted by llama-server.
  const texts = events.filter((e) => e.type === "text");
  assert.ok(texts.length > 0, `no text event: ${JSON.stringify(events.map((e) => e.type))}`);
  assert.ok(texts.map((e) => e.type === "text" ? e.delta : "").join("").length > 0, "the text is not empty");
  assert.deepEqual(events.slice(0, -1).map((e) => e.type), texts.map(() => "text"), "only text before done");
  if (done?.type === "done") {
    assert.ok(done.usage.completion_tokens >= 1 && done.usage.completion_tokens <= 8, JSON.stringify(done));
    assert.ok(done.usage.prompt_tokens > 0, JSON.stringify(done));
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("The chat-template backend on the gpt-oss model (llama.cpp's own template and Harmony parser) reports output it cannot parse as an error", async () => {
  const dir = await privateTempDir("pg-chat-gptoss-");
  await using gateway = await startGateway({
    PG_BACKEND: "llama",
    PG_MODEL_FORMAT: "chat",
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: dir,
  });
  await gateway.supervisor!.ensureReady(AbortSignal.timeout(20_000));
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  const events = await collect(
    client.chat({ messages: [{ role: "user", content: "hello" }], max_tokens: 8 }),
  );
  // The demo model's random text is not Harmony: llama.cpp's gpt-oss parser fails mid-stream with an
  // `error` event, which must reach the app as an error, not as an empty answer that ended cleanly.
  assert.deepEqual(events.map((e) => e.type), ["error"], JSON.stringify(events));
  // Content-dependent, like a refused prompt: not the backend's fault, so no failover and no circuit count.
  assert.equal(events[0].type === "error" && events[0].code, "upstream_rejected");
  await Deno.remove(dir, { recursive: true });
});
