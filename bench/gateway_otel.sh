#!/usr/bin/env bash
# What trace export costs the gateway: one build run three ways, alternated round by round
# under the same load (bench/gateway_ab.sh): export off, export on to a collector that
# answers (bench/otel/sink.py ok), and export on to one that accepts connections and never
# answers (sink.py silent). The question (issue 29): p99 added latency with export on
# within 10% of export off, at 5,000 rps, in the same run.
#
#   bench/gateway_otel.sh target/release/proximity
#
# RATE (5000), SECS, ROUNDS, CONNECTIONS, CPUS_LOAD, CPUS_TARGET as for gateway_ab.sh.
# The builds are named b0 (off), b1 (on), b2 (on, collector silent) in its table.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
. bench/lib/gateway.sh
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
python3 bench/otel/sink.py ok >"$work/ok.out" &
pids+=($!)
python3 bench/otel/sink.py silent >"$work/silent.out" &
pids+=($!)
wait_for "$work/ok.out" listening
wait_for "$work/silent.out" listening
ok=$(sed -n 's/^listening on //p' "$work/ok.out")
silent=$(sed -n 's/^listening on //p' "$work/silent.out")
ARGS_b1="--otlp-endpoint http://$ok" ARGS_b2="--otlp-endpoint http://$silent" \
  OUT=${OUT:-bench/results/data/gateway-otel-$(date -u +%Y-%m-%d-%H%M%S).tsv} \
  bench/gateway_ab.sh "$1" "$1" "$1"
kill "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
echo "collector: $(tail -n 1 "$work/ok.out")"
