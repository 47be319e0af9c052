#!/usr/bin/env bash
# One Optuna worker: asks the study for a trial, writes its settings to a config file, runs
# `gpu-mlp train` on it and tells the study the trial's value (the final validation accuracy
# from the summary), or `pruned` for a diverged run, or `fail` for any other failure.
# Start as many workers as you like, on this machine or others, on the same storage.
#
# usage: optuna-worker.sh STORAGE STUDY TRIALS [gpu-mlp train flags...]
# needs: optuna (pip install optuna) and python3 on PATH; gpu-mlp on PATH or in $GPU_MLP.
set -euo pipefail
storage=$1 study=$2 trials=$3
shift 3
gpu_mlp=${GPU_MLP:-gpu-mlp}
space='{"lr": {"name": "FloatDistribution", "attributes": {"low": 1e-4, "high": 0.3, "log": true}}}'
field() { python3 -c "import json, sys; print(json.dumps(json.load(sys.stdin)$1))"; }

for _ in $(seq "$trials"); do
    trial=$(optuna ask --storage "$storage" --study-name "$study" --search-space "$space" 2>/dev/null)
    number=$(field '["number"]' <<<"$trial")
    field '["params"]' <<<"$trial" >"trial-$number.json"
    status=0
    "$gpu_mlp" train --config "trial-$number.json" --summary-json "summary-$number.json" "$@" \
        >"trial-$number.log" 2>&1 || status=$?
    case $status in
        0) tell=(--values "$(field '["final"]["val_accuracy"]' <"summary-$number.json")") ;;
        3) tell=(--state pruned) ;; # diverged: this learning rate is too high
        *) tell=(--state fail) ;;   # bad settings (2), an error (1), interrupted (130, 143), a crash
    esac
    optuna tell --storage "$storage" --study-name "$study" --trial-number "$number" "${tell[@]}" 2>/dev/null
    echo "trial $number: exit status $status, told ${tell[*]}"
done
