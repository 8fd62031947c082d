#!/usr/bin/python3
"""A FAKE llama-server that answers in scripted Harmony, for tests of what the app sees (tool calls,
analysis hidden, final shown) - the tiny real model only produces random tokens.

Vocabulary like the generated tiny model: ids 0-255 are bytes, 256 is " t", 257.. are the Harmony
specials. Serves /health, /tokenize (parse_special honoured; mixed content arrays; with_pieces, answering 500
with llama.cpp's range-check message for an unknown id, as the real one does) and streaming /completion. The decoded
prompt of the last completion is written to <model>.prompt so tests can check the rendering.

For benchmarks: a prompt containing `BENCH-TOKENS-<n>` is answered with n final-channel tokens, one event per
write, ~0.3 ms apart (each arrives on its own read, as a model's tokens do), or `<ms>` apart with
`BENCH-TOKENS-<n>-EVERY-<ms>`.
"""
import json, os, re, socket, sys, threading, time

SPECIALS = ["<|endoftext|>", "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>", "<|call|>", "<|constrain|>"]
IDS = {s: 257 + i for i, s in enumerate(SPECIALS)}
NAMES = {v: k for k, v in IDS.items()}

args = sys.argv[1:]
model = args[args.index("--model") + 1]
path = args[args.index("--host") + 1]

def tokenize(text, special):
    out, i = [], 0
    while i < len(text):
        hit = next((s for s in SPECIALS if special and text.startswith(s, i)), None)
        if hit:
            out.append(IDS[hit]); i += len(hit)
        else:
            out.extend(text[i].encode()); i += 1
    return out

VOCAB = 257 + len(SPECIALS)

def token_piece(t):
    if t in NAMES:
        return NAMES[t]
    raw = b" t" if t == 256 else bytes([t])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return list(raw)

def decode(ids):
    out, pending = [], bytearray()
    for t in ids:
        if t in NAMES:
            out.append(pending.decode("utf-8", "replace")); pending = bytearray(); out.append(NAMES[t])
        elif t == 256:
            pending.extend(b" t")
        else:
            pending.append(t)
    out.append(pending.decode("utf-8", "replace"))
    return "".join(out)

TOOL_CALL = ('<|channel|>analysis<|message|>SECRET-ANALYSIS need the weather<|end|>'
             '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json'
             '<|message|>{"city": "Paris"}<|call|>')
ANSWER = ('<|channel|>analysis<|message|>SECRET-ANALYSIS the tool said sunny<|end|>'
          '<|start|>assistant<|channel|>final<|message|>It is sunny in Paris.<|return|>')

def respond(conn, status, body, stream=False):
    head = f"HTTP/1.1 {status}\r\ncontent-type: {'text/event-stream' if stream else 'application/json'}\r\nconnection: close\r\n"
    if stream:
        conn.sendall((head + "\r\n").encode())
    else:
        data = json.dumps(body).encode()
        conn.sendall((head + f"content-length: {len(data)}\r\n\r\n").encode() + data)

def handle(conn):
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk: return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        method, target = lines[0].split(" ")[:2]
        length = next((int(l.split(":")[1]) for l in lines if l.lower().startswith("content-length")), 0)
        while len(body) < length:
            body += conn.recv(65536)
        request = json.loads(body or b"{}")
        if target == "/health":
            respond(conn, "200 OK", {"status": "ok"})
        elif target == "/tokenize":
            content = request["content"]
            items = content if isinstance(content, list) else [content]
            if request.get("with_pieces"):
                if any(not isinstance(t, int) or t < 0 or t >= VOCAB for t in items):
                    respond(conn, "500 Internal Server Error", {"error": {"message": "vector::_M_range_check"}})
                else:
                    respond(conn, "200 OK", {"tokens": [{"id": t, "piece": token_piece(t)} for t in items]})
            else:
                special = request.get("parse_special", True)
                ids = [t for item in items for t in ([item] if isinstance(item, int) else tokenize(item, special))]
                respond(conn, "200 OK", {"tokens": ids})
        elif target == "/completion":
            prompt = decode(request["prompt"])
            with open(model + ".prompt", "w") as f:
                f.write(prompt)
            script = ANSWER if "<|start|>functions.get_weather" in prompt else TOOL_CALL if "namespace functions" in prompt else ANSWER
            bench = re.search(r"BENCH-TOKENS-(\d+)(?:-EVERY-(\d+))?", prompt)
            pause = int(bench.group(2)) / 1000 if bench and bench.group(2) else 0.0003
            if bench:
                script = "<|channel|>final<|message|>" + "a" * int(bench.group(1)) + "<|return|>"
            ids = tokenize(script, True)
            respond(conn, "200 OK", None, stream=True)
            for i, t in enumerate(ids):
                if bench:
                    time.sleep(pause)
                piece = "" if t in NAMES and NAMES[t] in ("<|return|>", "<|call|>") else decode([t])
                conn.sendall(("data: " + json.dumps({"content": piece, "tokens": [t], "stop": False}) + "\n\n").encode())
            final = {"content": "", "tokens": [], "stop": True, "stop_type": "eos", "tokens_predicted": len(ids), "tokens_evaluated": len(request["prompt"])}
            conn.sendall(("data: " + json.dumps(final) + "\n\n").encode())
        else:
            respond(conn, "404 Not Found", {"error": "not found"})
    finally:
        conn.close()

try:
    os.unlink(path)
except FileNotFoundError:
    pass
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(16)
while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
