#!/usr/bin/env python3
"""Medians and ratios of a comparison's TSV, as a Markdown table.

Usage: summarize.py eval FILE.tsv      (bench/eval_vs_promptfoo.sh)
       summarize.py gateway FILE.tsv   (bench/gateway_vs_litellm.sh)
       summarize.py cores SEPARATE.tsv SHARED.tsv   (bench/gateway_cores.sh)
"""
import statistics
import sys
from collections import defaultdict


def rows(path):
    header = None
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        cells = line.rstrip("\n").split("\t")
        if header is None:
            header = cells
            continue
        yield dict(zip(header, cells))


def num(v):
    try:
        return float(v)
    except ValueError:
        return float("nan")


def eval_summary(path):
    by = defaultdict(list)
    for r in rows(path):
        by[(int(r["cases"]), r["tool"])].append(r)
    sizes = sorted({n for n, _ in by})
    print("| cases | tool | runs | median wall s | median results/s | median peak RSS MiB | passed | load1 |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- | --- |")
    med = {}
    for n in sizes:
        for tool in ("proximity", "promptfoo"):
            rs = by.get((n, tool))
            if not rs:
                continue
            wall = statistics.median(num(r["wall_s"]) for r in rs)
            rate = statistics.median(num(r["results_per_s"]) for r in rs)
            rss = statistics.median(num(r["peak_rss_kb"]) for r in rs) / 1024
            med[(n, tool)] = (wall, rate, rss)
            passed = ",".join(sorted({r["passed"] for r in rs}))
            loads = f'{min(num(r["load1"]) for r in rs):.1f}-{max(num(r["load1"]) for r in rs):.1f}'
            print(f"| {n:,} | {tool} | {len(rs)} | {wall:.2f} | {rate:,.0f} | {rss:.1f} | {passed} | {loads} |")
    print()
    print("| cases | results/s, Proximity / promptfoo | peak RSS, promptfoo / Proximity |")
    print("| ---: | ---: | ---: |")
    for n in sizes:
        p, f = med.get((n, "proximity")), med.get((n, "promptfoo"))
        if p and f:
            print(f"| {n:,} | {p[1] / f[1]:,.0f}x | {f[2] / p[2]:.1f}x |")


ORDER = {"direct": 0, "nginx": 1, "passthrough-hyper": 2, "passthrough": 3, "proximity-before": 3.5, "proximity": 4, "litellm": 5}


def gateway_rows(path):
    """Rows grouped by (target, rps asked), each with its added latency over the direct
    hop of the same rate and repeat."""
    all_rows = list(rows(path))
    direct = {(r["rps"], r["repeat"]): r for r in all_rows if r["target"] == "direct"}
    by = defaultdict(list)
    for r in all_rows:
        d = direct.get((r["rps"], r["repeat"]))
        if d and r["target"] != "direct":
            r["p50_added_ms"] = num(r["p50_ms"]) - num(d["p50_ms"])
            r["p99_added_ms"] = num(r["p99_ms"]) - num(d["p99_ms"])
        by[(r["target"], int(r["rps"]))].append(r)
    return by


def median_of(rs, k):
    vals = [num(r[k]) for r in rs if k in r]
    return statistics.median(vals) if vals else float("nan")


def order_of(target):
    """Where a target sorts: the relays burning CPU (`passthrough-hyper+N`) after the bare
    one, by N."""
    if target.startswith("passthrough-hyper+"):
        return 2 + num(target.split("+", 1)[1]) / 1e6
    return ORDER.get(target, 9)


def sorted_groups(by):
    return sorted(by.items(), key=lambda kv: (order_of(kv[0][0]), kv[0][1] or 10**9))


def gateway_summary(path):
    by = gateway_rows(path)
    print("rps asked 0 = closed loop, as fast as it goes (the target's maximum).")
    print()
    # CPU a request (the target's processes; the upstream's for `direct`), in TSVs that
    # have it.
    cpu = any("cpu_us" in r for rs in by.values() for r in rs)
    print("| target | rps asked | runs | rps achieved | p50 ms | p99 ms | p50 added ms | p99 added ms | errors | RSS MiB | load1 |"
          + (" CPU µs a request |" if cpu else ""))
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |" + (" ---: |" if cpu else ""))
    for (target, rps), rs in sorted_groups(by):
        def m(k):
            return median_of(rs, k)
        loads = f'{min(num(r["load1"]) for r in rs):.1f}-{max(num(r["load1"]) for r in rs):.1f}'
        added = "" if target == "direct" else f"{m('p50_added_ms'):.3f} | {m('p99_added_ms'):.3f}"
        added = added or "- | -"
        print(
            f"| {target} | {rps:,} | {len(rs)} | {m('achieved_rps'):,.0f} | {m('p50_ms'):.3f} | {m('p99_ms'):.3f} "
            f"| {added} | {m('errors'):.0f} | {m('rss_kb') / 1024:.1f} | {loads} |"
            + (f" {m('cpu_us'):.0f} |" if cpu else "")
        )
    top = {t: median_of(by[(t, 0)], "achieved_rps") for t in ORDER if (t, 0) in by}
    if "proximity" in top and "litellm" in top:
        print()
        print(f"Maximum rps (closed loop), Proximity / LiteLLM: {top['proximity'] / top['litellm']:,.0f}x")
    # The gateway against a bare relay on its own stack (axum, hyper-util, tokio): what
    # its own work costs, whatever the machine's floor.
    rates = sorted(r for t, r in by if t == "proximity" and r and ("passthrough-hyper", r) in by)
    if rates:
        print()
        print("p99 added, Proximity / passthrough-hyper: " + ", ".join(
            f"{median_of(by[('proximity', r)], 'p99_added_ms') / median_of(by[('passthrough-hyper', r)], 'p99_added_ms'):.1f}x at {r:,} rps"
            for r in rates))


def cores_summary(separate, shared):
    """What each target's added latency owes to waiting for a core: the same load with
    each role on cores of its own, then with all on the same cores."""
    a, b = gateway_rows(separate), gateway_rows(shared)
    print("| target | rps asked | p99 added, cores of its own | p99 added, shared cores | max rps, own | max rps, shared |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for (target, rps), rs in sorted_groups(a):
        if target == "direct" or rps == 0 or (target, rps) not in b:
            continue
        top_a = median_of(a.get((target, 0), []), "achieved_rps")
        top_b = median_of(b.get((target, 0), []), "achieved_rps")
        print(
            f"| {target} | {rps:,} | {median_of(rs, 'p99_added_ms'):.3f} | {median_of(b[(target, rps)], 'p99_added_ms'):.3f} "
            f"| {top_a:,.0f} | {top_b:,.0f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("eval", "gateway"):
        {"eval": eval_summary, "gateway": gateway_summary}[sys.argv[1]](sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "cores":
        cores_summary(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
