/**
 * One-core throughput of the gateway's two crypto stages (issue 15: ≥ 3,000 request opens/s and ≥ 20,000
 * sealed chunks/s on one core):
 *
 *   taskset -c 1 deno run --allow-read --allow-env bench/throughput_bench.ts [--seconds 3] [--repeat 3]
 *
 * Method: each stage runs back to back on this thread for `--seconds`, `--repeat` times; the figure is the
 * thread's CPU time (`process.cpuUsage()`, user + system) per operation, so a busy machine slows the run
 * but does not change the figure much, and "per second" is 10^6 / (µs CPU per operation), i.e. what one
 * core would do if the stage had it alone. Medians of the repeats are printed; wall time is shown too.
 *
 * - open: `splitRequest()` + `openRequest()` of an SDK-shaped request (1 KiB padded Binary HTTP, chunked),
 *   per suite, with `createRecipientContext()` (KEM decapsulation + key schedule) alone beside it, and
 *   `responseCipher()` (exporter + HKDF of the response keys), which every opened request also pays.
 * - seal: the streamed response path after coalescing: `createSealStream()` fed batches of one text event
 *   (~300 bytes of text, a 50 ms tick's worth at ~1,000 tokens/s), each batch one 512-byte chunk: SSE
 *   encoding, framing, padding, ChaCha20-Poly1305 (or AES-128-GCM) seal, chunk framing, stream hops.
 *   `ChunkCipher.seal()` alone is shown beside it.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import {
  AEAD_AES_128_GCM,
  AEAD_CHACHA20_POLY1305,
  ChunkCipher,
  createRecipientSuite,
  KEM_X25519,
  KEM_XWING,
  KeyRing,
  utf8,
} from "../src/crypto/mod.ts";
import {
  type ChatEvent,
  createSealStream,
  encodeChatRequest,
  openRequest,
  responseCipher,
  sealRequest,
  splitRequest,
} from "../src/protocol/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { seconds: { type: "string", default: "3" }, repeat: { type: "string", default: "3" } },
});
const seconds = Number(values.seconds);
const repeat = Number(values.repeat);

const _cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Runs `op` (which does `batch` operations) for `seconds`; returns µs of CPU and of wall per operation. */
async function measure(op: () => Promise<number>): Promise<{ cpu: number; wall: number }> {
  // Warm-up: JIT and lazily built tables.
  const warmUntil = performance.now() + 300;
  while (performance.now() < warmUntil) await op();
  const cpus: number[] = [];
  const walls: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const cpu0 = _cpuUs();
    const wall0 = performance.now();
    let n = 0;
    while (performance.now() - wall0 < seconds * 1000) n += await op();
    cpus.push((_cpuUs() - cpu0) / n);
    walls.push(((performance.now() - wall0) * 1000) / n);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { cpu: median(cpus), wall: median(walls) };
}

const rows: string[] = [];
const row = (name: string, r: { cpu: number; wall: number }) => {
  const line = `| ${name} | ${r.cpu.toFixed(1)} | ${Math.round(1e6 / r.cpu).toLocaleString("en")} | ${
    r.wall.toFixed(1)
  } |`;
  rows.push(line);
  console.log(line);
};

console.log("| stage | µs CPU per op | per second of one core | µs wall per op |");
console.log("|---|---:|---:|---:|");

const now = Math.floor(Date.now() / 1000);
const ring = await KeyRing.generate(now, 3600);
const message = encodeChatRequest(
  utf8(JSON.stringify({ messages: [{ role: "user", content: "x".repeat(500) }] })),
  { nowSeconds: now },
);
const SUITES = [
  { name: "X-Wing + ChaCha20-Poly1305 (default)", kemId: KEM_XWING, aeadId: AEAD_CHACHA20_POLY1305 },
  { name: "X25519 + ChaCha20-Poly1305", kemId: KEM_X25519, aeadId: AEAD_CHACHA20_POLY1305 },
  { name: "X25519 + AES-128-GCM", kemId: KEM_X25519, aeadId: AEAD_AES_128_GCM },
];
for (const suite of SUITES) {
  const key = ring.keys.find((k) => k.kemId === suite.kemId)!;
  const bodies: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < 200; i++) {
    bodies.push((await sealRequest(key, message, { chunked: true, aeadId: suite.aeadId })).body);
  }
  let next = 0;
  row(
    `open: splitRequest + openRequest, ${suite.name}`,
    await measure(async () => {
      await openRequest(ring, splitRequest(bodies[next++ % bodies.length], true), now);
      return 1;
    }),
  );
  const hpke = createRecipientSuite({ kemId: suite.kemId, kdfId: 1, aeadId: suite.aeadId });
  const encs = bodies.map((b) => splitRequest(b, true).enc);
  row(
    `  of which createRecipientContext (decapsulation + key schedule)`,
    await measure(async () => {
      await hpke.createRecipientContext({ recipientKey: key.pair, enc: encs[next++ % encs.length].buffer });
      return 1;
    }),
  );
  const opened = await openRequest(ring, splitRequest(bodies[0], true), now);
  row(
    `  then responseCipher (export + response keys)`,
    await measure(async () => {
      await responseCipher(opened);
      return 1;
    }),
  );
}

const secret = crypto.getRandomValues(new Uint8Array(32));
const enc = crypto.getRandomValues(new Uint8Array(32));
const nonce = crypto.getRandomValues(new Uint8Array(32));
const text = "The sea is wide and deep; ".repeat(12); // ~300 bytes: one tick of text
for (const aeadId of [AEAD_CHACHA20_POLY1305, AEAD_AES_128_GCM]) {
  const name = aeadId === AEAD_AES_128_GCM ? "AES-128-GCM" : "ChaCha20-Poly1305";
  const BATCHES = 1000;
  row(
    `seal stage: createSealStream, ${BATCHES} one-chunk batches, ${name} (per chunk)`,
    await measure(async () => {
      const cipher = await ChunkCipher.derive(aeadId, secret, enc, nonce);
      let i = 0;
      const source = new ReadableStream<ChatEvent[]>({
        pull(controller) {
          if (i++ < BATCHES) controller.enqueue([{ type: "text", delta: text }]);
          else controller.close();
        },
      });
      const head = { status: 200, fields: [["content-type", "text/event-stream"]] as [string, string][] };
      // deno-lint-ignore no-unused-vars
      for await (const chunk of source.pipeThrough(createSealStream(cipher, nonce, 512, head)));
      return BATCHES;
    }),
  );
  const plaintext = new Uint8Array(512);
  row(
    `  of which ChunkCipher.seal (512 bytes, ${name})`,
    await measure(async () => {
      const cipher = await ChunkCipher.derive(aeadId, secret, enc, nonce);
      for (let i = 0; i < 1000; i++) await cipher.seal(plaintext, false);
      return 1000;
    }),
  );
}
