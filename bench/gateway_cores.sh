#!/usr/bin/env bash
# What a gateway's added latency is made of: the same comparison as gateway_vs_litellm.sh,
# run twice in one go on a machine with at least 8 cores:
#
#   separate  the upstream, the load generator and the target each on cores of their own
#             (upstream 0-1, oha 2-5, target 6-7): the hop's own cost;
#   shared    all three on cores 0-1, as on a 2-core machine: the hop's cost plus the
#             waiting for a core.
#
# The target has two cores either way, so the gateway runs the same two tokio workers as
# on the 2-core machine the other results come from. Rows go to
# bench/results/data/gateway-cores-<date>-<time>-{separate,shared}.tsv unless OUT_PREFIX says
# otherwise; every variable of gateway_vs_litellm.sh except the CPUS_* ones applies
# (defaults here: RATES=5000, REPEATS=3, SECS=6, no LiteLLM).
#
#   bench/gateway_cores.sh
#   TARGETS="direct nginx passthrough-hyper proximity" NETNS=0 BUILD=0 bench/gateway_cores.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cores=$(nproc)
if [ "$cores" -lt 8 ]; then
  echo "gateway_cores.sh needs 8 cores to give each role its own (this machine has $cores)" >&2
  exit 2
fi
export RATES=${RATES:-5000} REPEATS=${REPEATS:-3} SECS=${SECS:-6}
export TARGETS=${TARGETS:-"direct passthrough-hyper passthrough proximity"}
prefix=${OUT_PREFIX:-$root/bench/results/data/gateway-cores-$(date -u +%Y-%m-%d-%H%M%S)}

echo "== separate cores: upstream 0-1, load 2-5, target 6-7" >&2
CPUS_UPSTREAM=0-1 CPUS_LOAD=2-5 CPUS_TARGET=6-7 OUT=$prefix-separate.tsv \
  "$root/bench/gateway_vs_litellm.sh"
echo "== shared cores: everything on 0-1" >&2
CPUS_UPSTREAM=0-1 CPUS_LOAD=0-1 CPUS_TARGET=0-1 OUT=$prefix-shared.tsv BUILD=0 \
  "$root/bench/gateway_vs_litellm.sh"
echo >&2
python3 "$root/bench/summarize.py" cores "$prefix-separate.tsv" "$prefix-shared.tsv"
