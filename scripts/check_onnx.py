"""gpu-mlp's ONNX export checked by runtimes no one here wrote (see docs/export.md).

For each model: `gpu-mlp export` writes the ONNX file, `onnx.checker.check_model(full_check=True)`
accepts it, and onnxruntime (CPU provider) on the raw test samples gives, for every sample, the
class and (within 1e-5) the probabilities that `gpu-mlp predict --json` gives on the CPU engine.

  1. MNIST (IDX files, `uint8 [N, 28, 28]`): all 10,000 test images, read here from the IDX
     files with numpy; the accuracy also matches `gpu-mlp eval`'s; and the speed of both on
     them, side by side (images per second).
  2. A float table in an .npz (`float32 [N, F]`, standardised in the graph, one constant
     column), made here with numpy.

The models are trained by the gpu-mlp binary given (CPU engine) unless --mnist-model names one.
Prints `onnx-check: N passed, 0 failed` at the end; exits 1 at the first difference.
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-5


def run(cmd):
    """Runs a command; its standard output, or exit with its error."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"onnx-check: {' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def read_idx(path):
    """An IDX file (gzipped or not) as a numpy array: big-endian dims, then u8 values."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def idx_file(folder, stem):
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    sys.exit(f"onnx-check: {stem} not found in {folder}")


def export_and_check(gpu_mlp, model, onnx_path):
    """Exports `model`, has the checker accept it, and opens an onnxruntime session on it."""
    print(run([gpu_mlp, "export", "--model", model, "--onnx", onnx_path]).strip())
    onnx.checker.check_model(onnx_path, full_check=True)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if names != ["probabilities", "logits"]:
        sys.exit(f"onnx-check: outputs {names}")
    return session


def predict_json(gpu_mlp, model, count):
    """`gpu-mlp predict --json` on test samples 0..count: (probabilities, classes, seconds)."""
    indices = ",".join(str(i) for i in range(count))
    start = time.perf_counter()
    out = run([gpu_mlp, "predict", "--model", model, "--index", indices, "--top", "1", "--json"])
    seconds = time.perf_counter() - start
    predictions = json.loads(out)
    probabilities = np.array([p["probabilities"] for p in predictions], dtype=np.float64)
    classes = np.array([p["top"][0]["class"] for p in predictions])
    return probabilities, classes, seconds


def compare(what, onnx_probabilities, onnx_logits, reference, classes):
    """Fails unless onnxruntime's classes and probabilities are gpu-mlp's."""
    ours = np.argmax(onnx_probabilities, axis=1)
    by_logits = np.argmax(onnx_logits, axis=1)
    differ = np.nonzero((ours != classes) | (by_logits != classes))[0]
    if len(differ):
        i = differ[0]
        sys.exit(
            f"onnx-check: {what}: {len(differ)} samples classed otherwise, first test[{i}]: "
            f"onnxruntime {ours[i]}, gpu-mlp {classes[i]}"
        )
    diff = np.abs(onnx_probabilities.astype(np.float64) - reference)
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    if diff[worst] > TOLERANCE:
        sys.exit(
            f"onnx-check: {what}: probability {worst[1]} of test[{worst[0]}] is "
            f"{onnx_probabilities[worst]} in onnxruntime, {reference[worst]} in gpu-mlp"
        )
    print(
        f"onnx-check: {what}: {len(classes)} samples, same classes, probabilities within "
        f"{diff.max():.2e} (bound {TOLERANCE:g})"
    )


def check_mnist(args):
    model = args.mnist_model or os.path.join(args.work, "mnist.safetensors")
    if not args.mnist_model:
        run([args.gpu_mlp, "train", "--data", args.mnist, "--dataset", "mnist",
             "--backend", "cpu", "--epochs", "1", "--seed", "1", "--save", model])
    session = export_and_check(args.gpu_mlp, model, os.path.join(args.work, "mnist.onnx"))
    images = read_idx(idx_file(args.mnist, "t10k-images-idx3-ubyte"))
    labels = read_idx(idx_file(args.mnist, "t10k-labels-idx1-ubyte"))

    start = time.perf_counter()
    probabilities, logits = session.run(None, {"input": images})
    ort_batch = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(len(images)):
        session.run(None, {"input": images[i : i + 1]})
    ort_single = time.perf_counter() - start

    reference, classes, predict_seconds = predict_json(args.gpu_mlp, model, len(images))
    compare("mnist", probabilities, logits, reference, classes)
    eval_out = run([args.gpu_mlp, "eval", "--model", model, "--data", args.mnist,
                    "--dataset", "mnist", "--backend", "cpu"])
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", eval_out).group(1))
    ours = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    if abs(ours - accuracy) > 5e-5:
        sys.exit(f"onnx-check: onnxruntime's accuracy {ours} is not eval's {accuracy}")
    n = len(images)
    print(
        f"onnx-check: speed on {n} MNIST test images: onnxruntime {ort.__version__} "
        f"{n / ort_batch:,.0f} images/s in one batch, {n / ort_single:,.0f} images/s one at "
        f"a time; gpu-mlp predict --index --json {n / predict_seconds:,.0f} images/s "
        f"({predict_seconds:.2f} s for the whole command)"
    )


def check_npz_table(args):
    rng = np.random.default_rng(11)

    def rows(n):
        y = np.arange(n) % 4
        x = rng.normal(size=(n, 7)).astype(np.float32)
        x[:, 0] += 3 * y
        x[:, 1] = 500 + 200 * y + 50 * x[:, 1]
        x[:, 2] = 0.01 * (y + x[:, 2])
        x[:, 3] = -2.5  # constant: standard deviation 0
        return x.astype(np.float32), y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = rows(800), rows(200)
    data = os.path.join(args.work, "table.npz")
    np.savez(data, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    model = os.path.join(args.work, "table.safetensors")
    run([args.gpu_mlp, "train", "--data", data, "--backend", "cpu", "--hidden", "32,16",
         "--epochs", "15", "--seed", "2", "--save", model])
    session = export_and_check(args.gpu_mlp, model, os.path.join(args.work, "table.onnx"))
    probabilities, logits = session.run(None, {"input": x_test})
    reference, classes, _ = predict_json(args.gpu_mlp, model, len(x_test))
    compare("npz float table", probabilities, logits, reference, classes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu-mlp", default="target/release/gpu-mlp")
    parser.add_argument("--mnist", default="../shared/data/mnist", help="the IDX folder")
    parser.add_argument("--mnist-model", help="an MNIST model to check instead of training one")
    parser.add_argument("--work", default="target/onnx-check", help="folder for the files made")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    print(f"onnx-check: onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    check_mnist(args)
    check_npz_table(args)
    print("onnx-check: 2 passed, 0 failed")


if __name__ == "__main__":
    main()
