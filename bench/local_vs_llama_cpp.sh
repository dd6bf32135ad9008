#!/usr/bin/env bash
# Prompt and generation speed of Proximity's `local` provider engine against the same GGUF
# run by llama.cpp through the PyPI package llama-cpp-python, on the same machine, in one go.
# Installs llama-cpp-python (it compiles llama.cpp: ~8 minutes on 2 cores) into
# bench/.deps on first use. Usage: bench/local_vs_llama_cpp.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"
export PROXIMITY_LOCAL_THREADS="${PROXIMITY_LOCAL_THREADS:-1}"
deps=bench/.deps
if ! PYTHONPATH="$deps" python3 -c "import llama_cpp" 2>/dev/null; then
  python3 -m pip install --target "$deps" llama-cpp-python
fi
cargo build --release -q -p proximity-local --bin proximity-local-bench
echo "== proximity local engine (threads $PROXIMITY_LOCAL_THREADS)"
out=$(target/release/proximity-local-bench "${PROXIMITY_MODEL_PATH:-}" "$rounds")
echo "$out"
model=$(echo "$out" | sed -n 's/^file: *//p')
echo "== llama-cpp-python, same file (threads $PROXIMITY_LOCAL_THREADS)"
PYTHONPATH="$deps" python3 bench/llama_cpp_bench.py "$model" "$rounds"
