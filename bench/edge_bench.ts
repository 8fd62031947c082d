/**
 * What the edge's extra hop costs per streamed chunk (`taskset -c 1 deno run -A bench/edge_bench.ts
 * [--chunks 2000] [--rounds 5]`): the application answers one request with a stream of 530-byte chunks
 * (one sealed response chunk each, enqueued as the seal stage does) paced 1 ms apart so that each one
 * crosses on its own, and a raw HTTP/1.1 client in a worker reads it either
 *
 *   direct   client → the application's `Deno.serve` on its UNIX socket (no edge)
 *   edge     client → `listen()`'s accept loop + guardConnection (TCP) → the same `Deno.serve`
 *
 * The figure is this thread's CPU time (`process.cpuUsage()`; the client's worker thread is excluded by
 * reading /proc's per-thread counters) per chunk, median of the rounds; the edge's cost per chunk is the
 * difference. Both paths share everything else: the same handler, stream and `Deno.serve`.
 */
import { parseArgs } from "node:util";
import { listen } from "../src/http/mod.ts";
import { createLogger } from "../src/observability/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { chunks: { type: "string", default: "2000" }, rounds: { type: "string", default: "5" } },
});
const chunks = Number(values.chunks);
const rounds = Number(values.rounds);
const CHUNK = 530;

/** CPU ms of this process's main thread (the event loop that runs the edge and Deno.serve). */
const mainCpuMs = () => {
  const stat = Deno.readTextFileSync(`/proc/${Deno.pid}/task/${Deno.pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

const dir = await Deno.makeTempDir({ prefix: "pg-edge-bench-" });
await Deno.chmod(dir, 0o700);
const handler = () => {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === chunks) return controller.close();
      await new Promise((r) => setTimeout(r, 1));
      controller.enqueue(new Uint8Array(CHUNK).fill(sent++ & 0xff));
    },
  }, { highWaterMark: 0 });
  return new Response(body, { headers: { "content-type": "message/ohttp-chunked-res" } });
};
const limits = {
  headTimeoutMs: 10_000,
  maxHeadBytes: 16 * 1024,
  bodyTimeoutMs: 10_000,
  bodyMinBytesPerSecond: 1,
  stallTimeoutMs: 10_000,
  maxBodyBytes: 1024,
  responseStartMs: 10_000,
  maxConnections: 100,
  maxConnectionsPerNetwork: 100,
  maxBodyBytesInFlight: 1 << 20,
};
const listener = await listen(
  { hostname: "127.0.0.1", port: 0, socketDir: dir, socketName: "app.sock", edge: limits },
  handler,
  createLogger("error", () => {}),
);
// The same handler on a second Deno.serve without the edge, for the direct path.
const direct = Deno.serve({ path: `${dir}/direct.sock`, onListen: () => {} }, handler);

const worker = new Worker(
  `data:application/typescript,${
    encodeURIComponent(`
self.onmessage = async (e) => {
  const { target, expect } = e.data;
  const conn = target.startsWith("/") ? await Deno.connect({ transport: "unix", path: target })
    : await Deno.connect({ hostname: "127.0.0.1", port: Number(target) });
  await conn.write(new TextEncoder().encode("POST /api/chat HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\nContent-Length: 0\\r\\n\\r\\n"));
  const buf = new Uint8Array(65536);
  let total = 0;
  while (true) { const n = await conn.read(buf); if (n === null) break; total += n; }
  conn.close();
  self.postMessage(total >= expect);
};`)
  }`,
  { type: "module" },
);
const fetchOnce = (target: string) =>
  new Promise<boolean>((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.postMessage({ target, expect: chunks * CHUNK });
  });

const port = new URL(listener.url).port;
const results: Record<string, number[]> = { direct: [], edge: [] };
try {
  for (let round = 0; round <= rounds; round++) {
    for (const [name, target] of [["direct", `${dir}/direct.sock`], ["edge", port]] as const) {
      const cpu = mainCpuMs();
      if (!await fetchOnce(target)) throw new Error(`${name}: the answer came short`);
      if (round > 0) results[name].push(((mainCpuMs() - cpu) * 1000) / chunks);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const d = median(results.direct);
  const e = median(results.edge);
  console.log(
    `µs CPU per ${CHUNK}-byte chunk (gateway thread, median of ${rounds}): direct ${d.toFixed(1)}, ` +
      `through the edge ${e.toFixed(1)}, the edge's hop ${(e - d).toFixed(1)}`,
  );
} finally {
  worker.terminate();
  await direct.shutdown();
  await listener.shutdown(100);
  await Deno.remove(dir, { recursive: true });
}
