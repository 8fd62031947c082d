/**
 * TEST-ONLY probe, run by tests/permissions_test.ts with the product's exact permission flags: tries what
 * the gateway must never be able to do and prints one line per attempt ("denied" or "ALLOWED").
 */
const attempts: [string, () => Promise<unknown>][] = [
  ["write outside the runtime dir", () => Deno.writeTextFile("/tmp/pg-probe-escape.txt", "x")],
  ["read /etc/shadow", () => Deno.readTextFile("/etc/shadow")],
  ["connect to an unlisted host", () => fetch("http://127.0.0.2:8080/")],
  ["run a shell", () => new Deno.Command("/bin/sh", { args: ["-c", "true"] }).output()],
  ["read HOME from the environment", () => Promise.resolve(Deno.env.get("HOME"))],
  ["load a native library (FFI)", () => Promise.resolve(Deno.dlopen("/lib/x86_64-linux-gnu/libc.so.6", {}))],
];
for (const [name, attempt] of attempts) {
  try {
    await attempt();
    console.log(`ALLOWED: ${name}`);
  } catch (error) {
    console.log(
      error instanceof Deno.errors.NotCapable || (error as Error).name === "NotCapable"
        ? `denied: ${name}`
        : `error: ${name}: ${(error as Error).name}`,
    );
  }
}
