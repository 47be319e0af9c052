#!/usr/bin/env bash
# Epoch times of gpu-mlp's CPU engine against PyTorch on this machine (see compare_pytorch.py).
#
#   scripts/compare-pytorch.sh [--data DIR] [--threads N] [--epochs N] [--batches 32,256,1024]
#
# Builds gpu-mlp (release) and installs PyTorch from PyPI into a virtual environment
# (default target/pytorch-venv; set PYTORCH_VENV to move it, TORCH_SPEC to pick another
# version). PyPI has no CPU-only PyTorch wheel for Linux x86_64: the install pulls PyTorch's
# CUDA libraries too, about 3.3 GB to download and 5.4 GB on disk, of which only the CPU part
# runs here. MNIST is read from --data (default ../shared/data/mnist).
#
# PyTorch's OpenMP threads spin while they wait by default; on a machine shared with other
# work that made its 2-thread steps 10-40x slower than its 1-thread ones, so the script sets
# OMP_WAIT_POLICY=PASSIVE unless it is set already. Both engines run on 1 and 2 threads.
set -euo pipefail
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${PYTORCH_VENV:-$root/target/pytorch-venv}"
torch_spec="${TORCH_SPEC:-torch==2.15.0}"

data="../shared/data/mnist"
args=()
while (($#)); do
    case "$1" in
        --data) data="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done

cargo build --release --quiet
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
    "$venv/bin/pip" install --quiet "$torch_spec" numpy
fi
exec "$venv/bin/python" "$root/scripts/compare_pytorch.py" \
    --data "$data" --gpu-mlp "$root/target/release/gpu-mlp" "${args[@]}"
