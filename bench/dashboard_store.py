#!/usr/bin/env python3
"""Populate a store the size of a real company's program, for the dashboard benchmark.

    bench/dashboard_store.py DIR [PROXIMITY_BINARY]

Copies `examples/acme` to DIR/acme, runs a real `proximity eval --tool acme-copilot`,
`probe risk`, `baseline accept` and `drift` there (so every run kind and every table is
filled the way the program fills it), then grows the SQLite store with bulk SQL to:

- 50 runs: the real ones, 44 older evaluation runs copied from the real one, and the
  newest evaluation run with 100,000 results (the real run's results, repeated as samples);
- 1,000,000 gateway usage rows over the last 90 days (personas, tiers, tools, workflows
  of the program; about 1% 5xx, 1% 429), budget ledger rows to match this month;
- 1,000 field notes and 100 decisions with evidence.

Rows go in with `executemany` in one transaction per table: about a minute on a 2-core
machine. The store's own migrations create the schema (the real commands run first), so
the rows have the columns the build in hand expects. Prints the store's URL.
"""

import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USAGE_ROWS = int(os.environ.get("USAGE_ROWS", "1000000"))
BIG_RESULTS = int(os.environ.get("BIG_RESULTS", "100000"))
RUNS = 50
NOTES = 1000
DECISIONS = 100

PERSONAS = {
    "support-agent": ("standard", ["ticket-triage", "customer-reply", "policy-lookup"]),
    "finance-analyst": (
        "analyst",
        ["invoice-extraction", "ledger-reconciliation", "expense-review", "variance-commentary"],
    ),
    "software-engineer": (
        "engineering",
        ["code-review", "api-design", "incident-triage", "commit-messages"],
    ),
}
TIER_TOOLS = {
    "standard": ["local", "acme-copilot"],
    "analyst": ["local", "local-json", "acme-copilot"],
    "engineering": ["local", "local-json", "acme-copilot"],
}


def iso(t):
    """As the store writes usage times: RFC 3339, microseconds, `Z`."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_run(t):
    """As the store writes run and result times: RFC 3339, `+00:00`."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def sh(binary, program, *args, check=True):
    cmd = [binary, "--program", program, *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr}")
    return r


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    binary = sys.argv[2] if len(sys.argv) > 2 else "proximity"
    program = os.path.join(out, "acme")
    if os.path.exists(program):
        shutil.rmtree(program)
    shutil.copytree(os.path.join(REPO, "examples", "acme"), program)
    for d in (".proximity",):
        shutil.rmtree(os.path.join(program, d), ignore_errors=True)
    started = time.time()
    rng = random.Random(7)

    # The real runs: an evaluation, a risk probe, a baseline and a drift re-run.
    sh(binary, program, "eval", "--tool", "acme-copilot", "--format", "json")
    sh(binary, program, "probe", "risk", "--tool", "acme-copilot")
    db = os.path.join(program, ".proximity", "proximity.db")
    if not os.path.exists(db):
        sys.exit(f"no SQLite store at {db}")
    first = sqlite3.connect(db).execute(
        "SELECT id FROM runs WHERE config NOT LIKE '%\"probe\"%' ORDER BY started_at LIMIT 1"
    ).fetchone()
    if first is None:
        sys.exit("the real evaluation left no run")
    sh(binary, program, "baseline", "accept", "--name", "bench", "--by", "bench", first[0])
    sh(binary, program, "drift", "--tool", "acme-copilot")
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    cur = con.cursor()

    runs = cur.execute("SELECT id, config, started_at FROM runs ORDER BY started_at").fetchall()
    eval_runs = [r for r in runs if "probe" not in json.loads(r[1])]
    if not eval_runs:
        sys.exit("the real evaluation left no run")
    base_id, base_config, _ = eval_runs[0]
    cols = [c[1] for c in cur.execute("PRAGMA table_info(results)")]
    run_cols = [c[1] for c in cur.execute("PRAGMA table_info(runs)")]
    base_rows = cur.execute("SELECT * FROM results WHERE run_id = ?", (base_id,)).fetchall()
    n_base = len(base_rows)
    i_run, i_sample, i_created = cols.index("run_id"), cols.index("sample"), cols.index("created_at")
    ph = ",".join("?" * len(cols))
    now = dt.datetime.now(dt.timezone.utc)

    def add_run(run_id, when, samples):
        row = dict(zip(run_cols, cur.execute("SELECT * FROM runs WHERE id = ?", (base_id,)).fetchone()))
        row.update(
            id=run_id,
            started_at=iso_run(when),
            finished_at=iso_run(when + dt.timedelta(minutes=3)),
        )
        row["planned"] = n_base * samples
        cur.execute(
            f"INSERT INTO runs ({','.join(row)}) VALUES ({','.join('?' * len(row))})",
            list(row.values()),
        )

        def rows():
            made = 0
            for s in range(samples):
                for r in base_rows:
                    r = list(r)
                    r[i_run], r[i_sample], r[i_created] = run_id, s, iso_run(when)
                    yield r
                    made += 1
                    if made >= BIG_RESULTS:
                        return

        cur.executemany(f"INSERT INTO results VALUES ({ph})", rows())

    older = RUNS - len(runs) - 1
    for k in range(older):
        add_run(f"20261001-0000{k:02d}-bench", now - dt.timedelta(days=60 - k), 1)
    samples = -(-BIG_RESULTS // n_base)
    # The newest evaluation run, started after the real drift run.
    add_run(f"{now:%Y%m%d-%H%M%S}-big", now + dt.timedelta(seconds=1), samples)
    con.commit()

    # Gateway usage: 1,000,000 rows over 90 days.
    pairs = [
        (p, tier, tool, wfs)
        for p, (tier, wfs) in PERSONAS.items()
        for tool in TIER_TOOLS[tier]
    ]
    prices = {"local": (0.0, 0.0), "local-json": (0.0, 0.0), "acme-copilot": (2.5e-6, 10e-6)}

    def usage():
        span = 90 * 86400
        for i in range(USAGE_ROWS):
            p, tier, tool, wfs = pairs[i % len(pairs)]
            t = now - dt.timedelta(seconds=span * (1 - i / USAGE_ROWS))
            tin, tout = rng.randint(200, 4000), rng.randint(20, 600)
            roll = rng.random()
            status, err = (500, "server") if roll < 0.01 else (429, "rate_limited") if roll < 0.02 else (200, None)
            pin, pout = prices[tool]
            cost = 0.0 if status != 200 else tin * pin + tout * pout
            yield (
                f"u{i:08d}", iso(t), f"key-{p}", p, tier, tool, tool, "fp", wfs[i % len(wfs)],
                tin, tout, cost, rng.randint(80, 2500), None, status, err, 0, 1,
            )

    ucols = [c[1] for c in cur.execute("PRAGMA table_info(gateway_usage)")]
    want = [
        "id", "created_at", "key_id", "persona", "tier", "tool_id", "served_by",
        "tool_fingerprint", "workflow", "input_tokens", "output_tokens", "cost_usd",
        "latency_ms", "ttft_ms", "status", "error_class", "stream", "attempts",
    ]
    extra = [c for c in ucols if c not in want]
    cur.executemany(
        f"INSERT INTO gateway_usage ({','.join(want)}) VALUES ({','.join('?' * len(want))})",
        usage(),
    )
    if extra:
        print(f"note: gateway_usage columns left at their defaults: {extra}", file=sys.stderr)
    con.commit()

    # Field notes and decisions.
    outcomes = ["worked", "failed_visibly", "failed_silently", "worked_with_fixes"]
    modes = ["hallucination", "context_decay", "structure", "refusal", "other"]
    notes = []
    for i in range(NOTES):
        p, tier, tool, wfs = pairs[i % len(pairs)]
        o = outcomes[i % 4]
        when = now - dt.timedelta(hours=i * 2)
        notes.append((
            iso(when), when.strftime("%Y-%m-%d"), f"person-{i % 37}",
            "leader" if i % 5 == 0 else "practitioner", p, tool, wfs[i % len(wfs)],
            f"task {i}: a real piece of {wfs[i % len(wfs)]}", f"what happened in note {i}",
            o, modes[i % 5] if o.startswith("failed") else None,
            float(i % 30), float(i % 7), f"prompt of note {i}" if i % 3 else None, None,
        ))
    cur.executemany(
        "INSERT INTO field_notes (created_at, date, author, role, persona, tool, workflow, task,"
        " what_happened, outcome, failure_mode, minutes_saved, minutes_lost, prompt, output)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        notes,
    )
    run_ids = [r[0] for r in cur.execute("SELECT id FROM runs")]
    for i in range(DECISIONS):
        p, tier, tool, _ = pairs[i % len(pairs)]
        when = now - dt.timedelta(days=i)
        cur.execute(
            "INSERT INTO decisions (created_at, author, title, statement, personas, tools, tiers,"
            " horizon_days) VALUES (?,?,?,?,?,?,?,?)",
            (iso(when), f"leader-{i % 5}", f"Decision {i}: {p} on {tool}",
             f"{p} uses {tool} for its work", json.dumps([p]), json.dumps([tool]),
             json.dumps([tier]), 30 + i % 60),
        )
        cur.execute(
            "INSERT INTO decision_evidence (decision_id, kind, reference) VALUES (?, 'run', ?)",
            (cur.lastrowid, run_ids[i % len(run_ids)]),
        )
    con.commit()
    con.execute("ANALYZE")
    con.close()
    counts = sqlite3.connect(db).execute(
        "SELECT (SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM results),"
        " (SELECT COUNT(*) FROM gateway_usage), (SELECT COUNT(*) FROM field_notes),"
        " (SELECT COUNT(*) FROM decisions)"
    ).fetchone()
    print(
        f"runs {counts[0]}, results {counts[1]}, usage {counts[2]}, notes {counts[3]},"
        f" decisions {counts[4]} in {time.time() - started:.0f} s",
        file=sys.stderr,
    )
    print(program)


if __name__ == "__main__":
    main()
