#!/usr/bin/env python3
"""Side by side on MNIST (a benchmark, not a test): gpu_mlp.MLPClassifier against
scikit-learn's MLPClassifier with the same settings (one hidden layer of 128, batch 32, 5
epochs of Adam, no L2 penalty), the `gpu-mlp train` command line on the same network, and the
Keras quickstart through gpu_mlp.keras (plus TensorFlow/Keras and PyTorch when installed).
Each contender runs in its own process so its peak memory (max RSS) is its own.

    GPU_MLP_DATA=../shared/data python scripts/bench_python.py [--backend cpu] [--cli PATH]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

EPOCHS = 5


def mnist_flat():
    import numpy as np

    import gpu_mlp

    (x_train, y_train), (x_test, y_test) = gpu_mlp.keras.datasets.mnist.load_data()
    flat = lambda x: x.reshape(len(x), -1) / np.float32(255)  # noqa: E731 (float32 already)
    return flat(x_train), y_train, flat(x_test), y_test


def run_estimator(kind, backend):
    import warnings

    x_train, y_train, x_test, y_test = mnist_flat()
    settings = dict(hidden_layer_sizes=(128,), batch_size=32, max_iter=EPOCHS, alpha=0.0,
                    random_state=0)
    if kind == "gpu_mlp":
        from gpu_mlp import MLPClassifier

        est = MLPClassifier(backend=backend, **settings)
    else:
        from sklearn.neural_network import MLPClassifier

        est = MLPClassifier(**settings)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(x_train, y_train)
    seconds = time.perf_counter() - start
    result = {"seconds_per_epoch": seconds / est.n_iter_, "test_accuracy": est.score(x_test, y_test)}
    if kind == "gpu_mlp":
        # The loop's seconds of the epochs' steps alone, as `gpu-mlp train` reports its own.
        result["loop_seconds_per_epoch"] = sum(est._epoch_seconds) / len(est._epoch_seconds)
    return result


def run_keras(kind, backend):
    import numpy as np

    if kind == "gpu_mlp":
        import gpu_mlp as tf

        tf.keras.models.use_backend(backend)
    else:
        import tensorflow as tf
    (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
    x_train, x_test = x_train / 255.0, x_test / 255.0
    model = tf.keras.models.Sequential([
        tf.keras.layers.Flatten(input_shape=(28, 28)),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dropout(0.2),
        tf.keras.layers.Dense(10),
    ])
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=EPOCHS, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    return {"seconds_per_epoch": seconds / EPOCHS, "test_accuracy": float(np.float64(accuracy))}


def run_torch(_kind, _backend):
    import numpy as np
    import torch

    x_train, y_train, x_test, y_test = mnist_flat()
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    xs, ys = torch.from_numpy(x_train), torch.from_numpy(y_train.astype(np.int64))
    start = time.perf_counter()
    for _ in range(EPOCHS):
        order = torch.randperm(len(xs))
        for i in range(0, len(xs), 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx]).backward()
            opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x_test)).argmax(1).numpy()
    return {"seconds_per_epoch": seconds / EPOCHS, "test_accuracy": float((pred == y_test).mean())}


def run_cli(cli, backend):
    """`gpu-mlp train` on the same network: its own training seconds per epoch."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = os.path.join(tmp, "summary.json")
        subprocess.run([cli, "train", "--dataset", "mnist", "--backend", backend, "--hidden",
                        "128", "--dropout", "0", "--epochs", str(EPOCHS), "--batch-size", "32",
                        "--adam-epsilon", "1e-8", "--summary-json", summary],
                       check=True, stdout=subprocess.DEVNULL)
        with open(summary) as f:
            s = json.load(f)
    return {"seconds_per_epoch": s["train_seconds"] / s["epochs_completed"],
            "test_accuracy": s["test"]["accuracy"]}


CONTENDERS = {
    "estimator": run_estimator,
    "keras": run_keras,
    "torch": run_torch,
}


def child(args):
    result = CONTENDERS[args.child](args.kind, args.backend)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(what, kind, backend):
    cmd = [sys.executable, __file__, "--child", what, "--kind", kind, "--backend", backend]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return None, done.stderr.strip().splitlines()[-1:] or ["failed"]
    return json.loads(done.stdout.strip().splitlines()[-1]), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--cli", default=os.path.join(os.path.dirname(__file__), "..", "target",
                                                      "release", "gpu-mlp"))
    parser.add_argument("--child")
    parser.add_argument("--kind")
    parser.add_argument("--skip", action="append", default=[],
                        help="leave out contenders whose label contains this (e.g. sklearn)")
    args = parser.parse_args()
    if args.child:
        return child(args)
    rows = [
        ("gpu_mlp.MLPClassifier", "estimator", "gpu_mlp"),
        ("sklearn MLPClassifier", "estimator", "sklearn"),
        ("gpu_mlp.keras quickstart", "keras", "gpu_mlp"),
        ("tensorflow.keras quickstart", "keras", "tensorflow"),
        ("pytorch quickstart net", "torch", "torch"),
    ]
    print(f"MNIST, 784-128-10, batch 32, {EPOCHS} epochs, backend {args.backend}")
    print(f"{'contender':<30} {'s/epoch':>8} {'test acc':>9} {'peak MiB':>9}")
    for label, what, kind in rows:
        if any(skip in label for skip in args.skip):
            continue
        result, error = measure(what, kind, args.backend)
        if result is None:
            print(f"{label:<30} not run: {error[0][:70]}")
            continue
        loop = result.get("loop_seconds_per_epoch")
        print(f"{label:<30} {result['seconds_per_epoch']:>8.2f} {result['test_accuracy']:>9.4f} "
              f"{result['peak_rss_mib']:>9.0f}" + (f"   (loop {loop:.2f} s/epoch)" if loop else ""))
    if os.path.exists(args.cli):
        start = time.perf_counter()
        result = run_cli(args.cli, args.backend)
        print(f"{'gpu-mlp train (CLI)':<30} {result['seconds_per_epoch']:>8.2f} "
              f"{result['test_accuracy']:>9.4f}   (wall {time.perf_counter() - start:.1f} s)")

if __name__ == "__main__":
    main()
