"""Streams REPS chat completions over one keep-alive connection to HOST:PORT (a gateway
in front of `slow_upstream.py`, or the upstream itself) and prints the gaps between the
chunks as they arrive. Usage: gaps.py HOST PORT KEY REPS"""
import socket, time, sys, json
host, port, key, reps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
body = json.dumps({"model": "up", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
gaps = []
s = socket.create_connection((host, port))
for r in range(reps):
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (key.encode(), len(body), body))
    buf = b""; last = None; n = 0
    while b"[DONE]" not in buf:
        d = s.recv(65536)
        if not d: break
        now = time.perf_counter()
        k = d.count(b"data: ")
        if last is not None and k: gaps.append((now - last) * 1000)
        if k: last = now
        n += k; buf += d
    # read the terminating chunk
    while not buf.endswith(b"0\r\n\r\n"):
        d = s.recv(65536)
        if not d: break
        buf += d
gaps.sort()
q = lambda p: gaps[min(len(gaps)-1, int(p*len(gaps)))]
print("gaps n=%d p50=%.1f p90=%.1f p99=%.1f max=%.1f ms; over 15 ms: %d" % (len(gaps), q(.5), q(.9), q(.99), gaps[-1], sum(g > 15 for g in gaps)))
