#!/usr/bin/env python3
"""Adds one section to BENCHMARKS.md from a scripts/gpu-report.sh run folder: the GPU named,
what verify said, the bench's peak and tutorial throughputs, the sweep's scaling, and the
tutorial trainings' accuracy and epoch times. Standard library only.

    python3 scripts/gpu-report.py REPORT_DIR BENCHMARKS.md
"""
import json
import pathlib
import sys
import time


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def lines(path):
    try:
        return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    except (OSError, ValueError):
        return []


def num(x):
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.1f}"
    return f"{x:.2f}"


def figures(record, group):
    return [f for f in (record or {}).get("figures", []) if f.get("group") == group]


def section(out):
    verify = load(out / "verify.json")
    bench = load(out / "bench.json")
    sweep = load(out / "sweep.json")
    adapter = next((r["adapter"] for r in (verify, bench, sweep) if r and r.get("adapter")), {})
    build = next((r["build"] for r in (verify, bench, sweep) if r and r.get("build")), {})
    name = adapter.get("name", "unknown adapter")
    driver = " ".join(x for x in (adapter.get("driver", ""), adapter.get("driver_info", "")) if x)
    quick = bool(bench and bench.get("quick"))
    rows = []
    if verify:
        verdict = "passed" if verify.get("passed") else f"**FAILED** ({verify.get('failed')} checks)"
        rows.append(("verify", f"{verdict}, {verify.get('checks')} checks in {verify.get('seconds', 0):.1f} s"))
    else:
        rows.append(("verify", "no record (see verify.txt)"))
    matmul = figures(bench, "matmul")
    if matmul:
        best = max(matmul, key=lambda f: f["median"])
        rows.append(("best matmul (bench)", f"{num(best['median'])} GFLOP/s: {best['name']}"))
    for f in figures(bench, "train"):
        if f["name"].endswith(": throughput") or f["name"].endswith(": outside kernels"):
            rows.append((f["name"], f"{num(f['median'])} {f['unit']}"))
    for f in figures(bench, "startup"):
        if f["name"].endswith("device to first training step"):
            rows.append((f["name"], f"{num(f['median'])} s"))
    points = figures(sweep, "sweep")
    peak = next((f for f in points if f["name"].startswith("sweep peak")), None)
    if peak:
        rows.append((peak["name"], f"{num(peak['median'])} GFLOP/s"))
        achieved = [f for f in points if f["name"].endswith(": achieved")]
        if achieved:
            best = max(achieved, key=lambda f: f["median"])
            rows.append(("sweep: best point", f"{num(best['median'])} GFLOP/s ({best.get('note', '')}): {best['name'][:-10]}"))
        for f in points:
            if f["name"].endswith(": throughput") and (", batch 32:" in f["name"] or ", batch 4096:" in f["name"]):
                rows.append((f["name"], f"{num(f['median'])} samples/s"))
    for run, label in (("train-quickstart", "MNIST 784-128-10, dropout 0.2"),
                       ("train-deep", "MNIST 784-128-128-128-10"),
                       ("train-fashion", "Fashion-MNIST 784-50-50-10")):
        metrics = lines(out / f"{run}.jsonl")
        epochs = [m for m in metrics if "epoch" in m]
        test = next((m for m in metrics if "test_accuracy" in m), None)
        if not epochs or not test:
            continue
        secs = [m["seconds"] for m in epochs]
        rows.append((f"train {label}, batch 32, {len(epochs)} epochs",
                     f"{100 * test['test_accuracy']:.2f}% test accuracy; {min(secs):.2f}-{max(secs):.2f} s per epoch"))
    day = time.strftime("%Y-%m-%d", time.gmtime())
    head = f"## {name} ({adapter.get('backend', '?')}, {driver or 'driver unknown'}), {day}"
    text = [head, "",
            f"gpu-mlp {build.get('version', '?')} ({build.get('git_commit', '?')[:12]}), "
            f"`scripts/gpu-report.sh`{' with QUICK=1' if quick else ''}; "
            f"device type {adapter.get('device_type', '?')}, vendor {adapter.get('vendor', '?') or '?'}.", "",
            "| what | measured |", "|---|---|"]
    text += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(text) + "\n"


def main():
    out, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    new = section(out)
    old = target.read_text() if target.exists() else (
        "# gpu-mlp on real GPUs\n\nFigures measured by `scripts/gpu-report.sh` (verify, bench, "
        "the scaling sweep and the tutorial trainings), newest first, each with the GPU and "
        "driver named. Compare GPUs with `gpu-mlp bench --compare` on the saved records.\n\n")
    head, sep, rest = old.partition("\n## ")
    body = head.rstrip("\n") + "\n\n" + new + ("\n## " + rest if sep else "")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(body)
    tmp.replace(target)
    print(new)


if __name__ == "__main__":
    main()
