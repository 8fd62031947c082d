/**
 * Edge benchmark (issue #10): a legitimate client's time to first token while one hostile pattern runs,
 * as a ratio to the same gateway idle, all in one run. The gateway is the entry point started with the
 * product's own permission flags, the real llama-server and the demo model; each attack runs in its own
 * process under `nice -n 19` (scripts/edge_attacker.ts) from its own loopback source addresses.
 *
 *   deno task load:edge [--requests 30] [--settle-ms 2000] [--out docs/benchmarks.md]
 *
 * With --out, the table replaces the "Edge attacks" section of that file.
 */
import { parseArgs } from "node:util";
import { GatewayClient } from "../src/client/mod.ts";
import { captureChat, requestHead } from "../tests/helpers/edge_client.ts";
import { spawnGateway } from "../tests/helpers/gateway_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "30" },
    "settle-ms": { type: "string", default: "2000" },
    out: { type: "string" },
    "llama-server": { type: "string" },
  },
});
const requests = Number(values.requests);
/** The loopback addresses scripts/edge_attacker.ts connects to and binds its sources to. */
const ATTACKER_HOSTS = [
  "127.0.0.1",
  "127.0.9.9",
  "127.0.9.10",
  "127.0.9.11",
  ...[20, 21, 22, 23, 30, 31, 32, 33, 34, 35, 36, 37, 40].map((n) => `127.0.${n}.1`),
];
const settleMs = Number(values["settle-ms"]);
const bin = values["llama-server"] ?? Deno.env.get("PG_TEST_LLAMA_SERVER_BIN") ??
  `${Deno.env.get("HOME")}/.cache/privacy-gateway/llama-server-node-llama-cpp-3.22.1-cpu/bin/llama-server`;

const dir = await Deno.makeTempDir({ prefix: "pg-edge-load-" });
await Deno.chmod(dir, 0o700);
// Product defaults for every edge limit; only the model server is sized for the benchmark.
const gateway = await spawnGateway({
  PG_LLAMA_SERVER_BIN: bin,
  PG_RUNTIME_DIR: dir,
  PG_LLAMA_PARALLEL: "4",
  PG_LLAMA_THREADS: "1",
  // The legitimate client sends ~250 requests from one address and device: rate limits are not what
  // this benchmark measures.
  PG_IP_RATE_PER_MINUTE: "100000",
  PG_IP_BURST: "10000",
  PG_DEVICE_RATE_PER_MINUTE: "100000",
  PG_DEVICE_BURST: "10000",
  PG_POW_LOAD_PERCENT: "1000",
});
try {
  const client = new GatewayClient({ baseUrl: gateway.url, pin: gateway.fingerprint });
  const ask = { messages: [{ role: "user" as const, content: "hello" }], max_tokens: 8 };
  for (let i = 0; i < 5; i++) await firstToken(client, ask); // warm up (llama-server ready, keys fetched)

  const requestFile = `${dir}/request.bin`;
  const sealed = await captureChat(gateway.url, gateway.fingerprint, {
    messages: [{ role: "user", content: "talk" }],
    max_tokens: 2000,
  });
  const headBytes = new TextEncoder().encode(requestHead(sealed, "x"));
  const file = new Uint8Array(headBytes.length + sealed.body.length);
  file.set(headBytes);
  file.set(sealed.body, headBytes.length);
  await Deno.writeFile(requestFile, file);

  const rows: string[] = [];
  const attacks = Deno.env.get("PG_EDGE_ATTACKS")?.split(",") ??
    ["idle", "halfhead", "trickle", "segments", "garbage", "silent"];
  for (const attack of attacks) {
    // Each attack gets its own idle baseline just before it, so drift in the machine's other load
    // (2 shared cores) does not land in the ratio.
    const before = await measure(client, ask, requests);
    const attacker = new Deno.Command("nice", {
      args: [
        "-n",
        "19",
        Deno.execPath(),
        "run",
        `--allow-net=${ATTACKER_HOSTS.join(",")}`,
        `--allow-read=${requestFile}`,
        new URL("./edge_attacker.ts", import.meta.url).pathname,
        attack,
        gateway.url,
        requestFile,
      ],
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const cpuStart = cpuSeconds(gateway.child.pid);
    const wallStart = performance.now();
    const during = await measure(client, ask, requests);
    const cpu = (cpuSeconds(gateway.child.pid) - cpuStart) / ((performance.now() - wallStart) / 1000);
    try {
      attacker.kill("SIGKILL");
    } catch {
      throw new Error(`attack '${attack}' stopped by itself: its numbers mean nothing`);
    }
    await attacker.status;
    // Let the gateway close what the attacker left before the next row.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    rows.push(
      `| ${attack} | ${before.p50.toFixed(1)} | ${during.p50.toFixed(1)} | ${
        (during.p50 / before.p50).toFixed(2)
      } | ` +
        `${during.p90.toFixed(1)} | ${Math.round(cpu * 100)} % | ${during.errors}/${requests} |`,
    );
    console.error(rows.at(-1));
  }
  const table = [
    "| attack | idle TTFT p50 (ms) | under attack p50 (ms) | ratio | under attack p90 (ms) | gateway CPU | failed |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
  console.log(table);
  if (values.out) {
    const text = await Deno.readTextFile(values.out);
    const start = text.indexOf("<!-- edge-load:start -->");
    const end = text.indexOf("<!-- edge-load:end -->");
    if (start < 0 || end < 0) throw new Error(`${values.out} has no edge-load markers`);
    await Deno.writeTextFile(
      values.out,
      text.slice(0, start) + `<!-- edge-load:start -->\n${table}\n` + text.slice(end),
    );
  }
} finally {
  await gateway.stop();
  await Deno.remove(dir, { recursive: true });
}

/**
 * User + system CPU seconds of a process so far (Linux /proc, 100 Hz clock ticks). Read through `cat`:
 * Deno grants another process's /proc files only with --allow-all.
 */
function cpuSeconds(pid: number): number {
  const stat = new TextDecoder().decode(
    new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).outputSync().stdout,
  );
  const fields = stat.split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(
  client: GatewayClient,
  input: Parameters<GatewayClient["chat"]>[0],
  n: number,
): Promise<{ p50: number; p90: number; errors: number }> {
  const times: number[] = [];
  let errors = 0;
  for (let i = 0; i < n; i++) {
    try {
      times.push(await firstToken(client, input));
    } catch {
      errors++;
    }
  }
  times.sort((a, b) => a - b);
  return {
    p50: times[Math.floor(times.length / 2)] ?? NaN,
    p90: times[Math.floor(times.length * 0.9)] ?? NaN,
    errors,
  };
}

async function firstToken(
  client: GatewayClient,
  input: Parameters<GatewayClient["chat"]>[0],
): Promise<number> {
  const started = performance.now();
  let first = NaN;
  for await (const event of client.chat(input)) {
    if (event.type === "text" && Number.isNaN(first)) first = performance.now() - started;
  }
  if (Number.isNaN(first)) throw new Error("no text");
  return first;
}
