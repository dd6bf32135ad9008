"""An OpenAI-compatible upstream that streams 40 deltas 10 ms apart (TCP_NODELAY set, so
its own writes are never held back). Prints `listening on ADDR`. For `gaps.py`."""
import http.server, json, time, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        import socket as _s; self.connection.setsockopt(_s.IPPROTO_TCP, _s.TCP_NODELAY, 1)
        n = int(self.headers.get('content-length', 0)); self.rfile.read(n)
        self.send_response(200)
        self.send_header('content-type', 'text/event-stream')
        self.send_header('transfer-encoding', 'chunked')
        self.end_headers()
        def chunk(obj):
            data = ("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data)); self.wfile.flush()
        for i in range(40):
            chunk({"choices": [{"index": 0, "delta": {"content": "w%d " % i}, "finish_reason": None}]})
            time.sleep(0.01)
        chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 40}})
        chunk("[DONE]")
        self.wfile.write(b"0\r\n\r\n"); self.wfile.flush()
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("listening on 127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()
