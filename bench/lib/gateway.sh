# Shared by the gateway benchmarks (sourced, not run): the instant upstream and the
# program every one of them puts in front of it.

# `wait_for FILE PATTERN`: wait up to 30 s for PATTERN in FILE (a server's first line).
wait_for() {
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for $2 in $1" >&2
  cat "$1" >&2
  return 1
}

# `start_upstream BINARY OUTFILE [CMD_PREFIX...]`: start the instant upstream (the gateway
# crate's example `instant_upstream`, which prints `listening on ADDR`) in the background,
# its output to OUTFILE; sets `upstream` (its address) and `upstream_pid`. A prefix such
# as `taskset -c 0-1` must exec what follows, so that `upstream_pid` is the server.
start_upstream() {
  local bin=$1 out=$2
  shift 2
  "$@" "$bin" >"$out" &
  upstream_pid=$!
  wait_for "$out" listening
  upstream=$(sed -n 's/^listening on //p' "$out")
}

# `write_gateway_program DIR NAME UPSTREAM [TIER_LINE]`: a program in DIR with one tool
# (`instant`, OpenAI-compatible, at UPSTREAM, one attempt), one tier (`bench`, a budget
# no benchmark reaches, and TIER_LINE added to it, say a rate limit) and one persona
# (`bench`) for `proximity keys create --persona bench`.
write_gateway_program() {
  local dir=$1 name=$2 upstream=$3 tier_line=${4:-}
  mkdir -p "$dir/suites"
  {
    cat <<YAML
version: 1
name: $name
tools:
  - id: instant
    provider: openai
    model: instant
    base_url: http://$upstream/v1
    api_key_env: PROXIMITY_BENCH_UNUSED_KEY
    price: { input_per_mtok: 1, output_per_mtok: 1 }
    params: { max_tokens: 16, max_attempts: 1 }
tiers:
  - id: bench
    tools: [instant]
    budget_per_seat_month: 1000000000
YAML
    [ -z "$tier_line" ] || echo "    $tier_line"
    cat <<YAML
personas:
  - id: bench
    headcount: 1
    tier: bench
    workflows: [{ id: w, share: 1.0, floor: 0.5 }]
YAML
  } >"$dir/proximity.yaml"
}
