/** The key rotation timer's one check, called directly (no waiting for the 10 s poll). */
import assert from "node:assert/strict";
import { loadConfig, rotateHpkeKeysFile } from "../src/config/mod.ts";
import { loadKeyRing, startKeyRotation } from "../src/gateway/mod.ts";
import type { Logger, LogLevel } from "../src/observability/mod.ts";
import { privateTempDir } from "./helpers/gateway.ts";

Deno.test("startKeyRotation() logs a broken keys file as keys.reload_failed and keeps the keys", async () => {
  const dir = await privateTempDir("pg-rot-");
  const file = `${dir}/hpke.json`;
  const now = Math.floor(Date.now() / 1000);
  const write = (text: string) => Deno.writeTextFile(file, text, { mode: 0o600 });
  await write(JSON.stringify(rotateHpkeKeysFile(undefined, now, 3600)));
  const loaded = loadConfig({ PG_HPKE_KEYS_FILE: file, PG_REDIS_URL: "redis://127.0.0.1:1" }, () => "");
  assert.ok(loaded.ok);
  const ring = await loadKeyRing(loaded.config, now);
  const before = ring.keys.map((k) => k.keyId);
  const lines: [LogLevel, string][] = [];
  const logger: Logger = { log: (level, event) => lines.push([level, event]) };
  using rotation = await startKeyRotation({
    ring,
    keysFile: file,
    rotationSeconds: 3600,
    nowSeconds: () => now,
    logger,
  });
  await write("{ not json");
  await rotation.check();
  assert.deepEqual(lines, [["error", "keys.reload_failed"]]);
  assert.deepEqual(ring.keys.map((k) => k.keyId), before, "the current keys stay");
  // A good file again: reloaded and logged as a rotation.
  await write(JSON.stringify(rotateHpkeKeysFile(undefined, now, 3600)));
  await rotation.check();
  assert.deepEqual(lines.at(-1), ["info", "keys.rotated"]);
  await Deno.remove(dir, { recursive: true });
});
