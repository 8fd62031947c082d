// Runs inside Hermes after the SDK bundle (global `PG`): ES2015 without classes or async (Hermes 0.12). Hermes has no fetch, no I/O but
// `print`, no crypto.subtle: the test embeds `BRIDGE` = { keys, pin, now, random (hex), response (hex or
// null), message } before this file. The client runs unchanged on noble with an injected fetch that serves
// the signed key set, prints the encapsulated request (run 1), or answers it with the gateway's recorded
// response (run 2, same randomness, so the same HPKE context) and prints the decrypted text.
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
  const random = fromHex(BRIDGE.random);
  let used = 0;
  const crypto = PG.nobleCrypto(function (n) {
    if (used + n > random.length) throw new Error("Bridge randomness exhausted");
    const out = random.slice(used, used + n);
    used += n;
    return out;
  });
  function response(status, type, bytes, json) {
    let sent = false;
    return {
      status: status,
      ok: status >= 200 && status < 300,
      headers: {
        get: function (name) {
          return name.toLowerCase() === "content-type" ? type : null;
        },
      },
      json: function () {
        return Promise.resolve(json);
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
  function fetch(url, init) {
    if (String(url).indexOf("/api/pubkey") >= 0) {
      return Promise.resolve(response(200, "application/json", null, BRIDGE.keys));
    }
    print("REQUEST " + toHex(init.body));
    if (BRIDGE.response === null) return Promise.reject(new Error("bridge: request printed"));
    return Promise.resolve(response(200, "message/ohttp-chunked-res", fromHex(BRIDGE.response)));
  }
  const client = new PG.GatewayClient({
    baseUrl: "http://gateway.invalid",
    pin: BRIDGE.pin,
    crypto: crypto,
    fetch: fetch,
    now: function () {
      return BRIDGE.now;
    },
    maxAttempts: 1,
  });
  let text = "";
  const iterator = client.chat({ messages: [{ role: "user", content: BRIDGE.message }] })
    [Symbol.asyncIterator]();
  function step() {
    return iterator.next().then(function (r) {
      if (r.done) {
        print("TEXT " + JSON.stringify(text));
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
