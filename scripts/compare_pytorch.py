"""Epoch times of gpu-mlp's CPU engine and PyTorch on the same machine, data and settings.

Trains the three tutorial networks on MNIST with Adam (lr 1e-3, epsilon 1e-7 as Keras), a
shuffled pass over all 60,000 training images per epoch, at each batch size, with PyTorch and
with `gpu-mlp train --backend cpu`, each on 1 thread and on --threads threads, and prints the
median seconds per epoch of each and the ratio of the faster PyTorch figure to the faster
gpu-mlp one (on a machine shared with other work, fewer threads can be faster). Run it
through scripts/compare-pytorch.sh, which builds gpu-mlp and installs PyTorch.
"""

import argparse
import gzip
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

NETWORKS = [
    # (name, hidden widths, dropout after each hidden layer)
    ("784-128-10, dropout 0.2 (quickstart)", [128], 0.2),
    ("784-50-50-10", [50, 50], 0.0),
    ("784-128-128-128-10", [128, 128, 128], 0.0),
]


def read_idx(path):
    """An IDX file (gzipped or raw) as a numpy array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(folder, stem):
    for name in (stem + ".gz", stem):
        if (folder / name).exists():
            return folder / name
    raise SystemExit(f"{folder}: no {stem}[.gz]")


def load_mnist(folder):
    x = read_idx(find(folder, "train-images-idx3-ubyte"))
    y = read_idx(find(folder, "train-labels-idx1-ubyte"))
    return (
        torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0),
        torch.from_numpy(y.astype(np.int64)),
    )


def torch_network(hidden, dropout):
    layers, width = [], 784
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        if dropout > 0:
            layers.append(torch.nn.Dropout(dropout))
        width = h
    layers.append(torch.nn.Linear(width, 10))
    return torch.nn.Sequential(*layers)


def torch_epochs(x, y, hidden, dropout, batch, epochs, seed):
    """Seconds of each whole epoch (shuffle, every batch's forward, backward and Adam step)."""
    torch.manual_seed(seed)
    model = torch_network(hidden, dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def gpu_mlp_epochs(binary, data, hidden, dropout, batch, epochs, threads, seed):
    """Seconds of each epoch as `gpu-mlp train --backend cpu` reports them."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "metrics.jsonl"
        command = [
            str(binary), "train", "--backend", "cpu", "--offline", "--data", str(data),
            "--hidden", ",".join(map(str, hidden)), "--dropout", str(dropout),
            "--batch-size", str(batch), "--epochs", str(epochs), "--seed", str(seed),
            "--adam-epsilon", "1e-7", "--metrics-out", str(metrics),
        ]
        env = dict(os.environ, GPU_MLP_CPU_THREADS=str(threads))
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    return [line["seconds"] for line in lines if "epoch" in line]


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with MNIST's IDX files")
    parser.add_argument("--gpu-mlp", type=Path, required=True, help="the gpu-mlp binary")
    parser.add_argument("--threads", type=int, default=2, help="threads besides 1")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (median taken)")
    parser.add_argument("--batches", default="32,256,1024")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    x, y = load_mnist(args.data)
    thread_counts = sorted({1, args.threads})
    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} hardware threads; PyTorch {torch.__version__} "
        f"(OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}); "
        f"MNIST {len(x)} training images; median of {args.epochs} epochs; seconds per epoch"
    )
    print()
    header = ["network", "batch"]
    header += [f"PyTorch {t}T" for t in thread_counts]
    header += [f"gpu-mlp {t}T" for t in thread_counts]
    header.append("PyTorch ÷ gpu-mlp (faster of each)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, hidden, dropout in NETWORKS:
        for batch in [int(b) for b in args.batches.split(",")]:
            theirs, ours = [], []
            for threads in thread_counts:
                torch.set_num_threads(threads)
                theirs.append(
                    statistics.median(
                        torch_epochs(x, y, hidden, dropout, batch, args.epochs, args.seed)
                    )
                )
            for threads in thread_counts:
                ours.append(
                    statistics.median(
                        gpu_mlp_epochs(
                            args.gpu_mlp, args.data, hidden, dropout, batch, args.epochs,
                            threads, args.seed,
                        )
                    )
                )
            cells = [name, str(batch)]
            cells += [f"{t:.3f}" for t in theirs + ours]
            cells.append(f"{min(theirs) / min(ours):.1f}x")
            print("| " + " | ".join(cells) + " |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
