/** Command-line parsing: every accepted flag does something; no permissions. */
import assert from "node:assert/strict";
import { parseCommandLine } from "../../src/cli/mod.ts";

const none = { permissions: "none" as const };

for (const flag of ["--reasoning-effort", "--verbosity"]) {
  Deno.test({
    ...none,
    name: `parseCommandLine() refuses ${flag}, which no command implements`,
    fn() {
      assert.throws(
        () => parseCommandLine(["chat", flag, "high", "hello"]),
        (e) => e instanceof TypeError && "code" in e && e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION",
      );
    },
  });
}

Deno.test({
  ...none,
  name: "parseCommandLine() reads the chat flags it documents",
  fn() {
    const line = parseCommandLine([
      "chat",
      "--url",
      "http://127.0.0.1:8000",
      "--json",
      "--max-tokens",
      "5",
      "hi",
    ]);
    assert.equal(line.command, "chat");
    assert.deepEqual(line.positionals, ["hi"]);
    assert.equal(line.flags.url, "http://127.0.0.1:8000");
    assert.equal(line.flags.json, true);
    assert.equal(line.flags["max-tokens"], "5");
  },
});

Deno.test({
  name: "parseCommandLine() takes a fingerprint that begins with '-' as the value of --pin",
  permissions: "none",
  fn() {
    const line = parseCommandLine(["chat", "--pin", "-abc_DEF", "hello"]);
    assert.equal(line.flags.pin, "-abc_DEF");
    assert.deepEqual(line.positionals, ["hello"]);
  },
});
