/** The parameter firewall: only known sampling parameters reach llama-server, clamped to safe ranges. */
import assert from "node:assert/strict";
import { clampSampling } from "../../src/inference/mod.ts";

Deno.test({
  permissions: "none",
  name: "clampSampling() clamps extreme values and drops everything else",
  fn() {
    assert.deepEqual(clampSampling({ temperature: 1e9, top_p: -3 }), { temperature: 2, top_p: 0.01 });
    assert.deepEqual(clampSampling({ temperature: Number.NaN, top_p: Number.POSITIVE_INFINITY }), {
      temperature: 1,
      top_p: 1,
    });
    assert.deepEqual(clampSampling({}), { temperature: 1, top_p: 1 });
    const smuggled = { temperature: 0.5, top_p: 0.9, n_probs: 1e9, grammar: "x", slot_id: 3 } as Parameters<
      typeof clampSampling
    >[0];
    assert.deepEqual(Object.keys(clampSampling(smuggled)).sort(), ["temperature", "top_p"]);
  },
});
