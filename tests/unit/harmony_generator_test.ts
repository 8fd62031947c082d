import assert from "node:assert/strict";
import { HarmonyGenerator } from "../../src/inference/harmony_generator.ts";
import type { Router } from "../../src/inference/router.ts";
import { DEFAULT_POLICY } from "../../src/harmony/mod.ts";
import { GatewayError } from "../../src/protocol/mod.ts";

Deno.test({
  name:
    "HarmonyGenerator refuses a conversation too long for the context when it is read, before any backend",
  permissions: "none",
  async fn() {
    let asked = 0;
    // A fake router: counts the requests for a backend, which a refused conversation must never make.
    const router = {
      acquireWhenReady: () => {
        asked++;
        return Promise.reject(new GatewayError("upstream_unavailable"));
      },
      ready: () => true,
    } as unknown as Router;
    const generator = new HarmonyGenerator(router, {
      policy: DEFAULT_POLICY,
      deadlines: { connectMs: 1000, firstTokenMs: 1000, idleMs: 1000 },
      allowReasoning: false,
      maxTokensCap: 16,
      prefillFinal: true,
      readyWaitMs: 0,
      maxAttempts: 1,
      today: () => "2026-11-30",
      contextTokens: 64,
      localTokenizer: null,
    });
    const read = async (content: string) => {
      try {
        for await (
          const _ of generator.generate(
            { messages: [{ role: "user", content }], stream: true, include_reasoning: false },
            new AbortController().signal,
          )
        );
        return "ended";
      } catch (error) {
        return error instanceof GatewayError ? error.code : String(error);
      }
    };
    // Creating the answer throws nothing; reading it fails with the request's own error.
    const answer = generator.generate(
      { messages: [{ role: "user", content: "x".repeat(4096) }], stream: true, include_reasoning: false },
      new AbortController().signal,
    );
    assert.equal(asked, 0);
    assert.equal(await read("x".repeat(4096)), "context_too_long");
    assert.equal(asked, 0, "no backend was asked for");
    assert.ok(answer[Symbol.asyncIterator]);
    // A short one goes on to ask for a backend (here: none).
    assert.equal(await read("hi"), "upstream_unavailable");
    assert.equal(asked, 1);
  },
});
