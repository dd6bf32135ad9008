#!/usr/bin/env python3
"""A stand-in OTLP/HTTP collector for the benchmarks: `sink.py ok|silent`.

`ok` answers every `POST /v1/traces` with 200 and counts the requests and bytes (printed
on SIGTERM); `silent` accepts connections and never answers (a collector that hangs).
It prints `listening on 127.0.0.1:PORT` first. Loopback only.
"""
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

posts = 0
received = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        global posts, received
        n = int(self.headers.get("content-length", "0"))
        self.rfile.read(n)
        posts += 1
        received += n
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def silent():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
    held = []
    while True:
        conn, _ = s.accept()
        held.append(conn)


def ok():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)

    def stop(*_):
        print("posts=%d bytes=%d" % (posts, received), flush=True)
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    {"ok": ok, "silent": silent}[sys.argv[1] if len(sys.argv) > 1 else "ok"]()
