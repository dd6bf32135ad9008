#!/usr/bin/env bash
# Gateway overhead: what `proximity gateway` adds to a request, measured against an
# instant local upstream (crates/gateway/examples/instant_upstream.rs) with a small
# open-loop load generator (crates/gateway/examples/loadgen.rs).
#
# For each target rate it prints one JSON line: requests answered, the rate sustained,
# client latency p50/p99, and the gateway's own `x-proximity-overhead-ms` (time in the
# gateway minus time waiting for the upstream: key lookup, tier check, budget reservation,
# the usage row made durable, serialisation) at p50/p99/max.
#
#   bench/gateway_overhead.sh                      # release build, rates 500..5000
#   PROFILE=dev RATES="200 500" SECS=5 bench/gateway_overhead.sh
#   BUILD=0 ...                                    # use the binaries already built
#   GATEWAY_ARGS=--shared-limits ...               # budgets reserved in the store (the
#                                                  # multi-gateway path) instead of memory
#
# Each request is authenticated, rate-limited, reserves budget (in the gateway's memory:
# it owns the SQLite file) and appends its usage row with its spend to the gateway's
# usage journal (durable against kill -9, moved into SQLite by a background task) before
# it is answered: the figures include all that. With --shared-limits the row is
# committed to the store before the answer instead.
set -euo pipefail

PROFILE=${PROFILE:-release}
RATES=${RATES:-"500 1000 2000 5000"}
SECS=${SECS:-10}
CONNECTIONS=${CONNECTIONS:-128}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=bench/lib/gateway.sh
. bench/lib/gateway.sh

if [ "${BUILD:-1}" = 1 ]; then
  cargo build --profile "$PROFILE" -p proximity-gateway --example instant_upstream --example loadgen >&2
  cargo build --profile "$PROFILE" -p proximity >&2
fi
dir=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

start_upstream "$dir/examples/instant_upstream" "$work/upstream.out"
pids+=("$upstream_pid")
write_gateway_program "$work/program" overhead-bench "$upstream"

px() { "$dir/proximity" --program "$work/program" --database-url "sqlite://$work/gw.db" "$@"; }
key=$(px keys create --persona bench 2>/dev/null)
# shellcheck disable=SC2086 # GATEWAY_ARGS is a list of flags
# Started directly (not through `px`), so that `$!` is the gateway itself and the cleanup
# stops it.
"$dir/proximity" --program "$work/program" --database-url "sqlite://$work/gw.db" \
  gateway --listen 127.0.0.1:0 ${GATEWAY_ARGS:-} >"$work/gateway.out" 2>"$work/gateway.err" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/gateway.out" 2>/dev/null && break; sleep 0.1; done
gateway=$(sed -n 's/^listening on //p' "$work/gateway.out")
echo "# profile=$PROFILE cores=$(nproc) upstream=$upstream gateway=$gateway args=${GATEWAY_ARGS:-} load=$(cut -d' ' -f1 /proc/loadavg)" >&2

# Warm up (connections, SQLite pages).
"$dir/examples/loadgen" "$gateway" "$key" instant 200 2 "$CONNECTIONS" >/dev/null
for rate in $RATES; do
  "$dir/examples/loadgen" "$gateway" "$key" instant "$rate" "$SECS" "$CONNECTIONS"
done
