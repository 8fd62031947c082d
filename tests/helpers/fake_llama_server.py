#!/usr/bin/python3
"""A FAKE llama-server, for faults the real one cannot produce on demand (tests/supervisor_test.ts).

Started by the supervisor exactly like llama-server (same arguments); writes its pid to `<model>.pid`.
The fault is chosen by the model file's name, since the supervisor passes no environment:
  fake-ok.gguf              serves /health 200
  fake-ignore-sigterm.gguf  serves /health 200 and ignores SIGTERM
  fake-unhealthy.gguf       /health answers 503 forever
  fake-crash.gguf           exits with status 3 at once
  fake-hang-after.gguf      serves /health for 0.5 s, then stops answering
"""
import os, signal, socket, sys, threading, time

args = sys.argv[1:]
model = args[args.index("--model") + 1]
path = args[args.index("--host") + 1]
mode = os.path.basename(model)
# Tests find the process through this file (the supervisor passes no environment and may be gone).
with open(model + ".pid", "w") as pid_file:
    pid_file.write(str(os.getpid()))

if mode == "fake-crash.gguf":
    sys.exit(3)
if mode == "fake-ignore-sigterm.gguf":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

started = time.time()
try:
    os.unlink(path)
except FileNotFoundError:
    pass
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(16)

def handle(conn):
    try:
        conn.recv(65536)
        if mode == "fake-hang-after.gguf" and time.time() - started > 0.5:
            time.sleep(3600)
        status = "503 Service Unavailable" if mode == "fake-unhealthy.gguf" else "200 OK"
        body = b'{"status":"ok"}'
        conn.sendall(f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
    finally:
        conn.close()

while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
