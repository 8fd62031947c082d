/** Configuration: strict schema, one line per problem, production refusals, the example env file. */
import assert from "node:assert/strict";
import { loadConfig, parseEnvFile, semiSpaceMiB, v8Flags } from "../../src/config/mod.ts";

const none = { permissions: "none" as const };
const noFile = () => {
  throw new Error("no file");
};

Deno.test({
  ...none,
  name: "loadConfig() applies the development defaults (127.0.0.1:8000)",
  fn() {
    const result = loadConfig({}, noFile);
    assert.ok(result.ok);
    assert.equal(result.config.PG_HOST, "127.0.0.1");
    assert.equal(result.config.PG_PORT, 8000);
    assert.equal(result.config.PG_PROFILE, "development");
  },
});

Deno.test({
  ...none,
  name: "loadConfig() names every bad variable on its own line, including typos",
  fn() {
    const result = loadConfig({ PG_PORT: "eighty", PG_PROFLE: "production", PG_BACKEND: "gpt" }, noFile);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(result.problems.map((p) => p.split(":")[0]).sort(), [
      "PG_BACKEND",
      "PG_PORT",
      "PG_PROFLE",
    ]);
    assert.ok(result.problems.every((p) => !p.includes("\n")));
  },
});

Deno.test({
  ...none,
  name: "loadConfig() ignores variables without the PG_ prefix",
  fn() {
    assert.ok(loadConfig({ HOME: "/root", PATH: "/bin" }, noFile).ok);
  },
});

Deno.test({
  ...none,
  name: "loadConfig() refuses plain HTTP on a public address in production",
  fn() {
    const result = loadConfig({
      PG_PROFILE: "production",
      PG_HOST: "0.0.0.0",
      PG_IDENTITY_KEY_FILE: "/etc/pg/id.json",
      PG_MODEL_PATH: "/m.gguf",
      PG_LLAMA_SERVER_BIN: "/bin/llama-server",
      PG_RUNTIME_DIR: "/run/pg",
      PG_AUTH: "device",
    }, noFile);
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.problems.join("\n"), /^PG_HOST: production refuses plain HTTP/m);
    const behindProxy = loadConfig({
      PG_PROFILE: "production",
      PG_HOST: "0.0.0.0",
      PG_BEHIND_TLS_PROXY: "true",
      PG_TRUSTED_PROXIES: "10.0.0.5",
      PG_IDENTITY_KEY_FILE: "/etc/pg/id.json",
      PG_MODEL_PATH: "/m.gguf",
      PG_LLAMA_SERVER_BIN: "/bin/llama-server",
      PG_RUNTIME_DIR: "/run/pg",
      PG_AUTH: "device",
    }, noFile);
    assert.ok(behindProxy.ok);
  },
});

/** A production config that is valid but for what a test changes (device mode: token mode has its own test). */
const _PRODUCTION = {
  PG_PROFILE: "production",
  PG_IDENTITY_KEY_FILE: "/etc/pg/id.json",
  PG_MODEL_PATH: "/m.gguf",
  PG_LLAMA_SERVER_BIN: "/bin/llama-server",
  PG_RUNTIME_DIR: "/run/pg",
  PG_AUTH: "device",
};

Deno.test({
  ...none,
  name: "loadConfig() refuses production proxy trust on a public address without a proxy list (spoofed XFF)",
  fn() {
    const result = loadConfig({ ..._PRODUCTION, PG_HOST: "0.0.0.0", PG_BEHIND_TLS_PROXY: "true" }, noFile);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.deepEqual(result.problems, [
        "PG_TRUSTED_PROXIES: production behind a proxy on a public address needs the proxy's addresses in PG_TRUSTED_PROXIES",
      ]);
    }
    const loopback = loadConfig(
      { ..._PRODUCTION, PG_HOST: "127.0.0.1", PG_BEHIND_TLS_PROXY: "true" },
      noFile,
    );
    assert.ok(loopback.ok, "a loopback listener trusts the loopback proxy by default");
  },
});

Deno.test({
  ...none,
  name: "loadConfig() refuses a malformed PG_TRUSTED_PROXIES entry",
  fn() {
    const result = loadConfig(
      { PG_BEHIND_TLS_PROXY: "true", PG_TRUSTED_PROXIES: "10.0.0.1,10.0.0.300" },
      noFile,
    );
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.match(
        result.problems.join("\n"),
        /^PG_TRUSTED_PROXIES: Cannot parse trusted proxy '10\.0\.0\.300'/m,
      );
    }
    assert.ok(loadConfig({ PG_TRUSTED_PROXIES: "10.0.0.0/8, 2001:db8::/32" }, noFile).ok);
  },
});

Deno.test({
  ...none,
  name: "loadConfig() refuses PG_DEMO_MODEL=true in production",
  fn() {
    const result = loadConfig({ ..._PRODUCTION, PG_DEMO_MODEL: "true" }, noFile);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.deepEqual(result.problems, ["PG_DEMO_MODEL: the demo model is for development only"]);
    }
    assert.ok(loadConfig({ PG_DEMO_MODEL: "true" }, noFile).ok, "development may serve the demo model");
  },
});

Deno.test({
  ...none,
  name: "loadConfig() refuses production without an identity key or with the echo backend",
  fn() {
    const result = loadConfig({ PG_PROFILE: "production", PG_BACKEND: "echo" }, noFile);
    assert.equal(result.ok, false);
    if (result.ok) return;
    const names = result.problems.map((p) => p.split(":")[0]);
    assert.ok(names.includes("PG_IDENTITY_KEY_FILE"));
    assert.ok(names.includes("PG_BACKEND"));
  },
});

Deno.test({
  ...none,
  name: "loadConfig() refuses an uncoalesced stream in production (every token its own chunk: Whisper Leak)",
  fn() {
    const result = loadConfig({ ..._PRODUCTION, PG_STREAM_TICK_MS: "0" }, noFile);
    assert.equal(result.ok, false);
    if (!result.ok) assert.deepEqual(result.problems.map((p) => p.split(":")[0]), ["PG_STREAM_TICK_MS"]);
    assert.ok(loadConfig({ PG_STREAM_TICK_MS: "0" }, noFile).ok, "development may (tests, benchmarks)");
    // A base tick above the longest lengthened one is kept as is: no cross-field rule to break upgrades.
    assert.ok(loadConfig({ ..._PRODUCTION, PG_STREAM_TICK_MS: "500" }, noFile).ok);
  },
});

Deno.test({
  name: "The example env file (deploy/privacy-gateway.env.example) parses as a valid production config",
  permissions: { read: true },
  fn() {
    const text = Deno.readTextFileSync(new URL("../../deploy/privacy-gateway.env.example", import.meta.url));
    const parsed = parseEnvFile(text);
    assert.deepEqual(parsed.problems, []);
    const result = loadConfig(parsed.values, noFile);
    assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
    assert.equal(result.config.PG_PROFILE, "production");
  },
});

Deno.test({
  name: "README's configuration table lists every PG_* variable of the schema",
  permissions: { read: true },
  async fn() {
    const { ENV_SCHEMA } = await import("../../src/config/mod.ts");
    const readme = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
    for (const name of Object.keys(ENV_SCHEMA.shape)) {
      assert.match(readme, new RegExp(`^\\| \`${name}\` +\\|`, "m"), `${name} missing from README`);
    }
  },
});

Deno.test({
  ...none,
  name: "loadConfig() refuses a shared keys file without a shared replay store (replay across instances)",
  fn() {
    for (const profile of ["development", "production"]) {
      const result = loadConfig({ PG_PROFILE: profile, PG_HPKE_KEYS_FILE: "/etc/pg/hpke.json" }, noFile);
      assert.equal(result.ok, false, profile);
      if (!result.ok) {
        assert.match(
          result.problems.join("\n"),
          /^PG_HPKE_KEYS_FILE: a shared keys file needs a shared replay store/m,
        );
      }
    }
    const shared = loadConfig({
      PG_HPKE_KEYS_FILE: "/etc/pg/hpke.json",
      PG_REDIS_URL: "redis://127.0.0.1:6379",
    }, noFile);
    assert.equal(shared.ok, true);
  },
});

Deno.test({
  ...none,
  name: "loadConfig() token mode by default; a shared keys file needs Redis; production needs the keys file",
  fn() {
    const defaults = loadConfig({}, noFile);
    assert.ok(defaults.ok);
    assert.equal(defaults.config.PG_AUTH, "token");
    assert.equal(defaults.config.PG_TOKENS_PER_DEVICE_PER_DAY, 200);
    assert.equal(defaults.config.PG_TOKEN_BATCH_SIZE, 20);
    const unshared = loadConfig({ PG_AUTH: "token", PG_TOKEN_KEYS_FILE: "/etc/pg/tokens.json" }, noFile);
    assert.equal(unshared.ok, false);
    if (!unshared.ok) assert.match(unshared.problems.join("\n"), /^PG_TOKEN_KEYS_FILE: .*PG_REDIS_URL/m);
    const overlap = loadConfig({
      PG_TOKEN_KEY_LIFETIME_SECONDS: "7200",
      PG_TOKEN_KEY_OVERLAP_SECONDS: "3600",
    }, noFile);
    assert.equal(overlap.ok, false);
    const production = {
      PG_PROFILE: "production",
      PG_IDENTITY_KEY_FILE: "/etc/pg/id.json",
      PG_MODEL_PATH: "/m.gguf",
      PG_LLAMA_SERVER_BIN: "/bin/llama-server",
      PG_RUNTIME_DIR: "/run/pg",
    };
    // Token mode is the default in production too: without its files it is an error, not device mode.
    const missing = loadConfig(production, noFile);
    assert.equal(missing.ok, false);
    if (!missing.ok) assert.match(missing.problems.join("\n"), /^PG_TOKEN_KEYS_FILE: production token mode/m);
    assert.ok(loadConfig({ ...production, PG_AUTH: "device" }, noFile).ok);
    assert.ok(
      loadConfig({
        ...production,
        PG_TOKEN_KEYS_FILE: "/etc/pg/tokens.json",
        PG_REDIS_URL: "redis://127.0.0.1:6379",
      }, noFile).ok,
    );
  },
});

Deno.test({
  ...none,
  name: "semiSpaceMiB() caps the young generation at most 32 streams per MiB, a power of two from 8 to 32",
  fn() {
    // 256 streams at 8 MiB and 128 at 4 were measured below the promotion cliff, 256 at 4 past it; V8
    // rounds the flag up to a power of two.
    const streams = [1, 32, 256, 257, 300, 512, 513, 1000, 1024, 1025, 10_000];
    assert.deepEqual(streams.map(semiSpaceMiB), [8, 8, 8, 16, 16, 16, 32, 32, 32, 32, 32]);
  },
});

Deno.test({
  ...none,
  name: "v8Flags() gives the gateway's capacity a cap, following PG_MAX_CONCURRENT_STREAMS; the node none",
  fn() {
    const flags = (env: Record<string, string>, role: "gateway" | "node" = "gateway") => {
      const result = loadConfig(env, noFile, role);
      assert.ok(result.ok);
      return v8Flags(result.config, role);
    };
    assert.deepEqual(flags({}), ["--v8-flags=--max-semi-space-size=8"]);
    assert.deepEqual(flags({ PG_MAX_CONCURRENT_STREAMS: "400" }), ["--v8-flags=--max-semi-space-size=16"]);
    assert.deepEqual(flags({}, "node"), [], "an inference node was not measured: V8's default");
  },
});
