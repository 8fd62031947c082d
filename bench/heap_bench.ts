/**
 * JavaScript heap per open stream, and what it is made of (`deno run --allow-read --allow-write --allow-env --allow-run --allow-net --allow-sys=uid --v8-flags=--expose-gc
 * bench/heap_bench.ts [streams] [--snapshot]`): the gateway runs in this process (`run()`, the scripted fake
 * llama-server of tests/helpers/fake_harmony_llama.py answering one token every 20 ms, so no model competes
 * for the cores), the SDK clients run in a worker (their objects are in another heap), and the heap after a
 * full GC is compared idle, with half the streams open and with all of them: the second half's growth is
 * the marginal cost of one stream (what the first streams grow once, compiled code and the heap's own
 * structures, is left out). With `--snapshot`, a V8 heap snapshot is taken at half and at all, and the
 * growth per stream of the second half is listed by constructor (self sizes of reachable objects), largest
 * first. RSS is shown too: its growth beyond the heap's is native memory (sockets' buffers in the runtime,
 * ArrayBuffer contents). The fake backend keeps up with 64 streams; at 128 it did not finish in 4 minutes.
 */
import v8 from "node:v8";
import { loadConfig } from "../src/config/mod.ts";
import { run } from "../src/main.ts";
import { createLogger } from "../src/observability/mod.ts";
import { SINGLE_SOURCE_LIMITS } from "../scripts/lib/bench_limits.ts";

const streams = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 64);
const snapshot = Deno.args.includes("--snapshot");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("Run with --v8-flags=--expose-gc");
const dir = await Deno.makeTempDir({ prefix: "pg-heap-" });
await Deno.chmod(dir, 0o700);
const big = "1000000";
const loaded = loadConfig({
  PG_PORT: "0",
  PG_LLAMA_SERVER_BIN: new URL("../tests/helpers/fake_harmony_llama.py", import.meta.url).pathname,
  PG_MODEL_PATH: `${dir}/fake.gguf`,
  PG_RUNTIME_DIR: dir,
  PG_MAX_CONCURRENT_STREAMS: String(streams * 2),
  PG_QUEUE_SIZE: String(streams * 2),
  ...SINGLE_SOURCE_LIMITS,
  PG_MAX_CONNECTIONS: big,
  PG_DEVICE_CONCURRENCY: "1000",
}, () => "");
if (!loaded.ok) throw new Error(loaded.problems.join("; "));
const controller = new AbortController();
const gateway = await run(loaded.config, { logger: createLogger("error", () => {}) }, controller.signal);
await gateway.supervisor!.ensureReady(AbortSignal.timeout(30_000));

const rssKiB = () => Deno.memoryUsage().rss / 1024;
/**
 * The heap's live size: full GCs with pauses between them (so that what they free is swept), and the size
 * read right after the last one, in the same turn. Read 200 ms later, as before, it counted the garbage the
 * open streams made meanwhile: 187–229 KiB per stream at 64 streams, against 61–62 read at once (the heap
 * snapshot finds ~66 KiB of reachable objects per stream).
 */
const settle = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 200));
  }
  gc();
  return Deno.memoryUsage().heapUsed;
};

/** Self size by "type:constructor" in a heap snapshot file. */
function bySize(path: string): Map<string, { size: number; count: number }> {
  const data = JSON.parse(Deno.readTextFileSync(path));
  const fields: string[] = data.snapshot.meta.node_fields;
  const types: string[] = data.snapshot.meta.node_types[0];
  const width = fields.length;
  const [t, n, s] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < data.nodes.length; i += width) {
    const key = `${types[data.nodes[i + t]]}:${String(data.strings[data.nodes[i + n]]).slice(0, 60)}`;
    const entry = out.get(key) ?? { size: 0, count: 0 };
    entry.size += data.nodes[i + s];
    entry.count++;
    out.set(key, entry);
  }
  return out;
}

const worker = new Worker(new URL("./heap_worker.ts", import.meta.url).href, { type: "module" });
const message = (data: unknown) =>
  new Promise<unknown>((resolve) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.postMessage(data);
  });
try {
  await message({ url: gateway.url, fingerprint: gateway.fingerprint, streams: 1, warm: true });
  const idleHeap = await settle();
  const idleRss = rssKiB();
  // Streams open in two halves: the second half's growth is the marginal cost of a stream, without what
  // the first streams grow once (code compiled for the streaming paths, the heap's own structures).
  const half = Math.floor(streams / 2);
  await message({ url: gateway.url, fingerprint: gateway.fingerprint, streams: half, warm: false });
  const halfHeap = await settle();
  const halfRss = rssKiB();
  const idleSnapshot = snapshot ? v8.writeHeapSnapshot(`${dir}/half.heapsnapshot`) : "";
  await message({ url: gateway.url, fingerprint: gateway.fingerprint, streams: streams - half, warm: false });
  const openHeap = await settle();
  const openRss = rssKiB();
  const openSnapshot = snapshot ? v8.writeHeapSnapshot(`${dir}/open.heapsnapshot`) : "";
  const second = streams - half;
  console.log(
    `${streams} open streams: JS heap +${
      ((openHeap - idleHeap) / 1024 / streams).toFixed(1)
    } KiB per stream from idle, +${((openHeap - halfHeap) / 1024 / second).toFixed(1)} KiB per stream ` +
      `for the second ${second}; RSS (whole process, clients in the worker included) +${
        ((openRss - idleRss) / streams).toFixed(0)
      } KiB from idle, +${((openRss - halfRss) / second).toFixed(0)} KiB for the second half`,
  );
  if (snapshot) {
    const before = bySize(idleSnapshot);
    const after = bySize(openSnapshot);
    // Growth from the first half to all streams, per stream of the second half.
    const rows = [...after].map(([key, a]) => {
      const b = before.get(key) ?? { size: 0, count: 0 };
      return {
        key,
        size: (a.size - b.size) * streams / second,
        count: (a.count - b.count) * streams / second,
      };
    }).sort((x, y) => y.size - x.size).slice(0, 40);
    console.log("| object (type:constructor) | bytes per stream | count per stream |\n|---|---:|---:|");
    for (const r of rows) {
      console.log(
        `| ${r.key.replaceAll("|", "\\|")} | ${(r.size / streams).toFixed(0)} | ${
          (r.count / streams).toFixed(1)
        } |`,
      );
    }
  }
  await message({ stop: true });
} finally {
  worker.terminate();
  controller.abort();
  await gateway.finished;
  await Deno.remove(dir, { recursive: true });
}
