/**
 * Per-token cost of reading a llama-server stream (`deno run --allow-read --allow-write --allow-run --allow-net bench/llama_stream_bench.ts`): a stand-in
 * server (Python, a separate process, so its CPU is not counted) streams /completion chunks shaped like
 * llama-server's, one per write and paced so that each arrives on its own as a model's tokens do, over a
 * UNIX socket; the gateway's LlamaClient reads
 * them. Prints CPU microseconds of this process per chunk and chunks per second, median of 5 runs.
 * Results: docs/benchmarks.md ("Per-token work").
 */
import { LlamaClient } from "../src/inference/mod.ts";
import process from "node:process";

/** A stand-in for llama-server's /completion stream: N chunks, then a stop chunk, over HTTP/1.1. */
const _SERVER = String.raw`
import os, socket, sys, json, time
path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(8)
chunks = b"".join(
  b"data: " + json.dumps({"index": 0, "content": " word", "tokens": [1000 + i % 5000], "stop": False,
    "id_slot": 0, "tokens_predicted": i + 1, "tokens_evaluated": 120}, separators=(",", ":")).encode() + b"\n\n"
  for i in range(n))
end = b"data: " + json.dumps({"index": 0, "content": "", "tokens": [], "stop": True, "stop_type": "limit",
  "tokens_predicted": n, "tokens_evaluated": 120}).encode() + b"\n\n"
while True:
  c, _ = s.accept()
  data = b""
  while b"\r\n\r\n" not in data: data += c.recv(65536)
  head, _, body = data.partition(b"\r\n\r\n")
  length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
  while len(body) < length: body += c.recv(65536)
  c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
  # One HTTP chunk per SSE event, as llama-server writes them.
  pos = 0
  while pos < len(chunks):
    nxt = chunks.index(b"\n\n", pos) + 2
    ev = chunks[pos:nxt]; pos = nxt
    c.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
    # Paced like a model (one event per socket read on the other side), at ~5,000 tokens/s at most.
    time.sleep(0.0002)
  c.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(end), end))
  c.close()
`;

const CHUNKS = 4_000;
const RUNS = 5;
const dir = await Deno.makeTempDir({ prefix: "pg-stream-bench-" });
const socket = `${dir}/llama.sock`;
const server = new Deno.Command("python3", {
  args: ["-c", _SERVER, socket, String(CHUNKS)],
  stdout: "null",
  stderr: "inherit",
}).spawn();
try {
  for (let i = 0; !(await Deno.stat(socket).catch(() => undefined)); i++) {
    if (i > 100) throw new Error("Cannot start the stand-in server: no socket after 5 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  const client = LlamaClient.forSocket("bench", socket);
  const results: { cpuUs: number; perSecond: number }[] = [];
  for (let run = 0; run < RUNS + 1; run++) {
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    let n = 0;
    for await (
      const chunk of client.completion({ prompt: [1] }, new AbortController().signal, {
        connectMs: 5000,
        firstTokenMs: 5000,
        idleMs: 5000,
      })
    ) {
      if (!chunk.stop) n++;
    }
    const wall = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    if (n !== CHUNKS) throw new Error(`Expected ${CHUNKS} chunks, read ${n}`);
    if (run > 0) results.push({ cpuUs: (used.user + used.system) / n, perSecond: n / (wall / 1000) });
  }
  client.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `LlamaClient stream: ${median(results.map((r) => r.cpuUs)).toFixed(1)} µs CPU per chunk, ` +
      `${median(results.map((r) => r.perSecond)).toFixed(0)} chunks/s (median of ${RUNS} runs of ${CHUNKS})`,
  );
} finally {
  server.kill();
  await server.status;
  await Deno.remove(dir, { recursive: true });
}
