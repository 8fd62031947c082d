// Runs inside Hermes after the SDK bundle (global `PG`): ES2015 without classes or async (Hermes 0.12).
// Hermes has no fetch, no I/O but `print`, no crypto.subtle, so the test replays the network: `BRIDGE` =
// { pin, now, random (hex), message, options, recorded: [{ status, type, body (hex) }] } is set before
// this file. The client runs unchanged on noble with deterministic randomness and clock; its fetch answers
// call i from `recorded[i]`, and for the first call not yet recorded prints it ("REQUEST <json>") and
// fails. The test sends that request to a live gateway, records the answer and runs Hermes again: every run
// makes the same requests up to there (same randomness, same answers), until one prints "TEXT <json>".
/* global BRIDGE, PG, print */
(function () {
  function fromHex(hex) {
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }
  function toHex(bytes) {
    let out = "";
    for (let i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }
  function utf8(text) {
    return new TextEncoder().encode(text);
  }
  const random = fromHex(BRIDGE.random);
  let used = 0;
  function randomBytes(n) {
    if (used + n > random.length) throw new Error("Bridge randomness exhausted");
    const out = random.slice(used, used + n);
    used += n;
    return out;
  }
  // React Native apps polyfill getRandomValues (expo-crypto); here it draws from the same fixed stream.
  globalThis.crypto = {
    getRandomValues: function (array) {
      const bytes = randomBytes(array.byteLength);
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
      return array;
    },
  };
  function response(recorded) {
    const bytes = fromHex(recorded.body);
    let sent = false;
    return {
      status: recorded.status,
      ok: recorded.status >= 200 && recorded.status < 300,
      headers: {
        get: function (name) {
          const lower = name.toLowerCase();
          return lower === "content-type"
            ? recorded.type
            : lower === "retry-after"
            ? recorded.retryAfter
            : null;
        },
      },
      json: function () {
        return Promise.resolve(JSON.parse(new TextDecoder().decode(bytes)));
      },
      arrayBuffer: function () {
        return Promise.resolve(bytes.slice().buffer);
      },
      body: {
        cancel: function () {
          return Promise.resolve();
        },
        getReader: function () {
          return {
            read: function () {
              if (sent) return Promise.resolve({ done: true, value: undefined });
              sent = true;
              return Promise.resolve({ done: false, value: bytes });
            },
            cancel: function () {
              return Promise.resolve();
            },
            releaseLock: function () {},
          };
        },
      },
    };
  }
  let calls = 0;
  function fetch(url, init) {
    const index = calls++;
    if (index < BRIDGE.recorded.length) return Promise.resolve(response(BRIDGE.recorded[index]));
    const body = init && init.body;
    print(
      "REQUEST " + JSON.stringify({
        index: index,
        path: String(url).replace(/^https?:\/\/[^/]+/, ""),
        method: (init && init.method) || "GET",
        headers: (init && init.headers) || {},
        body: body === undefined ? null : toHex(typeof body === "string" ? utf8(body) : body),
      }),
    );
    return Promise.reject(new Error("bridge: request printed"));
  }
  const options = {
    baseUrl: "http://gateway.invalid",
    pin: BRIDGE.pin,
    crypto: PG.nobleCrypto(randomBytes),
    fetch: fetch,
    now: function () {
      return BRIDGE.now;
    },
    maxAttempts: 1,
  };
  Object.keys(BRIDGE.options).forEach(function (key) {
    options[key] = BRIDGE.options[key];
  });
  const client = new PG.GatewayClient(options);
  let text = "";
  const iterator = client.chat({ messages: [{ role: "user", content: BRIDGE.message }] })
    [Symbol.asyncIterator]();
  function step() {
    return iterator.next().then(function (r) {
      if (r.done) {
        print("TEXT " + JSON.stringify({ text: text, tokenMode: client.tokenMode }));
        return;
      }
      if (r.value.type === "text") text += r.value.delta;
      return step();
    });
  }
  step().catch(function (error) {
    print("ERROR " + (error && (error.code || error.reason || error.message)));
  });
})();
