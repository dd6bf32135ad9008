#!/usr/bin/env bash
# Gateway: the same chat-completion load sent straight to an instant local upstream
# (crates/gateway/examples/instant_upstream.rs), through `proximity gateway` (`dist`
# build, a virtual key from `proximity keys create`, a fresh SQLite store) and through
# the LiteLLM proxy (PyPI `litellm[proxy]`, pinned LITELLM_VERSION, a master key and no
# database: its database layer, Prisma, downloads engine binaries from outside the
# package registries, so both gateways run without one... Proximity still writes its
# durable usage row per request, LiteLLM writes none).
#
# Load: oha (crates.io, pinned OHA_VERSION) at fixed rates with latency correction
# (open loop: a late request counts from when it should have been sent), then closed
# loop at full speed for the highest rate each target sustains. Targets are alternated
# (direct, proximity, litellm; the order rotates each repeat).
#
#   bench/gateway_vs_litellm.sh
#   RATES="100 500" SECS=5 REPEATS=1 bench/gateway_vs_litellm.sh
#   LITELLM_WORKERS=1 ...   BUILD=0 ...   TARGETS="direct proximity" ...
#   TARGETS="direct nginx passthrough-hyper passthrough proximity litellm" ...
#   TARGETS="direct passthrough-hyper passthrough-hyper+25 passthrough-hyper+50 proximity" ...
#   PROXIMITY_BEFORE=/tmp/proximity-old TARGETS="direct proximity-before proximity" ...
#   CPUS_UPSTREAM=0-1 CPUS_LOAD=2-5 CPUS_TARGET=6-7 ...   NETNS=0 ...
#
# Three reference relays, not peers (none has keys, tiers, budgets or usage rows), set
# what a second hop costs on its own on this machine: `nginx` (Debian's nginx-light, a
# reverse proxy with keep-alive to the upstream, one worker process per core),
# `passthrough` (crates/gateway/examples/passthrough.rs: axum, reqwest and the runtime
# `proximity gateway` runs on, and nothing else) and `passthrough-hyper` (the same with
# hyper-util's client in place of reqwest). `passthrough-hyper+N` is that relay burning N µs
# of CPU on each request's path (PASSTHROUGH_SPIN_US): how the tail on this machine grows
# with a relay's CPU alone, to set the gateway's against.
#
# `proximity-before` is a second gateway, the binary PROXIMITY_BEFORE (an earlier build,
# say), on a store of its own: a change's before and after, alternated in one run.
#
# cpu_us is the CPU time (user + system) the target's processes took during a run, per
# answered request; for `direct`, the upstream's.
#
# Cores: by default every process runs where the scheduler puts it, so on a small machine
# the load generator, the upstream and the target take turns on the same cores, and the
# waiting for a core is part of the figure. CPUS_UPSTREAM, CPUS_LOAD and CPUS_TARGET
# (taskset lists, e.g. 0-1) pin the upstream, oha and every target to cores of their own
# (tokio and LiteLLM's workers size themselves to the cores they are given, and nginx
# gets a worker per core given), so that the figure is the hop's own cost
# (bench/gateway_cores.sh runs both).
#
# NETNS=0 measures in the host's network namespace, where `unshare -n` is refused (some
# containers); every address is still loopback.
#
# Added latency = the target's latency percentile minus the direct one at the same rate
# in the same repeat. LiteLLM stops at the first rate it does not sustain (achieved <
# 95% of asked or errors), since past that it only queues.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=bench/lib/gateway.sh
. bench/lib/gateway.sh
deps=$root/bench/.deps
# Proximity's build: `dist` (fat LTO, one codegen unit), the build a release ships. The
# upstream stays the release build whatever PROFILE is, so that only the side under
# test changes.
PROFILE=${PROFILE:-dist}
prox=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/proximity
RATES=${RATES:-"100 500 1000 2000 5000"}
SECS=${SECS:-10}
REPEATS=${REPEATS:-3}
CONNECTIONS=${CONNECTIONS:-64}
TARGETS=${TARGETS:-"direct proximity litellm"}
LITELLM_VERSION=${LITELLM_VERSION:-1.108.7}
LITELLM_WORKERS=${LITELLM_WORKERS:-2}
OHA_VERSION=${OHA_VERSION:-1.16.0}
NETNS=${NETNS:-1}
# `on ROLE CMD...`: CMD pinned to the cores CPUS_<ROLE> names, or unpinned.
on() {
  local cpus
  case $1 in
    upstream) cpus=${CPUS_UPSTREAM:-} ;;
    load) cpus=${CPUS_LOAD:-} ;;
    *) cpus=${CPUS_TARGET:-} ;;
  esac
  shift
  if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

if [ -z "${BENCH_IN_NETNS:-}" ]; then
  if [ ! -x "$deps/oha/bin/oha" ]; then
    cargo install --locked --root "$deps/oha" oha --version "$OHA_VERSION" >&2
  fi
  if [[ " $TARGETS " == *" litellm "* ]] && ! "$deps/litellm-venv/bin/python" -c \
      "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$LITELLM_VERSION')" 2>/dev/null; then
    python3 -m venv "$deps/litellm-venv"
    "$deps/litellm-venv/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION" >&2
  fi
  if [[ " $TARGETS " == *" nginx "* ]] && ! command -v nginx >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "TARGETS has nginx: install it first (apt-get install nginx-light)" >&2; exit 2; }
    apt-get install -y -qq nginx-light >&2
  fi
  if [ "${BUILD:-1}" = 1 ]; then
    cargo build --release -p proximity-gateway --example instant_upstream --example passthrough \
      --example passthrough_hyper >&2
    cargo build --profile "$PROFILE" --bin proximity >&2
  fi
  out=${OUT:-$root/bench/results/data/gateway-vs-litellm-$(date -u +%Y-%m-%d-%H%M%S).tsv}
  mkdir -p "$(dirname "$out")"
  export BENCH_IN_NETNS=1 OUT="$out"
  if [ "$NETNS" = 1 ]; then
    # Loopback only: nothing can phone home, and every figure is loopback traffic.
    unshare -n true 2>/dev/null || {
      echo "cannot make a loopback-only network namespace (unshare -n needs root or user namespaces); NETNS=0 measures in this one" >&2
      exit 2
    }
    exec unshare -n bash -c 'ip link set lo up && exec bash ${BENCH_TRACE:+-x} "$0"' "$0"
  fi
fi

oha=$deps/oha/bin/oha
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT

start_upstream target/release/examples/instant_upstream "$work/upstream.out" on upstream
pids+=("$upstream_pid")

# --- Proximity gateway
write_gateway_program "$work/program" gateway-bench "$upstream"
declare -A url key pid
url[direct]=http://$upstream
key[direct]=unused
pid[direct]=$upstream_pid
for t in $TARGETS; do
  case $t in
    proximity) bin=$prox ;;
    proximity-before) bin=${PROXIMITY_BEFORE:?TARGETS has proximity-before: set PROXIMITY_BEFORE to the binary to compare} ;;
    *) continue ;;
  esac
  db=sqlite://$work/$t.db
  key[$t]=$("$bin" --program "$work/program" --database-url "$db" keys create --persona bench 2>/dev/null)
  # Started directly (not through a function), so that `$!` is the gateway itself: its
  # RSS is the one sampled, and the cleanup stops it.
  (on target "$bin" --program "$work/program" --database-url "$db" \
    gateway --listen 127.0.0.1:0) >"$work/$t.out" 2>"$work/$t.err" &
  pids+=($!)
  pid[$t]=$!
  wait_for "$work/$t.out" listening
  url[$t]=$(sed -n 's/^listening on //p' "$work/$t.out")
  [[ ${url[$t]} == http://* ]] || url[$t]=http://${url[$t]}
done

# --- Reference relays
if [[ " $TARGETS " == *" nginx "* ]]; then
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $(on target nproc);
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream instant { server $upstream; keepalive 128; }
  server {
    listen 127.0.0.1:4100;
    location / { proxy_pass http://instant; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
  (on target nginx -c "$work/nginx/nginx.conf" -p "$work/nginx") 2>"$work/nginx/stderr" &
  pids+=($!)
  pid[nginx]=$!
  url[nginx]=http://127.0.0.1:4100
  key[nginx]=unused
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:4100/ && break; sleep 0.1; done
fi
if [[ " $TARGETS " == *" passthrough "* ]]; then
  (on target target/release/examples/passthrough "$upstream") >"$work/passthrough.out" &
  pids+=($!)
  pid[passthrough]=$!
  wait_for "$work/passthrough.out" listening
  url[passthrough]=http://$(sed -n 's/^listening on //p' "$work/passthrough.out")
  key[passthrough]=unused
fi
for t in $TARGETS; do
  [[ $t == passthrough-hyper || $t == passthrough-hyper+* ]] || continue
  spin_us=0
  [[ $t == *+* ]] && spin_us=${t#*+}
  (export PASSTHROUGH_SPIN_US=$spin_us
    on target target/release/examples/passthrough_hyper "$upstream") >"$work/$t.out" &
  pids+=($!)
  pid[$t]=$!
  wait_for "$work/$t.out" listening
  url[$t]=http://$(sed -n 's/^listening on //p' "$work/$t.out")
  key[$t]=unused
done

# --- LiteLLM proxy
if [[ " $TARGETS " == *" litellm "* ]]; then
  cat >"$work/litellm.yaml" <<YAML
model_list:
  - model_name: instant
    litellm_params:
      model: openai/instant
      api_base: http://$upstream/v1
      api_key: unused
general_settings:
  master_key: sk-bench-master
litellm_settings:
  telemetry: false
YAML
  (export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False
    on target "$deps/litellm-venv/bin/litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port 4000 \
    --num_workers "$LITELLM_WORKERS") >"$work/litellm.log" 2>&1 &
  pids+=($!)
  pid[litellm]=$!
  url[litellm]=http://127.0.0.1:4000
  key[litellm]=sk-bench-master
  for _ in $(seq 600); do curl -sf http://127.0.0.1:4000/health/liveliness >/dev/null && break; sleep 0.2; done
  curl -sf http://127.0.0.1:4000/health/liveliness >/dev/null || { tail -n 30 "$work/litellm.log" >&2; exit 1; }
fi

body='{"model":"instant","messages":[{"role":"user","content":"Say ok."}],"max_tokens":16}'
# A process, its children and theirs (LiteLLM and nginx run worker processes).
tree() {
  echo "$1" $(pgrep -P "$1" 2>/dev/null) $(for c in $(pgrep -P "$1" 2>/dev/null); do pgrep -P "$c"; done)
}
# `tree_sum PID FILE AWK`: the sum over a process tree of what AWK prints from
# /proc/<pid>/FILE.
tree_sum() {
  local total=0 p
  for p in $(tree "$1"); do
    total=$((total + $(awk "$3" "/proc/$p/$2" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
# Resident memory of a process tree, in KiB.
tree_rss() { tree_sum "$1" status '/VmRSS/ {print $2}'; }
# CPU time (user + system, in clock ticks) of a process tree so far.
tree_ticks() { tree_sum "$1" stat '{print $14 + $15}'; }
# One oha run: $1 target, $2 rate (0 = closed loop, as fast as it goes), $3 seconds.
load() {
  local t=$1 rate=$2 secs=$3 args=()
  if [ "$rate" != 0 ]; then args=(-q "$rate" --latency-correction); fi
  (on load "$oha" --no-tui --output-format json -z "${secs}s" -c "$CONNECTIONS" "${args[@]}" -m POST \
    -H "authorization: Bearer ${key[$t]}" -H 'content-type: application/json' -d "$body" \
    "${url[$t]}/v1/chat/completions") 2>/dev/null
}
# Extracts: achieved rps, p50 ms, p99 ms, errors (non-200 answers and transport errors).
fields() {
  python3 -c 'import json, sys
d = json.load(sys.stdin)
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
ok = codes.get("200", 0)
# Requests still in flight when the time is up are cut off by oha, not failed.
errors = sum(v for k, v in codes.items() if k != "200") + sum(
    v for k, v in d.get("errorDistribution", {}).items() if "aborted due to deadline" not in k)
secs = s.get("total") or 1
print("%.1f\t%.3f\t%.3f\t%d" % (ok / secs, (p.get("p50") or float("nan")) * 1000,
      (p.get("p99") or float("nan")) * 1000, errors))'
}

{
  echo "# $(date -u +%FT%TZ) nproc=$(nproc) cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" \
    "mem=$(awk '/MemTotal/ {printf "%.1fGiB", $2/1048576}' /proc/meminfo)" \
    "proximity=$("$prox" --version | tr ' ' '-')-$PROFILE litellm=$LITELLM_VERSION workers=$LITELLM_WORKERS" \
    "oha=$OHA_VERSION connections=$CONNECTIONS secs=$SECS (litellm without a database)" \
    "cpus=upstream:${CPUS_UPSTREAM:-any},load:${CPUS_LOAD:-any},target:${CPUS_TARGET:-any} netns=$NETNS"
  printf 'target\trps\trepeat\tachieved_rps\tp50_ms\tp99_ms\terrors\trss_kb\tload1\tcpu_us\n'
} | tee "$OUT"

hz=$(getconf CLK_TCK)
# Warm up every target (connections, SQLite pages, Python imports).
for t in $TARGETS; do load "$t" 50 2 >/dev/null; done

declare -A gave_up
targets=($TARGETS)
for rep in $(seq "$REPEATS"); do
  gave_up=()
  shift_by=$(((rep - 1) % ${#targets[@]}))
  order=("${targets[@]:$shift_by}" "${targets[@]:0:$shift_by}")
  for rate in $RATES 0; do
    for t in "${order[@]}"; do
      [ -z "${gave_up[$t]:-}" ] || [ "$rate" = 0 ] || continue
      load1=$(cut -d' ' -f1 /proc/loadavg)
      ticks=$(tree_ticks "${pid[$t]}")
      line=$(load "$t" "$rate" "$SECS" | fields)
      ticks=$(($(tree_ticks "${pid[$t]}") - ticks))
      achieved=$(echo "$line" | cut -f1)
      cpu_us=$(python3 -c "print('%.1f' % ($ticks * 1e6 / $hz / max($achieved * $SECS, 1)))")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rate" "$rep" "$line" "$(tree_rss "${pid[$t]}")" "$load1" "$cpu_us" | tee -a "$OUT"
      errors=$(echo "$line" | cut -f4)
      if [ "$t" = litellm ] && [ "$rate" != 0 ] && python3 -c "import sys; sys.exit(not ($achieved < 0.95 * $rate or $errors > 0))"; then
        gave_up[$t]=1
      fi
    done
  done
done

python3 bench/summarize.py gateway "$OUT"
