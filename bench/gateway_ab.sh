#!/usr/bin/env bash
# Two (or more) builds of the gateway, alternated round by round under the same load, each
# on a SQLite store of its own: what a change did, seen past the machine's noise. Beside
# each round's latency it reports the build's CPU a request and, apart, the CPU of its
# SQLite threads (sqlx's `sqlx-sqlite-worker-N`, the background writer's `sqlite-bg-N`).
#
#   bench/gateway_ab.sh OLD_BINARY target/release/proximity
#   RATE=0 bench/gateway_ab.sh A B                  # closed loop instead of 5,000 rps
#   CPUS_LOAD=0 CPUS_TARGET=1 bench/gateway_ab.sh A B   # the gateways on a core of their own
#   SATURATE=1 bench/gateway_ab.sh A B              # a closed-loop burst before each round
#   ARGS_b1='--otlp-endpoint http://127.0.0.1:4318' bench/gateway_ab.sh B B   # one build, two settings
#
# RATE (5000; 0 = as fast as it goes), SECS (6), ROUNDS (6), CONNECTIONS (64). CPUS_LOAD
# (taskset list) pins oha and the upstream, CPUS_TARGET the gateways. SATURATE=1 runs each
# build flat out for SECS before each of its measured rounds (what a backlog left by a
# saturated spell costs the round after). Rows go to OUT (a TSV), medians to stdout. Needs
# oha (`bench/.deps/oha`, installed by gateway_vs_litellm.sh) and the release examples.
# ARGS_b0, ARGS_b1, ... (the builds in order) add gateway arguments to one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
RATE=${RATE:-5000}
SECS=${SECS:-6}
ROUNDS=${ROUNDS:-6}
CONNECTIONS=${CONNECTIONS:-64}
OUT=${OUT:-bench/results/data/gateway-ab-$(date -u +%Y-%m-%d-%H%M%S).tsv}
OHA=bench/.deps/oha/bin/oha
EX=target/release/examples
[ -x "$OHA" ] || { echo "no $OHA: run bench/gateway_vs_litellm.sh once to install it" >&2; exit 1; }
[ -x "$EX/instant_upstream" ] || cargo build --release -p proximity-gateway --example instant_upstream >&2
. bench/lib/gateway.sh

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

pin_load=()
[ -n "${CPUS_LOAD:-}" ] && pin_load=(taskset -c "$CPUS_LOAD")
pin_target=()
[ -n "${CPUS_TARGET:-}" ] && pin_target=(taskset -c "$CPUS_TARGET")
start_upstream "$EX/instant_upstream" "$work/up.out" "${pin_load[@]}"
pids+=("$upstream_pid")
write_gateway_program "$work/program" ab "$upstream"

declare -A url key pid bin args
builds=()
for b in "$@"; do
  name=b${#builds[@]}
  builds+=("$name")
  bin[$name]=$b
  extra_var=ARGS_$name
  args[$name]=${!extra_var:-}
  mkdir -p "$work/$name"
  db="sqlite://$work/$name/gw.db"
  key[$name]=$("$b" --program "$work/program" --database-url "$db" keys create --persona bench 2>/dev/null)
  # shellcheck disable=SC2086 # ARGS_bN is split into words on purpose
  "${pin_target[@]}" "$b" --program "$work/program" --database-url "$db" gateway --listen 127.0.0.1:0 ${args[$name]} \
    >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  pid[$name]=$!
  wait_for "$work/$name.out" listening
  u=$(sed -n 's/^listening on //p' "$work/$name.out")
  [[ $u == http://* ]] || u=http://$u
  url[$name]=$u
done

body='{"model":"instant","messages":[{"role":"user","content":"Say ok."}],"max_tokens":16}'
# CPU time (user + system, clock ticks) of a process, and of its SQLite threads.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sqlite_ticks() {
  local t sum=0
  for t in /proc/"$1"/task/*; do
    if grep -qE '^(sqlx-sqlite|sqlite-bg)' "$t/comm" 2>/dev/null; then
      sum=$((sum + $(awk '{print $14 + $15}' "$t/stat")))
    fi
  done
  echo "$sum"
}
# `load BUILD SECS RATE` (RATE 0: closed loop), oha's JSON to stdout.
load() {
  local rate=()
  [ "$3" != 0 ] && rate=(-q "$3" --latency-correction)
  "${pin_load[@]}" "$OHA" --no-tui --output-format json -z "$2s" -c "$CONNECTIONS" "${rate[@]}" \
    -m POST -H "authorization: Bearer ${key[$1]}" -H 'content-type: application/json' \
    -d "$body" "${url[$1]}/v1/chat/completions" 2>/dev/null
}

hz=$(getconf CLK_TCK)
for b in "${builds[@]}"; do load "$b" 2 "$RATE" >/dev/null; done
{
  echo "# $(date -u +%FT%TZ) nproc=$(nproc) rate=$RATE secs=$SECS connections=$CONNECTIONS saturate=${SATURATE:-0} cpus=load:${CPUS_LOAD:-any},target:${CPUS_TARGET:-any}"
  for b in "${builds[@]}"; do echo "# $b = ${bin[$b]} ${args[$b]} ($("${bin[$b]}" --version))"; done
  printf 'build\tround\trps\tp50_ms\tp99_ms\tp999_ms\terrors\tcpu_us\tsqlite_us\n'
} | tee "$OUT"
for r in $(seq "$ROUNDS"); do
  # Alternate the order: odd rounds first to last, even rounds last to first.
  order=("${builds[@]}")
  if [ $((r % 2)) = 0 ]; then
    order=()
    for ((i = ${#builds[@]} - 1; i >= 0; i--)); do order+=("${builds[$i]}"); done
  fi
  for b in "${order[@]}"; do
    [ "${SATURATE:-0}" = 1 ] && load "$b" "$SECS" 0 >/dev/null
    t0=$(ticks "${pid[$b]}")
    s0=$(sqlite_ticks "${pid[$b]}")
    load "$b" "$SECS" "$RATE" >"$work/res.json"
    t1=$(ticks "${pid[$b]}")
    s1=$(sqlite_ticks "${pid[$b]}")
    python3 - "$b" "$r" "$((t1 - t0))" "$((s1 - s0))" "$hz" "$work/res.json" <<'PY' | tee -a "$OUT"
import json, sys
b, r, cpu, sqlite, hz, path = sys.argv[1:7]
d = json.load(open(path))
p = d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
ok = codes.get("200", 0)
# Requests still in flight when the run's time is up are cut off by oha, not failed.
errors = sum(v for k, v in codes.items() if k != "200") + sum(
    v for k, v in d.get("errorDistribution", {}).items() if "aborted due to deadline" not in k)
us = lambda ticks: float(ticks) * 1e6 / float(hz) / max(ok, 1)
print("%s\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%d\t%.1f\t%.2f" % (
    b, r, d["summary"]["requestsPerSec"], p["p50"] * 1e3, p["p99"] * 1e3, p["p99.9"] * 1e3,
    errors, us(cpu), us(sqlite)))
PY
  done
done
echo
python3 - "$OUT" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l[0] != "#"]
head, rows = rows[0], rows[1:]
builds = {l.split(" = ")[0][2:]: l.split(" = ", 1)[1].strip() for l in open(sys.argv[1]) if l.startswith("# b")}
print("| build | rounds | rps | p50 ms | p99 ms | p99.9 ms | errors | CPU µs a request | SQLite µs a request |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for b in dict.fromkeys(r[0] for r in rows):
    mine = [r for r in rows if r[0] == b]
    med = lambda i: statistics.median(float(r[i]) for r in mine)
    print("| %s | %d | %.0f | %.3f | %.3f | %.3f | %d | %.1f | %.2f |" % (
        builds.get(b, b), len(mine), med(2), med(3), med(4), med(5),
        sum(int(r[6]) for r in mine), med(7), med(8)))
PY
