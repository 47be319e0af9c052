#!/usr/bin/env bash
# On a machine with a real GPU: build gpu-mlp, verify the adapter, benchmark it (the full set and
# the scaling sweep), train the three tutorial networks on it, and add the figures, with the GPU
# named, to BENCHMARKS.md. A few minutes on a discrete GPU.
#
#   scripts/gpu-report.sh [MNIST_DIR] [FASHION_MNIST_DIR]
#
# Defaults: ../shared/data/mnist and /usr/share/datasets/fashion-mnist (Debian's
# dataset-fashion-mnist); a missing Fashion-MNIST folder skips that training. Environment:
#   BACKEND=vulkan|metal|dx12|gl   the graphics API (default vulkan); ADAPTER=NAME|INDEX picks one
#   QUICK=1                        bench --quick, the quick sweep, 1 epoch per training (a dry run)
#   REPORT_DIR=DIR                 where the logs, JSON records and the plot go (default gpu-report)
#   GPU_MLP_BIN=PATH               a gpu-mlp binary to use instead of building one
# Exit status: 0 when every step ran and verify passed; the report is written either way.
set -uo pipefail
cd "$(dirname "$0")/.."

mnist=${1:-../shared/data/mnist}
fashion=${2:-/usr/share/datasets/fashion-mnist}
backend=${BACKEND:-vulkan}
out=${REPORT_DIR:-gpu-report}
bin=${GPU_MLP_BIN:-target/release/gpu-mlp}
engine=(--backend "$backend")
[ -n "${ADAPTER:-}" ] && engine+=(--adapter "$ADAPTER")
quick=()
epochs=()
if [ "${QUICK:-0}" = 1 ]; then quick=(--quick); epochs=(--epochs 1); fi

if [ -z "${GPU_MLP_BIN:-}" ]; then
    cargo build --release --quiet || exit 1
fi
mkdir -p "$out"
status=0
step() { # step NAME COMMAND...: runs one step with its output in $out/NAME.txt
    local name=$1
    shift
    echo "== $name: $*"
    "$@" 2>&1 | tee "$out/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "$rc" >"$out/$name.status"
    [ "$rc" = 0 ] || status=1
}

step devices "$bin" devices "${engine[@]}" --json
step verify "$bin" verify "${engine[@]}" --json "$out/verify.json"
step bench "$bin" bench "${engine[@]}" "${quick[@]}" --json "$out/bench.json"
step sweep "$bin" bench "${engine[@]}" --sweep "${quick[@]}" --json "$out/sweep.json" --plot "$out/sweep.png"
step train-quickstart "$bin" train "${engine[@]}" --data "$mnist" "${epochs[@]}" \
    --metrics-out "$out/train-quickstart.jsonl"
step train-deep "$bin" train "${engine[@]}" --data "$mnist" --hidden 128,128,128 "${epochs[@]}" \
    --metrics-out "$out/train-deep.jsonl"
if [ -d "$fashion" ]; then
    step train-fashion "$bin" train "${engine[@]}" --data "$fashion" --hidden 50,50 "${epochs[@]}" \
        --metrics-out "$out/train-fashion.jsonl"
else
    echo "== train-fashion: skipped, no Fashion-MNIST at $fashion"
fi

python3 scripts/gpu-report.py "$out" BENCHMARKS.md || status=1
echo "report: $out/, figures added to BENCHMARKS.md"
exit $status
