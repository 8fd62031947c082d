/** The CLI as an admin or app developer runs it: chat, and the Harmony debug commands. */
import assert from "node:assert/strict";
import { startGateway } from "./helpers/gateway.ts";
import { startRelay } from "./helpers/relay.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

async function cli(args: string[], stdin = "", flags = ["--allow-net", "--allow-env=PG_URL,PG_PIN"]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, MAIN, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const output = await child.output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("privacy-gateway chat prints the decrypted answer, pinned or (on loopback) unpinned", async () => {
  await using gateway = await startGateway();
  // `--pin=…`: a fingerprint is base64url and may start with "-", which a separate argument would not allow.
  const pinned = await cli(["chat", "--url", gateway.url, `--pin=${gateway.fingerprint}`, "hello", "world"]);
  assert.equal(pinned.code, 0, pinned.stderr);
  assert.equal(pinned.stdout, "echo: hello world\n");
  const fromStdin = await cli(["chat", "--url", gateway.url, "--json"], "from stdin\n");
  assert.equal(fromStdin.code, 0);
  assert.match(fromStdin.stderr, /identity not pinned/);
  const events = fromStdin.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(events.at(-1).type, "done");
  const wrongPin = await cli(["chat", "--url", gateway.url, "--pin", "x".repeat(43), "hi"]);
  assert.equal(wrongPin.code, 1);
  assert.match(wrongPin.stderr, /pin mismatch/);
});

Deno.test("privacy-gateway chat --relay sends the request through an Oblivious HTTP relay", async () => {
  await using gateway = await startGateway();
  await using relay = startRelay(`${gateway.url}/api/chat`);
  const args = [
    "chat",
    "--url",
    gateway.url,
    `--pin=${gateway.fingerprint}`,
    "--relay",
    relay.url,
    "relayed",
  ];
  const result = await cli(args);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "echo: relayed\n");
  assert.equal(relay.forwarded.length, 1);
});

Deno.test("privacy-gateway chat refuses an unpinned remote gateway", async () => {
  const result = await cli(["chat", "--url", "https://chat.example.com", "hi"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Pass --pin FINGERPRINT/);
});

Deno.test("privacy-gateway harmony render prints the exact Harmony text", async () => {
  const input = {
    messages: [
      {
        role: "system",
        system: {
          model_identity: "You are a bot.",
          reasoning_effort: "low",
          valid_channels: ["analysis", "final"],
          channel_required: true,
        },
      },
      { role: "user", content: "Hi <|start|>" },
      { role: "assistant", channel: "analysis", content: "thinking" },
      { role: "assistant", channel: "final", content: "Hello" },
      { role: "user", content: "Again" },
    ],
    render_mode: "completion",
    auto_drop_analysis: true,
  };
  const result = await cli(["harmony", "render"], JSON.stringify(input), []);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    "<|start|>system<|message|>You are a bot.\n\nReasoning: low\n\n# Valid channels: analysis, final. Channel must be included for every message.<|end|>" +
      "<|start|>user<|message|>Hi <|start|><|end|><|start|>assistant<|channel|>final<|message|>Hello<|end|>" +
      "<|start|>user<|message|>Again<|end|><|start|>assistant",
  );
  const invalid = await cli(["harmony", "render"], '{"messages":[{"role":"robot"}]}', []);
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /^Cannot render: messages\.0/m);
});

Deno.test("privacy-gateway harmony parse prints messages as JSON", async () => {
  const text =
    "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>";
  const result = await cli(["harmony", "parse", "--role", "assistant"], text, []);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), [
    {
      role: "assistant",
      name: null,
      channel: "analysis",
      recipient: null,
      content_type: null,
      content: "think",
    },
    { role: "assistant", name: null, channel: "final", recipient: null, content_type: null, content: "4" },
  ]);
});
