/**
 * What the edge costs per streamed chunk against `Deno.serve` alone (`taskset -c 1 deno run --allow-net=127.0.0.1
 * bench/edge_bench.ts [--chunks 2000] [--rounds 5]`): the application answers one request with a stream of
 * 530-byte chunks (one sealed response chunk each, enqueued as the seal stage does) paced 1 ms apart so
 * that each one crosses on its own, and a raw HTTP/1.1 client in a worker reads it over loopback TCP from
 *
 *   serve    `Deno.serve` (hyper) on a TCP port, no edge: what the runtime's own server costs
 *   edge     `listen()`'s accept loop + guardConnection + response_writer.ts, the gateway's server
 *
 * The figure is this thread's CPU time (`process.threadCpuUsage()`: the client's worker thread is
 * excluded; 10 ms ticks) per chunk, median of the rounds. Both paths share the same handler and stream.
 * (Until issue 15 the edge relayed to a `Deno.serve` on a UNIX socket; this bench measured that hop.)
 */
import process from "node:process";
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

/** CPU ms of this thread (the event loop that runs the edge and Deno.serve; the client's worker excluded). */
const mainCpuMs = () => {
  const { user, system } = process.threadCpuUsage();
  return (user + system) / 1000;
};

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
  { hostname: "127.0.0.1", port: 0, edge: limits },
  handler,
  createLogger("error", () => {}),
);
// The same handler on Deno.serve without the edge.
const direct = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);

const worker = new Worker(
  `data:application/typescript,${
    encodeURIComponent(`
self.onmessage = async (e) => {
  const { target, expect } = e.data;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(target) });
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
const results: Record<string, number[]> = { serve: [], edge: [] };
try {
  for (let round = 0; round <= rounds; round++) {
    for (const [name, target] of [["serve", String(direct.addr.port)], ["edge", port]] as const) {
      const cpu = mainCpuMs();
      if (!await fetchOnce(target)) throw new Error(`${name}: the answer came short`);
      if (round > 0) results[name].push(((mainCpuMs() - cpu) * 1000) / chunks);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const d = median(results.serve);
  const e = median(results.edge);
  console.log(
    `µs CPU per ${CHUNK}-byte chunk (gateway thread, median of ${rounds}): Deno.serve ${d.toFixed(1)}, ` +
      `the edge ${e.toFixed(1)}, difference ${(e - d).toFixed(1)}`,
  );
} finally {
  worker.terminate();
  await direct.shutdown();
  await listener.shutdown(100);
}
