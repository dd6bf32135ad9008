#!/usr/bin/env python3
"""Time every dashboard page through a real `proximity serve` process.

    bench/dashboard_pages.py PROGRAM_DIR [PROXIMITY_BINARY] [REPEATS]

PROGRAM_DIR is a program with its store (`bench/dashboard_store.py` makes one at a real
company's scale). Starts `proximity serve` on a free port, then per page: the first
request ("cold", the process's first read of it) and the median and max of REPEATS more
(default 7). Then, with five `/usage` requests in flight, how long `/` takes; then the
server's peak resident memory (VmHWM) and how long `proximity usage` takes (median of 5).
Prints a Markdown table on standard output; progress on standard error.
"""

import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
        status = r.status
    return time.perf_counter() - t, status, body


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    program = os.path.abspath(sys.argv[1])
    binary = sys.argv[2] if len(sys.argv) > 2 else "proximity"
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    db = os.path.join(program, ".proximity", "proximity.db")
    con = sqlite3.connect(db)
    runs = con.execute("SELECT id, config FROM runs ORDER BY started_at DESC").fetchall()
    newest_eval = next(r[0] for r in runs if "probe" not in json.loads(r[1]))
    case = con.execute(
        "SELECT tool_id, case_id, sample FROM results WHERE run_id = ? LIMIT 1", (newest_eval,)
    ).fetchone()
    n_results = con.execute(
        "SELECT COUNT(*) FROM results WHERE run_id = ?", (newest_eval,)
    ).fetchone()[0]
    con.close()
    pages = [
        "/",
        "/runs",
        "/persona/support-agent",
        "/persona/finance-analyst",
        "/persona/software-engineer",
        "/tool/acme-copilot",
        "/tool/local",
        f"/run/{newest_eval}",
        f"/run/{newest_eval}?verdict=silent",
        f"/run/{newest_eval}?page={max(n_results // 50 - 1, 0)}",
        f"/run/{newest_eval}/result/{case[0]}/{case[1]}/{case[2]}",
        "/field-log",
        "/decisions",
        "/usage",
    ]
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [binary, "--program", program, "serve", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 300:
                    sys.exit("the server did not start")
                time.sleep(0.05)
        print(f"listening after {time.perf_counter() - started:.2f} s", file=sys.stderr)
        rows = []
        for p in pages:
            cold, status, body = get(base + p)
            warm = [get(base + p)[0] for _ in range(repeats)]
            rows.append((p, status, len(body), cold, statistics.median(warm), max(warm)))
            print(f"{p}: {cold * 1e3:.0f} ms, {statistics.median(warm) * 1e3:.0f} ms", file=sys.stderr)

        # One slow page must not hold up another.
        slow = [threading.Thread(target=get, args=(base + "/usage",)) for _ in range(5)]
        for t in slow:
            t.start()
        time.sleep(0.02)
        under_load, _, _ = get(base + "/")
        for t in slow:
            t.join()
        status = open(f"/proc/{server.pid}/status").read()
        hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
    finally:
        server.terminate()
        server.wait()

    usage = []
    for _ in range(5):
        t = time.perf_counter()
        r = subprocess.run(
            [binary, "--program", program, "usage"], capture_output=True, text=True
        )
        usage.append(time.perf_counter() - t)
        warned = "slow statement" in r.stdout + r.stderr
    print(f"{n_results:,} results in run `{newest_eval}`; {repeats} warm loads a page\n")
    print("| page | status | bytes | first | warm median | warm max |")
    print("| --- | --- | --- | --- | --- | --- |")
    for p, status, size, cold, med, mx in rows:
        print(f"| `{p}` | {status} | {size:,} | {cold * 1e3:.0f} ms | {med * 1e3:.1f} ms | {mx * 1e3:.1f} ms |")
    print()
    print(f"- `/` with five `/usage` requests in flight: {under_load * 1e3:.0f} ms")
    print(f"- server peak RSS (VmHWM): {hwm:.0f} MB")
    print(
        f"- `proximity usage` (whole process): median {statistics.median(usage) * 1e3:.0f} ms"
        f" of 5; sqlx slow-statement warning printed: {'yes' if warned else 'no'}"
    )


if __name__ == "__main__":
    main()
