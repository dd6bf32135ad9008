#!/usr/bin/env bash
# Gateway scale-out: 1, 2 and 3 `proximity gateway` processes on one PostgreSQL store
# (and, for comparison, one gateway on the default SQLite store), in front of an instant
# local upstream (crates/gateway/examples/instant_upstream.rs), driven by the open-loop
# load generator crates/gateway/examples/loadgen.rs.
#
# With N gateways, N load generators run side by side, one per gateway at RATE/N each
# (what a round-robin load balancer would send each replica); their answered requests
# are summed, and the latency reported is the worst replica's p50 and p99.
#
# For each setup it measures:
#   - latency at a fixed total rate (FIXED_RATE rps for SECS s): client p50/p99;
#   - the highest total rate of RATES sustained: every request answered 200, none left
#     unsent for want of a free connection, >= 95% of the target rate achieved, and every
#     replica's p99 <= P99_MS.
# It prints one JSON line per load step on stderr and a markdown table on stdout.
#
#   bench/gateway_replicas.sh
#   BUILD=0 RATES="250 500 1000" SECS=5 bench/gateway_replicas.sh
#   SETUPS="sqlite:1 postgres:1 postgres:2 postgres:3"   # which setups, in order
#   LIMITS=0 ...                     # the tier without a rate limit (no bucket takes)
#   KEEP=1 ...                       # keep the work directory (gateway logs: STORE-N-gwI.err)
#
# Each request authenticates its key, takes from the tier's rate-limit buckets (shared,
# in the database, on PostgreSQL; in-process on SQLite), reserves budget and writes its
# usage row before it is answered. PostgreSQL comes from `scripts/pg start` (fsync on); a
# fresh database is created for the run and dropped after.
set -euo pipefail

PROFILE=${PROFILE:-release}
RATES=${RATES:-"200 300 400 500 750 1000 1500 2000 3000"}
FIXED_RATE=${FIXED_RATE:-250}
SECS=${SECS:-5}
CONNECTIONS=${CONNECTIONS:-96}
P99_MS=${P99_MS:-50}
POOL=${POOL:-16}
SETUPS=${SETUPS:-"sqlite:1 postgres:1 postgres:2 postgres:3"}
LIMITS=${LIMITS:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=bench/lib/gateway.sh
. bench/lib/gateway.sh

if [ "${BUILD:-1}" = 1 ]; then
  cargo build --profile "$PROFILE" -p proximity-gateway --example instant_upstream --example loadgen >&2
  cargo build --profile "$PROFILE" -p proximity >&2
fi
dir=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")

pg_server=$(scripts/pg start)
db="proximity_bench_replicas_$$_$(date +%s)"
psql "$pg_server" -qc "CREATE DATABASE $db" >/dev/null
pg_url="${pg_server%/*}/$db"

work=$(mktemp -d)
upstream_pid=""
gateway_pids=()
stop_gateways() {
  for p in "${gateway_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${gateway_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  gateway_pids=()
}
cleanup() {
  stop_gateways
  [ -n "$upstream_pid" ] && kill "$upstream_pid" 2>/dev/null || true
  psql "$pg_server" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "# kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

start_upstream "$dir/examples/instant_upstream" "$work/upstream.out"
limit=""
[ "$LIMITS" = 1 ] && limit="rate_limit: { requests_per_minute: 100000000, tokens_per_minute: 10000000000 }"
write_gateway_program "$work/program" replicas-bench "$upstream" "$limit"

url_of() { [ "$1" = postgres ] && echo "$pg_url" || echo "sqlite://$work/gw.db"; }
px() { # px STORE ARGS...
  local store=$1
  shift
  "$dir/proximity" --program "$work/program" --database-url "$(url_of "$store")" \
    --database-pool-size "$POOL" "$@"
}
declare -A keys
for store in sqlite postgres; do keys[$store]=$(px "$store" keys create --persona bench 2>/dev/null); done

addrs=()
start_gateways() { # start_gateways STORE N: their addresses in `addrs`
  local store=$1 n=$2 i
  addrs=()
  for i in $(seq "$n"); do
    # A file of its own per setup: an earlier gateway's address is never read back.
    local out="$work/$store-$n-gw$i"
    # Started directly (not through `px`), so that `$!` is the gateway itself.
    "$dir/proximity" --program "$work/program" --database-url "$(url_of "$store")" \
      --database-pool-size "$POOL" gateway --listen 127.0.0.1:0 >"$out.out" 2>"$out.err" &
    gateway_pids+=($!)
    for _ in $(seq 100); do grep -q listening "$out.out" 2>/dev/null && break; sleep 0.1; done
    addrs+=("$(sed -n 's/^listening on //p' "$out.out")")
    [ -n "${addrs[-1]}" ] || { echo "gateway $i on $store did not start: $(cat "$out.err")" >&2; exit 1; }
  done
}

# load STORE TOTAL_RPS ADDR...: one loadgen per gateway at TOTAL/N, in parallel; prints
# "ok errors not_sent achieved_rps worst_p50 worst_p99".
load() {
  local store=$1 rate=$2
  shift 2
  local n=$# i=0 addr pids=()
  for addr in "$@"; do
    i=$((i + 1))
    "$dir/examples/loadgen" "$addr" "${keys[$store]}" instant \
      "$(awk "BEGIN { print $rate / $n }")" "$SECS" "$((CONNECTIONS / n))" >"$work/load$i.json" &
    pids+=($!)
  done
  wait "${pids[@]}"
  python3 - "$work" "$n" "$store" "$rate" <<'PY'
import json, sys
work, n, store, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
rows = [json.load(open(f"{work}/load{i}.json")) for i in range(1, n + 1)]
for r in rows:
    print(json.dumps({"store": store, "gateways": n, "total_rps": rate, **r}), file=sys.stderr)
ok = sum(r["ok"] for r in rows)
err = sum(r["errors"] for r in rows)
unsent = sum(r["not_sent"] for r in rows)
achieved = sum(r["achieved_rps"] for r in rows)
p50 = max(r["latency_ms"]["p50"] for r in rows)
p99 = max(r["latency_ms"]["p99"] for r in rows)
print(ok, err, unsent, round(achieved), f"{p50:.2f}", f"{p99:.2f}")
PY
}

echo "# profile=$PROFILE cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg) secs=$SECS connections=$CONNECTIONS pool=$POOL p99_bound=${P99_MS}ms rate_limits=$LIMITS" >&2
echo "| store | gateways | max sustained rps (p99 ≤ ${P99_MS} ms, no errors) | p99 ms at that rate | p50 ms at ${FIXED_RATE} rps | p99 ms at ${FIXED_RATE} rps | 1-min load before |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for setup in $SETUPS; do
  store=${setup%%:*}
  n=${setup##*:}
  load1=$(cut -d' ' -f1 /proc/loadavg)
  start_gateways "$store" "$n"
  # Warm up: connections, pages, the key cache of every replica.
  load "$store" 200 "${addrs[@]}" >/dev/null
  read -r _ fe _ _ fp50 fp99 < <(load "$store" "$FIXED_RATE" "${addrs[@]}")
  [ "$fe" = 0 ] || fp50="$fp50 ($fe errors)"
  best=none best_p99=""
  for rate in $RATES; do
    read -r ok e unsent achieved _ p99 < <(load "$store" "$rate" "${addrs[@]}")
    if [ "$e" = 0 ] && [ "$unsent" = 0 ] && [ "$ok" -gt 0 ] \
      && python3 -c "import sys; sys.exit(not ($achieved >= 0.95 * $rate and $p99 <= $P99_MS))"; then
      best=$rate best_p99=$p99
    else
      break
    fi
  done
  echo "| $store | $n | $best | $best_p99 | $fp50 | $fp99 | $load1 |"
  stop_gateways
done
