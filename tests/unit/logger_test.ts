/** The allow-list logger: unknown fields never reach a line. */
import assert from "node:assert/strict";
import { createLogger, formatLogLine, type LogFields } from "../../src/observability/mod.ts";

Deno.test({
  permissions: "none",
  name: "formatLogLine() drops fields that are not allow-listed, even through a cast",
  fn() {
    const fields = {
      status: 200,
      prompt: "SECRET",
      body: "SECRET",
      ip: "203.0.113.9",
    } as unknown as LogFields;
    const line = formatLogLine("info", "request.finished", fields, new Date(0));
    assert.equal(line.includes("SECRET"), false);
    assert.equal(line.includes("203.0.113.9"), false);
    assert.deepEqual(JSON.parse(line), {
      time: "1970-01-01T00:00:00.000Z",
      level: "info",
      event: "request.finished",
      status: 200,
    });
  },
});

Deno.test({
  permissions: "none",
  name: "formatLogLine() drops allow-listed fields of the wrong type and bounds strings",
  fn() {
    const fields = { status: "SECRET", reason: "x".repeat(1000) } as unknown as LogFields;
    const parsed = JSON.parse(formatLogLine("warn", "supervisor.unhealthy", fields, new Date(0)));
    assert.equal(parsed.status, undefined);
    assert.equal(parsed.reason.length, 200);
  },
});

Deno.test({
  permissions: "none",
  name: "createLogger() writes exactly the events at or above its level",
  fn() {
    const levels = ["debug", "info", "warn", "error"] as const;
    for (const [rank, minLevel] of levels.entries()) {
      const lines: string[] = [];
      const logger = createLogger(minLevel, (l) => lines.push(l), () => new Date(0));
      for (const level of levels) logger.log(level, "keys.loaded", { keys: levels.indexOf(level) });
      assert.deepEqual(
        lines.map((l) => JSON.parse(l).level),
        levels.slice(rank),
        `minimum ${minLevel}`,
      );
      assert.deepEqual(lines.map((l) => JSON.parse(l).keys), [0, 1, 2, 3].slice(rank), "the right lines");
    }
  },
});
