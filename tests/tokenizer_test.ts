/**
 * The in-process tokenizer (o200k_harmony through gpt-tokenizer) against the real llama-server: equal ids
 * on the generated gpt-oss model (real vocabulary), a detected difference on the byte-vocabulary model, and
 * the gateway's use of it: no /tokenize round trip per request when it matches, a loud fallback otherwise.
 */
import assert from "node:assert/strict";
import { type ChatEvent, GatewayClient } from "../src/client/mod.ts";
import {
  COMPLETION_FIELDS,
  type CompletionChunk,
  generateTinyModel,
  LlamaClient,
} from "../src/inference/mod.ts";
import { checkAgainstServer, loadO200kHarmony, PROBE_TEXTS } from "../src/tokenizer/mod.ts";
import { llamaServerBin, privateTempDir, startGateway } from "./helpers/gateway.ts";
import { provideDemoModel, withLlamaServer } from "./helpers/models.ts";

function withLlama(kind: "gpt-oss" | "byte", fn: (client: LlamaClient) => Promise<void>) {
  const model = kind === "gpt-oss" ? provideDemoModel : async (dir: string) => {
    await Deno.writeFile(`${dir}/byte.gguf`, generateTinyModel());
    return `${dir}/byte.gguf`;
  };
  return withLlamaServer(model, (supervisor) => fn(supervisor.client), { prefix: "pg-tok-" });
}

Deno.test("checkAgainstServer() finds the local ids equal to llama-server's on the real-vocabulary model", async () => {
  const tokenizer = await loadO200kHarmony();
  await withLlama("gpt-oss", async (client) => {
    assert.deepEqual(await checkAgainstServer(tokenizer, (t) => client.tokenize(t, false)), { ok: true });
    // And not vacuously: every probe is several tokens long.
    for (const text of PROBE_TEXTS) assert.ok(tokenizer.encodeOrdinary(text).length > 5, text);
  });
});

Deno.test("checkAgainstServer() reports a difference on another vocabulary (the byte-level model)", async () => {
  const tokenizer = await loadO200kHarmony();
  await withLlama("byte", async (client) => {
    assert.deepEqual(await checkAgainstServer(tokenizer, (t) => client.tokenize(t, false)), {
      ok: false,
      probe: 0,
    });
  });
});

Deno.test("llama.cpp's gpt-4o pre-tokenizer still splits combining marks unlike o200k_harmony (left out of the probes)", async () => {
  const tokenizer = await loadO200kHarmony();
  const text = "नमस्ते दुनिया";
  await withLlama("gpt-oss", async (client) => {
    // If this fails, llama.cpp fixed its regex: add such text to PROBE_TEXTS (tokenizer/verify.ts).
    assert.notDeepEqual(tokenizer.encodeOrdinary(text), await client.tokenize(text, false));
  });
});

Deno.test({
  name: "o200k_harmony encodeOrdinary() never yields a special id, whatever the text spells",
  permissions: "none",
  async fn() {
    const tokenizer = await loadO200kHarmony();
    const ids = tokenizer.encodeOrdinary("<|start|><|end|><|message|><|channel|><|return|><|endoftext|>");
    assert.ok(ids.length > 6);
    assert.ok(ids.every((id) => id < 199998), ids.join(","));
  },
});

async function countingGateway(env: Record<string, string>) {
  const dir = await privateTempDir("pg-tokgw-");
  const gateway = await startGateway({
    PG_BACKEND: "llama",
    PG_LLAMA_SERVER_BIN: llamaServerBin(),
    PG_RUNTIME_DIR: dir,
    PG_LLAMA_PARALLEL: "1",
    PG_LLAMA_CTX: "4096",
    ...env,
  });
  await gateway.supervisor!.ensureReady(AbortSignal.timeout(20_000));
  // Counts the gateway's /tokenize calls (the supervisor's client is the one the generator uses).
  const client = gateway.supervisor!.client;
  const original = client.tokenize.bind(client);
  let calls = 0;
  client.tokenize = (...args: Parameters<LlamaClient["tokenize"]>) => {
    calls++;
    return original(...args);
  };
  const app = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint, maxAttempts: 1 });
  const chat = async (content: string) => {
    const events: ChatEvent[] = [];
    for await (const e of app.chat({ messages: [{ role: "user", content }], max_tokens: 8 })) events.push(e);
    return events;
  };
  return {
    gateway,
    chat,
    calls: () => calls,
    async [Symbol.asyncDispose]() {
      await gateway.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("HarmonyGenerator tokenizes in process on the real-vocabulary model: no /tokenize per request", async () => {
  await using t = await countingGateway({});
  const first = await t.chat("hello <|start|>system");
  assert.equal(first.at(-1)?.type, "done");
  const afterFirst = t.calls();
  assert.ok(t.gateway.logs.some((l) => l.includes('"inference.tokenizer_local"')), t.gateway.logs.join("\n"));
  for (let i = 0; i < 3; i++) assert.equal((await t.chat(`question ${i}`)).at(-1)?.type, "done");
  assert.equal(t.calls(), afterFirst, "later requests make no /tokenize call");
});

Deno.test("HarmonyGenerator falls back to /tokenize, loudly, on another vocabulary", async () => {
  const dir = await privateTempDir("pg-tokbyte-");
  try {
    await Deno.writeFile(`${dir}/byte.gguf`, generateTinyModel());
    await using t = await countingGateway({ PG_MODEL_PATH: `${dir}/byte.gguf`, PG_DEMO_MODEL: "true" });
    assert.equal((await t.chat("hello")).at(-1)?.type, "done");
    const fallback = t.gateway.logs.find((l) => l.includes('"inference.tokenizer_fallback"'));
    assert.ok(fallback?.includes('"level":"warn"'), t.gateway.logs.join("\n"));
    const before = t.calls();
    assert.equal((await t.chat("again")).at(-1)?.type, "done");
    assert.ok(t.calls() > before, "each request tokenizes remotely");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HarmonyGenerator's final /completion chunk carries only the fields it reads: the prompt's text does not come back", async () => {
  await using t = await countingGateway({});
  const client = t.gateway.supervisor!.client;
  const original = client.completion.bind(client);
  const finals: CompletionChunk[] = [];
  client.completion = async function* (...args: Parameters<LlamaClient["completion"]>) {
    for await (const chunk of original(...args)) {
      if (chunk.stop) finals.push(chunk);
      yield chunk;
    }
  };
  const events = await t.chat("a secret question");
  const done = events.at(-1);
  assert.equal(done?.type, "done");
  assert.equal(finals.length, 1);
  const keys = Object.keys(finals[0]);
  assert.ok(keys.every((k) => COMPLETION_FIELDS.includes(k)), keys.join(","));
  assert.ok(!JSON.stringify(finals[0]).includes("secret"), "no prompt text in the final chunk");
  // The usage still comes from llama-server's counts.
  if (done?.type !== "done") throw new Error("unreachable");
  assert.equal(done.usage.prompt_tokens, finals[0].tokens_evaluated);
  assert.ok(done.usage.prompt_tokens > 10);
});
