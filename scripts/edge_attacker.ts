/**
 * One hostile client pattern from issue #10, kept up until killed (scripts/edge_load.ts runs it under
 * `nice` against a gateway on loopback). Every connection that the gateway closes is opened again, so the
 * pressure stays constant. Loopback only: each pattern comes from its own 127.0.x.y source address.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read scripts/edge_attacker.ts KIND URL [REQUEST_FILE]
 *
 * KIND: idle (500 connections that send nothing), halfhead (200 half-sent heads), trickle (50 bodies at
 * 1 byte/s), segments (100 bodies of 4 KiB in one-byte segments, over and over), garbage (8 networks
 * posting envelopes with a flipped ciphertext bit as fast as they can), silent (20 streams whose reader
 * never reads). garbage and silent need REQUEST_FILE: a sealed request with its HTTP head, from the SDK.
 */
import net from "node:net";

const [kind, url, requestFile] = Deno.args;
const { hostname, port } = new URL(url);

/** Keeps `count` connections from `source` alive, each driven by `drive` until the gateway closes it. */
function sustain(count: number, source: (i: number) => string, drive: (socket: net.Socket) => void): void {
  const open = (i: number) => {
    const socket = net.connect({ host: hostname, port: Number(port), localAddress: source(i) });
    socket.setNoDelay(true);
    socket.on("error", () => {});
    socket.on("connect", () => drive(socket));
    // Reopen what the gateway closes: at once after a deadline, after a second when refused at accept
    // (an attacker retrying; a flood of new connections is a different attack, for the firewall).
    const opened = performance.now();
    socket.on("close", () => setTimeout(() => open(i), performance.now() - opened < 100 ? 1000 : 50));
  };
  for (let i = 0; i < count; i++) open(i);
}

const head = (length: number) =>
  `POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-type: message/ohttp-chunked-req\r\n` +
  `content-length: ${length}\r\n\r\n`;

// Paused sockets do not keep the event loop alive: the attack runs until it is killed.
setInterval(() => {}, 60_000);

switch (kind) {
  case "idle":
    sustain(500, () => "127.0.9.9", (socket) => socket.on("data", () => {}));
    break;
  case "halfhead":
    sustain(200, () => "127.0.9.10", (socket) => socket.write("POST /api/chat HTTP/1.1\r\nhost: x\r\n"));
    break;
  case "trickle":
    sustain(50, () => "127.0.9.11", (socket) => {
      socket.write(head(100_000));
      const timer = setInterval(() => socket.write("x"), 1000);
      socket.on("close", () => clearInterval(timer));
    });
    break;
  case "segments":
    sustain(100, (i) => `127.0.${20 + (i % 4)}.1`, (socket) => {
      socket.write(head(4096));
      let sent = 0;
      const next = () => {
        if (socket.destroyed || sent >= 4096) return;
        sent++;
        socket.write("A", next);
      };
      next();
      socket.on("data", () => {});
    });
    break;
  case "garbage": {
    // A sealed request with one ciphertext bit flipped: a valid header, so every copy costs an X25519
    // until the error budget or the decapsulation budget refuses it.
    const request = await Deno.readFile(requestFile);
    request[request.length - 5] ^= 1;
    sustain(32, (i) => `127.0.${30 + (i % 8)}.1`, (socket) => {
      socket.write(request);
      socket.on("data", () => {});
    });
    break;
  }
  case "silent": {
    const request = await Deno.readFile(requestFile);
    sustain(20, () => "127.0.40.1", (socket) => {
      socket.pause();
      socket.write(request);
    });
    break;
  }
  default:
    console.error(`Unknown attack '${kind}'`);
    Deno.exit(2);
}
